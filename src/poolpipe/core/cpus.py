"""The CPUs a process may use, and the one BLAS thread each pool process gets.

Kept apart from the pool runner so that a command reads them without importing
multiprocessing.
"""

from __future__ import annotations

import os

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables that size a BLAS library's thread pool when it loads."""


def one_blas_thread_per_process() -> None:
    """Ask BLAS for one thread in this process and its children, unless the user chose: call
    before numpy loads. A pool's processes are the parallelism; BLAS threads made at load
    spin beside the workers (a train chunk's pool ran slower than one process with them)."""
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which SLURM and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
