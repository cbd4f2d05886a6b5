"""Rule split_train: choose the columns, cut the rows into line-aligned byte ranges."""

from poolpipe.core import run_script, split_job
from poolpipe.train import choose_columns


def main(smk):
    p = smk.params

    def look(path):
        columns = choose_columns(
            path, p.target, features=p.features, delimiter=p.delimiter, weights=p.weights
        )
        return {smk.output.columns: columns.to_json()}, None

    split_job(smk, "train", look, skip_header=True)


run_script(snakemake, main)  # noqa: F821
