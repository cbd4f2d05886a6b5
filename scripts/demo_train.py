"""Rule demo_train: write the deterministic demo training CSV."""

from poolpipe.core import Stopwatch, run_script, write_job_timing
from poolpipe.train import write_train


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        size = write_train(
            smk.output.csv,
            p.rows,
            seed=p.seed,
            coef=p.coef,
            intercept=p.intercept,
            noise=p.noise,
            bad_rows=p.bad_rows,
        )
    write_job_timing(smk, "data", watch, items=p.rows, size=size)


run_script(snakemake, main)  # noqa: F821
