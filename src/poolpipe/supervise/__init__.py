"""The supervise stage: real programs and worker loops under a supervisor with heartbeats."""

from poolpipe.supervise.loops import RECIPE_LOOPS, SupervisorSettings, loops_from_config, parse_loop
from poolpipe.supervise.program import (
    Program,
    check_paths,
    parse_program,
    program_log,
    programs_from_config,
    with_heartbeats,
)
from poolpipe.supervise.report import check, ticks_tsv, write_ticks
from poolpipe.supervise.supervisor import check_supervised, supervise

__all__ = [
    "RECIPE_LOOPS",
    "Program",
    "SupervisorSettings",
    "check",
    "check_paths",
    "check_supervised",
    "loops_from_config",
    "parse_loop",
    "parse_program",
    "program_log",
    "programs_from_config",
    "supervise",
    "ticks_tsv",
    "with_heartbeats",
    "write_ticks",
]
