"""What moving data between processes costs: Pipe, Queue, shared_memory and a file offset."""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.connection import Connection

from poolpipe.core.pool import init_child, signals_held
from poolpipe.errors import PoolpipeError

METHODS = ("pipe", "queue", "shared_memory", "file_offset")


@dataclass(frozen=True, kw_only=True)
class IpcPoint:
    """Median one-message cost of a method at one message size."""

    method: str
    size: int
    messages: int
    latency_us: float
    throughput_mb_s: float


def _receiver(method: str, ctrl: Connection, channel: object, path: str, parent: int) -> None:
    """Child: take each message by `method`, touch its last byte, and acknowledge it."""
    init_child(parent)  # Ctrl-C is the parent's: no traceback of the child's half-way
    shm = None
    fd = os.open(path, os.O_RDONLY) if method == "file_offset" else -1
    while True:
        note = ctrl.recv()
        if note is None:
            break
        if method == "pipe":
            data = channel.recv_bytes()  # type: ignore[attr-defined]
        elif method == "queue":
            data = channel.get()  # type: ignore[attr-defined]
        elif method == "shared_memory":
            if shm is None:
                shm = shared_memory.SharedMemory(name=note[0])
            data = shm.buf[: note[1]]
        else:
            data = os.pread(fd, note[1], note[0])
        ctrl.send(data[-1] if len(data) else 0)
        del data
    if shm is not None:
        shm.close()
    if fd >= 0:
        os.close(fd)


def _handoff(
    method: str,
    ctrl: Connection,
    channel: object,
    payload: bytes,
    shm: shared_memory.SharedMemory | None,
) -> Callable[[], None]:
    """The parent's side of one message: all it must do before the child can read the data."""
    size = len(payload)

    def by_pipe() -> None:
        ctrl.send(True)
        channel.send_bytes(payload)  # type: ignore[attr-defined]

    def by_queue() -> None:
        ctrl.send(True)
        channel.put(payload)  # type: ignore[attr-defined]

    def by_shared_memory() -> None:
        assert shm is not None
        shm.buf[:size] = payload
        ctrl.send((shm.name, size))

    def by_file_offset() -> None:
        ctrl.send((0, size))

    return {
        "pipe": by_pipe,
        "queue": by_queue,
        "shared_memory": by_shared_memory,
        "file_offset": by_file_offset,
    }[method]


def measure(method: str, size: int, messages: int) -> IpcPoint:
    """Send `messages` messages of `size` bytes to a child by `method`; median round trip."""
    ctx = mp.get_context("fork")
    payload = os.urandom(size)
    ctrl, child_ctrl = ctx.Pipe()
    recv_end: object = None
    send_end: object = None
    if method == "pipe":
        recv_end, send_end = ctx.Pipe(duplex=False)
    elif method == "queue":
        recv_end = send_end = ctx.Queue()
    times: list[float] = []
    # a file without a name (O_TMPFILE where it is supported): a run killed anyhow leaves
    # nothing behind; the forked receiver opens it through the parent's descriptor
    with tempfile.TemporaryFile(prefix="poolpipe-ipc-") as fh:
        try:
            fh.write(payload if method == "file_offset" else b"")
            fh.flush()
        except OSError as exc:  # a full temporary folder, a file-size limit
            raise PoolpipeError(
                f"the IPC bench's scratch file in {tempfile.gettempdir()!r} cannot be written: "
                f"{exc.strerror}"
            ) from None
        shm = None
        if method == "shared_memory":
            # Checked first: SharedMemory's own clean-up after a failed ftruncate makes the
            # resource tracker print a KeyError traceback (it unregisters an unregistered name).
            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            if limit != resource.RLIM_INFINITY and size > limit:
                raise PoolpipeError(
                    f"the IPC bench cannot make {size} bytes of shared memory: File too large "
                    f"(the file-size limit, ulimit -f, is {limit} bytes)"
                )
            try:
                shm = shared_memory.SharedMemory(create=True, size=max(size, 1))
            except OSError as exc:  # a full /dev/shm, a file-size limit
                raise PoolpipeError(
                    f"the IPC bench cannot make {size} bytes of shared memory: {exc.strerror}"
                ) from None
        scratch = f"/proc/{os.getpid()}/fd/{fh.fileno()}"
        child = ctx.Process(
            target=_receiver,
            args=(method, child_ctrl, recv_end, scratch, os.getpid()),
            daemon=True,
        )
        with signals_held():
            child.start()
        send = _handoff(method, ctrl, send_end, payload, shm)
        try:
            for _ in range(messages + 1):
                start = time.perf_counter()
                send()
                if ctrl.recv() != (payload[-1] if size else 0):
                    raise AssertionError(f"{method} delivered the wrong bytes")
                times.append(time.perf_counter() - start)
            ctrl.send(None)
            child.join(timeout=30)
        finally:
            if child.is_alive():
                child.kill()
                child.join()
            if shm is not None:
                shm.close()
                shm.unlink()
    latency = statistics.median(times[1:])
    return IpcPoint(
        method=method,
        size=size,
        messages=messages,
        latency_us=latency * 1e6,
        throughput_mb_s=size / latency / 1e6,
    )


def messages_for(size: int, budget_bytes: int, *, least: int = 3, most: int = 200) -> int:
    """How many messages of `size` to time: enough for a stable median, within a byte budget."""
    return max(least, min(most, budget_bytes // max(size, 1)))


def ipc_costs(
    sizes: Sequence[int], budget_bytes: int, methods: Sequence[str] = METHODS
) -> list[IpcPoint]:
    """Measure every method at every size, each within a byte budget."""
    return [measure(m, size, messages_for(size, budget_bytes)) for size in sizes for m in methods]
