"""What every stage shares: line-aligned chunks, the one pool runner, atomic outputs, TSV,
timing records, the ordered merge of partial results, the schema's defaults, and the glue to
Snakemake's scripts."""

from poolpipe.core import tsv
from poolpipe.core.chunks import (
    BLOCK_SIZE,
    Block,
    Range,
    checked_manifest,
    header_end,
    iter_blocks,
    lines_before,
    pieces_for,
    read_manifest,
    read_manifest_identity,
    split_file,
    split_range,
    write_manifest,
)
from poolpipe.core.datasets import Dataset, read_datasets
from poolpipe.core.defaults import USER_AGENT, schema_defaults
from poolpipe.core.identity import InputIdentity, check_identity, identify
from poolpipe.core.inputs import check_input_file, check_input_folder
from poolpipe.core.outputs import (
    check_output_path,
    dumps_json,
    open_atomic,
    read_json,
    write_atomic,
    write_json,
)
from poolpipe.core.parts import merge_ordered
from poolpipe.core.pool import available_cpus, die_with_parent, pool_map, serial_map
from poolpipe.core.script import job_processes, run_script, write_job_timing
from poolpipe.core.timing import (
    Stopwatch,
    TimingRecord,
    read_record,
    timed_with_serial,
    write_record,
    write_timing,
)

__all__ = [
    "BLOCK_SIZE",
    "USER_AGENT",
    "Block",
    "Dataset",
    "InputIdentity",
    "Range",
    "Stopwatch",
    "TimingRecord",
    "available_cpus",
    "check_identity",
    "check_input_file",
    "check_input_folder",
    "check_output_path",
    "checked_manifest",
    "die_with_parent",
    "dumps_json",
    "header_end",
    "identify",
    "iter_blocks",
    "job_processes",
    "lines_before",
    "merge_ordered",
    "open_atomic",
    "pieces_for",
    "pool_map",
    "read_datasets",
    "read_json",
    "read_manifest",
    "read_manifest_identity",
    "read_record",
    "run_script",
    "schema_defaults",
    "serial_map",
    "split_file",
    "split_range",
    "timed_with_serial",
    "tsv",
    "write_atomic",
    "write_job_timing",
    "write_json",
    "write_manifest",
    "write_record",
    "write_timing",
]
