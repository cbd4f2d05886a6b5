"""What every stage shares: line-aligned chunks, the one pool runner, atomic outputs, TSV,
timing records, the ordered merge of partial results, the schema's defaults, and the glue to
Snakemake's scripts.

Names load on first use (PEP 562), so a command imports only the modules it calls: `poolpipe
sum` starts without the dataset sheet's validator (jsonschema).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHERE = {
    "tsv": "",
    "BLOCK_SIZE": "chunks",
    "Block": "chunks",
    "Range": "chunks",
    "checked_manifest": "chunks",
    "header_end": "chunks",
    "iter_blocks": "chunks",
    "lines_before": "chunks",
    "pieces_for": "chunks",
    "read_manifest": "chunks",
    "read_manifest_identity": "chunks",
    "split_file": "chunks",
    "split_range": "chunks",
    "write_manifest": "chunks",
    "check_config": "configcheck",
    "Dataset": "datasets",
    "read_datasets": "datasets",
    "USER_AGENT": "defaults",
    "schema_defaults": "defaults",
    "InputIdentity": "identity",
    "check_identity": "identity",
    "content_hash": "identity",
    "identify": "identity",
    "check_input_file": "inputs",
    "check_text_file": "inputs",
    "check_input_folder": "inputs",
    "read_small_file": "inputs",
    "check_output_path": "outputs",
    "dumps_json": "outputs",
    "open_atomic": "outputs",
    "read_json": "outputs",
    "refuse_overlap": "outputs",
    "scratch_folder": "outputs",
    "write_atomic": "outputs",
    "write_json": "outputs",
    "merge_ordered": "chunks",
    "available_cpus": "cpu",
    "one_blas_thread_per_process": "cpu",
    "die_with_parent": "pool",
    "pool_map": "pool",
    "serial_map": "pool",
    "job_processes": "script",
    "run_script": "script",
    "chunk_job": "script",
    "split_job": "script",
    "write_job_timing": "script",
    "Stopwatch": "cpu",
    "TimingRecord": "timing",
    "read_record": "timing",
    "timed_with_serial": "timing",
    "write_record": "timing",
    "write_timing": "timing",
}
"""Each public name and the module of poolpipe.core it lives in ("" for a module itself)."""


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'poolpipe.core' has no attribute {name!r}")
    module = importlib.import_module(f"poolpipe.core.{_WHERE[name] or name}")
    value = module if not _WHERE[name] else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted(__all__)


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
    "check_config",
    "check_identity",
    "check_input_file",
    "check_input_folder",
    "check_output_path",
    "check_text_file",
    "checked_manifest",
    "chunk_job",
    "content_hash",
    "die_with_parent",
    "dumps_json",
    "header_end",
    "identify",
    "iter_blocks",
    "job_processes",
    "lines_before",
    "merge_ordered",
    "one_blas_thread_per_process",
    "open_atomic",
    "pieces_for",
    "pool_map",
    "read_datasets",
    "read_json",
    "read_manifest",
    "read_manifest_identity",
    "read_record",
    "read_small_file",
    "refuse_overlap",
    "run_script",
    "schema_defaults",
    "scratch_folder",
    "serial_map",
    "split_file",
    "split_job",
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
