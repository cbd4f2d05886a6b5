"""The benchmarks inside the workflow: CPU scaling, inter-process hand-offs, a shared array."""

from poolpipe.bench.cpu import ScalingPoint, amdahl_serial_fraction, amdahl_speedup, cpu_scaling
from poolpipe.bench.ipc import IpcPoint, ipc_costs
from poolpipe.bench.sharedarray import double_shared

__all__ = [
    "IpcPoint",
    "ScalingPoint",
    "amdahl_serial_fraction",
    "amdahl_speedup",
    "cpu_scaling",
    "double_shared",
    "ipc_costs",
]
