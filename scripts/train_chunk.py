"""Rule train_chunk: summarise one chunk's rows with a pool of `threads` worker processes."""

from poolpipe.core import chunk_job, run_script
from poolpipe.train import Columns, train_chunks, train_workers


def main(smk):
    columns = Columns.read(smk.input.columns)
    workers = []

    def work(chunk, processes, serial, _):
        workers.append(train_workers([chunk], processes))
        (part,) = train_chunks(
            [chunk], columns, processes=processes, strict=smk.params.strict, serial=serial
        )
        return part

    chunk_job(smk, "train", work, lambda part: (part.rows, part.bytes), used=lambda _: workers[0])


run_script(snakemake, main)  # noqa: F821
