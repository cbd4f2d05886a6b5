"""Rule train_chunk: summarise one chunk's rows with a pool of `threads` worker processes."""

from poolpipe.chunks import read_manifest
from poolpipe.files import read_json, write_json
from poolpipe.smk import job_processes, run_script, write_timing
from poolpipe.table import Columns
from poolpipe.timing import Stopwatch
from poolpipe.train import train_chunks


def main(smk):
    chunk = read_manifest(smk.input.manifest)[int(smk.wildcards.chunk)]
    columns = Columns.from_json(read_json(smk.input.columns))
    processes = job_processes(smk)
    with Stopwatch() as watch:
        (part,) = train_chunks([chunk], columns, processes, smk.params.strict)
    serial_wall_s = None
    if smk.params.compare_serial:
        with Stopwatch() as serial:
            train_chunks([chunk], columns, processes, smk.params.strict, serial=True)
        serial_wall_s = serial.wall_s
    write_json(smk.output.part, part.to_json())
    write_timing(smk, "train", watch, part.rows, part.bytes, processes, serial_wall_s)


run_script(snakemake, main)  # noqa: F821
