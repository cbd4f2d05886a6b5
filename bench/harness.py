"""What every benchmark script shares: one fresh interpreter per measured run, that run's CPU
time and peak memory, how busy the rest of the machine was meanwhile, and the machine line.

The scripts run as `python bench/NAME.py`, so this folder is on sys.path and they import this
module as `harness`.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from poolpipe.report import describe

RELAY = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"
"""Starts a measured run from a small process: a child exec'd straight from the benchmark would
report the benchmark's peak RSS as its own (Linux carries it over through fork and exec)."""

QUIET_SHARE = 0.10
"""Share of the machine's CPU that other processes may use for it to count as quiet."""

CONTENTION_WARN = 0.05
"""Share of the machine's CPU used by other processes above which timings are flagged."""


def log(text: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(text, file=sys.stderr, flush=True)


def relay_command(script: str, *args: str) -> list[str]:
    """The command that runs `python script args` in a fresh interpreter behind the relay."""
    return [sys.executable, "-c", RELAY, sys.executable, script, *args]


def run_fresh(label: str, script: str, *args: str) -> dict[str, Any]:
    """Run a script's measured child and read back the JSON on its last line of output."""
    out = subprocess.run(relay_command(script, *args), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{label} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def preload(modules: tuple[str, ...]) -> None:
    """Import what a method uses before its clock starts: importing is not the work measured."""
    for name in modules:
        importlib.import_module(name)


def usage() -> dict[str, float]:
    """CPU seconds and peak RSS (KiB, largest single process) of this process and its children,
    as a measured child reports them."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in (own, children))
    return {"cpu_s": cpu, "peak_kib": max(own.ru_maxrss, children.ru_maxrss)}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq = fh.readline().split()[1:8]
    ticks = sum(int(t) for t in (user, nice, system, irq, softirq))
    return ticks / os.sysconf("SC_CLK_TCK")


def own_busy_seconds() -> float:
    """CPU seconds used by this process and its waited-for descendants."""
    return usage()["cpu_s"]


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds a running process (one this one does not wait for) has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """Wall time and busy CPU seconds (the machine's, the benchmark's own) since it was made.

    `also_own` adds the CPU of processes that belong to the benchmark without being its waited-
    for children (a server it started, say).
    """

    also_own: Callable[[], float] = field(default=lambda: 0.0)
    wall: float = field(default_factory=time.monotonic)
    machine: float = field(default_factory=machine_busy_seconds)
    own: float = 0.0

    def __post_init__(self) -> None:
        self.own = own_busy_seconds() + self.also_own()

    def others_share(self) -> float:
        """Share of the machine's CPU time that other processes have used since."""
        machine = machine_busy_seconds() - self.machine
        own = own_busy_seconds() + self.also_own() - self.own
        capacity = (time.monotonic() - self.wall) * (os.cpu_count() or 1)
        return max(0.0, machine - own) / capacity if capacity > 0 else 0.0


def others_share(seconds: float) -> float:
    """Share of the machine's CPU that other processes use over the next `seconds`."""
    meter = CpuMeter()
    time.sleep(seconds)
    return meter.others_share()


def wait_until_quiet(limit_s: float) -> float:
    """Wait (at most limit_s) until other processes use under QUIET_SHARE of the machine; the
    last share seen."""
    end = time.monotonic() + limit_s
    while True:
        share = others_share(2.0)
        if share < QUIET_SHARE or time.monotonic() > end:
            return share
        log(f"machine busy ({share:.0%} of its CPU used by others); waiting...")


def contention_note(share: float) -> str:
    """How much of the machine other processes used while the methods ran."""
    note = f"other processes: {share:.0%} of the machine's CPU time while the methods ran"
    if share > CONTENTION_WARN:
        note += " -- WARNING: the machine was busy, timings are unreliable; rerun when quiet"
    return note


def machine(*packages: str) -> dict[str, Any]:
    """What the numbers were measured on (poolpipe.report.machine's description, as the report gives
    it), with the versions of the packages compared."""
    found = describe()
    versions = {name: metadata.version(name) for name in packages}
    line = ", ".join([found.line(), *(f"{n} {v}" for n, v in versions.items())])
    return {**asdict(found), "versions": versions, "line": f"machine: {line}"}
