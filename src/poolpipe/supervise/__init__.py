"""The supervise stage: long-running worker loops under a supervisor with heartbeats."""

from poolpipe.supervise.loops import SEED_LOOPS, SupervisorSettings, loops_from_config, parse_loop
from poolpipe.supervise.report import check, ticks_tsv, write_ticks
from poolpipe.supervise.supervisor import supervise

__all__ = [
    "SEED_LOOPS",
    "SupervisorSettings",
    "check",
    "loops_from_config",
    "parse_loop",
    "supervise",
    "ticks_tsv",
    "write_ticks",
]
