"""CPUs and CPU time: the CPUs a process may use, one BLAS thread for each of a pool's
processes, and the stopwatch (wall and CPU seconds, and the load of the rest of the machine
meanwhile). Kept apart from core.script and core.timing so a command starts without logging
and without the timing records."""

from __future__ import annotations

import os
import resource
import time

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


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def machine_busy_s(stat: str | os.PathLike[str] = "/proc/stat") -> float | None:
    """CPU seconds every process of the machine has used since boot (/proc/stat), or None."""
    try:
        with open(stat, encoding="ascii") as fh:
            head = fh.readline().split()
    except OSError:
        return None
    if not head or head[0] != "cpu":
        return None
    ticks = [int(v) for v in head[1:]]
    idle = sum(ticks[3:5])  # idle and iowait
    guest = sum(ticks[8:10])  # already counted in user and nice
    return (sum(ticks) - idle - guest) * _TICK_S


LOAD_TICKS = 4
"""The fewest clock ticks a timing must last for its load: /proc/stat counts whole ticks, so a
shorter one's load could be off by over a quarter of a core (a 3 ms job read 2.5 cores on 2)."""


def others_load(busy_s: float | None, own_cpu_s: float, wall_s: float) -> float | None:
    """Cores other processes kept busy on average: the machine's CPU time less ours, per second;
    None when not measured or too short to measure."""
    if busy_s is None or wall_s < LOAD_TICKS * _TICK_S:
        return None
    return max(0.0, busy_s - own_cpu_s) / wall_s


class Stopwatch:
    """Wall and CPU seconds (this process and its reaped children) of a `with` block, when it
    ran (UTC), and how many cores other processes of the machine kept busy meanwhile. A plain
    class: a context manager, not a record (making a dataclass costs every command's start)."""

    def __init__(self) -> None:
        self._wall = 0.0
        self._cpu = 0.0
        self._busy: float | None = None
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.started: float | None = None
        self.ended: float | None = None
        self.load: float | None = None
        self.serial: Stopwatch | None = None
        """The same work timed again in one process (timed_with_serial), when it was."""

    @staticmethod
    def _cpu_now() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def __enter__(self) -> Stopwatch:
        self.started = time.time()
        self._busy = machine_busy_s()
        self._wall = time.perf_counter()
        self._cpu = self._cpu_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = self._cpu_now() - self._cpu
        busy = machine_busy_s()
        self.ended = time.time()
        spent = None if busy is None or self._busy is None else busy - self._busy
        self.load = others_load(spent, self.cpu_s, self.wall_s)
