"""A description of the machine that measured the timings, for every page that shows them."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Machine:
    """What a timing was measured on."""

    cpu_model: str
    logical_cpus: int
    physical_cores: int | None
    usable_cpus: int
    memory_gib: float | None
    python: str
    numpy: str
    system: str
    measured_at: str

    def line(self) -> str:
        """One line for a report footer."""
        cores = "unknown" if self.physical_cores is None else str(self.physical_cores)
        memory = "unknown" if self.memory_gib is None else f"{self.memory_gib:.0f} GiB"
        return (
            f"{self.cpu_model}, {self.logical_cpus} hardware threads on {cores} physical cores "
            f"({self.usable_cpus} usable), {memory} RAM, {self.system}, Python {self.python}, "
            f"numpy {self.numpy}, measured {self.measured_at}"
        )


def _cpuinfo() -> list[dict[str, str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    blocks = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for row in block.splitlines():
            key, _, value = row.partition(":")
            fields[key.strip()] = value.strip()
        blocks.append(fields)
    return blocks


def _memory_gib() -> float | None:
    try:
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                return int(row.split()[1]) / (1 << 20)
    except OSError:
        pass
    return None


def describe() -> Machine:
    """Read the machine's description now."""
    from poolpipe.core.cpu import available_cpus

    cpus = _cpuinfo()
    model = next((c["model name"] for c in cpus if "model name" in c), platform.processor())
    cores = {(c.get("physical id"), c.get("core id")) for c in cpus if "core id" in c}
    return Machine(
        cpu_model=model or "unknown CPU",
        logical_cpus=os.cpu_count() or 1,
        physical_cores=len(cores) or None,
        usable_cpus=available_cpus(),
        memory_gib=_memory_gib(),
        python=platform.python_version(),
        numpy=metadata.version("numpy"),
        system=f"{platform.system()} {platform.release()}",
        measured_at=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
