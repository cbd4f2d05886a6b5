"""The benchmarks inside the workflow: CPU scaling, a pool's overhead, inter-process hand-offs,
a shared array."""

from poolpipe.bench.cpu import ScalingPoint, amdahl_serial_fraction, amdahl_speedup, cpu_scaling
from poolpipe.bench.ipc import IpcPoint, ipc_costs
from poolpipe.bench.overhead import (
    CostModel,
    OverheadPoint,
    Timed,
    fit_cost_model,
    measure_overhead,
)
from poolpipe.bench.sharedarray import double_shared

__all__ = [
    "CostModel",
    "IpcPoint",
    "OverheadPoint",
    "ScalingPoint",
    "Timed",
    "amdahl_serial_fraction",
    "amdahl_speedup",
    "cpu_scaling",
    "double_shared",
    "fit_cost_model",
    "ipc_costs",
    "measure_overhead",
]
