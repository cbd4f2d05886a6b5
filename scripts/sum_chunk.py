"""Rule sum_chunk: sum one chunk's byte range with a pool of `threads` worker processes."""

from poolpipe.chunks import read_manifest
from poolpipe.files import write_json
from poolpipe.smk import job_processes, run_script, write_timing
from poolpipe.sumfile import sum_ranges
from poolpipe.timing import Stopwatch


def main(smk):
    chunk = read_manifest(smk.input.manifest)[int(smk.wildcards.chunk)]
    processes = job_processes(smk)
    with Stopwatch() as watch:
        part = sum_ranges([chunk], processes, smk.params.strict)
    serial_wall_s = None
    if smk.params.compare_serial:
        with Stopwatch() as serial:
            sum_ranges([chunk], processes, smk.params.strict, serial=True)
        serial_wall_s = serial.wall_s
    write_json(smk.output.part, part.to_json())
    write_timing(smk, "sum", watch, part.numbers, part.bytes, processes, serial_wall_s)


run_script(snakemake, main)  # noqa: F821
