"""Rule merge_train: merge the chunks' summaries into results/train/<dataset>/model.json and
its summary.txt (robust errors or refinement: a second pass in a pool of `threads` processes)."""

from poolpipe.core import (
    Stopwatch,
    checked_manifest,
    job_processes,
    run_script,
    write_atomic,
    write_job_timing,
    write_json,
)
from poolpipe.train import Columns, Options, TrainPart, model_json, summary_text


def main(smk):
    p = smk.params
    ranges = checked_manifest(
        smk.input.manifest, dataset=smk.wildcards.dataset, chunks=len(smk.input.parts)
    )
    columns = Columns.read(smk.input.columns)
    with Stopwatch() as watch:
        parts = [TrainPart.read(path, columns.fit_width) for path in smk.input.parts]
        model = model_json(
            parts,
            columns,
            strict=p.strict,
            compare_full_fit=p.compare_full_fit,
            full_fit_max_mb=p.full_fit_max_mb,
            options=Options(alpha=p.alpha, ridge=p.ridge, robust=p.robust, intercept=p.intercept),
            ranges=ranges,
            processes=job_processes(smk),
        )
        checked_manifest(smk.input.manifest, dataset=smk.wildcards.dataset)  # unchanged meanwhile
        write_json(smk.output.model, model)
        write_atomic(smk.output.summary, summary_text(model))
    write_job_timing(smk, "train", watch, items=model["rows"], size=model["bytes"])


run_script(snakemake, main)  # noqa: F821
