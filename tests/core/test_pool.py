"""The one process pool runner: order, errors, dying workers, signals, no orphans, isolation.

Every test here is bounded in time: in-process pools run under a SIGALRM guard, every
subprocess call has a timeout, and every polling loop has a deadline. No test checks speed.
"""

from __future__ import annotations

import ctypes
import faulthandler
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from poolpipe.core.pool import WorkerDied, pool_map
from poolpipe.errors import PoolpipeError, Stopped, run_guarded

from ..helpers import alive, children, run_in_group, time_guard, wait_until

GUARD_S = 60
"""No in-process test may run longer than this; SIGALRM fails it instead of hanging."""

GONE_S = 10.0
"""How long a worker may take to disappear after its pool or parent stops."""


@pytest.fixture(autouse=True)
def _guard() -> Iterator[None]:
    """Fail (never hang) any test in this module that runs past GUARD_S seconds."""
    with time_guard(GUARD_S):
        yield


# --- helpers -------------------------------------------------------------------------------


def _assert_children_gone(before: set[int]) -> None:
    """Every child this process started since `before` is gone and reaped (no zombie left)."""
    assert wait_until(lambda: not (children() - before), timeout=GONE_S), (
        f"pool processes left behind: {sorted(children() - before)}"
    )


# --- functions the workers run (module level, so they pickle) ------------------------------


def _square_slowly(task: int) -> tuple[int, int, int]:
    """Later tasks finish first, so results arrive out of order unless pool_map reorders."""
    time.sleep(0.001 * (7 - task % 8))
    return task, task * task, os.getpid()


def _pid_or_raise(bad: int, task: int) -> int:
    time.sleep(0.01)
    if task == bad:
        raise PoolpipeError(f"task {task} is not a number")
    return os.getpid()


class _Odd(ValueError):
    """An exception type the pool knows nothing about."""


def _raise_odd(task: int) -> int:
    if task == 2:
        raise _Odd("odd one out")
    return task


def _die_on(mode: str, bad: int, task: int) -> int:
    """Sleep briefly, so several tasks are in flight; die abruptly on task `bad`.

    The doomed task runs longest, so the caller has taken every earlier result before it dies.
    """
    time.sleep(0.3 if task == bad else 0.05)
    if task == bad:
        if mode == "exit":
            os._exit(3)
        elif mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif mode == "segv":
            faulthandler.disable()  # pytest enables it; keep the worker's crash quiet
            ctypes.string_at(0)
        time.sleep(30)  # unreachable unless the death did not happen: the guard fires
    return task


def _die_late(task: int) -> int:
    """Task 0 is slow, so it stays at the head while another worker runs 1, 2, ... then 5 dies."""
    time.sleep(1.5 if task == 0 else 0.02)
    if task == 5:
        os._exit(3)
    return task


_COUNTER = 0


def _bump(task: int) -> int:
    global _COUNTER
    _COUNTER += 100 + task
    return _COUNTER


def _chunk(task: int) -> str:
    return f"chunk {task}"


# --- 1. order -----------------------------------------------------------------------------


@pytest.mark.parametrize("processes", [1, 3])
@pytest.mark.parametrize("in_flight", [None, 2, 5])
def test_results_come_back_in_task_order(processes: int, in_flight: int | None) -> None:
    tasks = list(range(40))  # many more than in flight
    results = list(pool_map(_square_slowly, tasks, processes, in_flight=in_flight))
    assert [(t, sq) for t, sq, _ in results] == [(t, t * t) for t in tasks]
    assert len({pid for _, _, pid in results}) <= processes
    assert os.getpid() not in {pid for _, _, pid in results}


def test_results_come_back_in_order_from_a_lazy_task_stream() -> None:
    tasks = (t for t in range(25))
    assert [t for t, _, _ in pool_map(_square_slowly, tasks, 3)] == list(range(25))


def test_no_tasks_gives_no_results() -> None:
    assert list(pool_map(_square_slowly, [], 2)) == []


def test_fewer_than_one_process_is_a_users_error() -> None:
    with pytest.raises(PoolpipeError, match="processes must be at least 1"):
        list(pool_map(_square_slowly, [1], 0))


# --- 2. an exception in fn -----------------------------------------------------------------


@pytest.mark.parametrize("processes", [1, 3])
def test_exception_in_fn_propagates_and_leaves_no_worker(processes: int) -> None:
    before = children()
    seen: list[int] = []
    with pytest.raises(PoolpipeError) as info:
        for pid in pool_map(functools.partial(_pid_or_raise, 7), range(20), processes):
            seen.append(pid)
    assert type(info.value) is PoolpipeError
    assert str(info.value) == "task 7 is not a number"
    assert len(seen) == 7  # every result before the failing task, none after
    _assert_children_gone(before)
    assert not [pid for pid in set(seen) if alive(pid)]


def test_exception_of_any_type_keeps_its_type_and_message() -> None:
    before = children()
    with pytest.raises(_Odd, match=r"^odd one out$"):
        list(pool_map(_raise_odd, range(6), 2))
    _assert_children_gone(before)


def test_abandoning_the_iterator_stops_its_workers() -> None:
    before = children()
    results = pool_map(_square_slowly, range(100), 2)
    assert next(results)[0] == 0
    assert children() - before  # the pool is running
    results.close()
    _assert_children_gone(before)


# --- 3. a worker that dies abruptly ---------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "how"),
    [("exit", "exit code 3"), ("sigkill", "signal SIGKILL"), ("segv", "signal SIGSEGV")],
)
@pytest.mark.parametrize("processes", [1, 3])
def test_worker_death_names_its_task(mode: str, how: str, processes: int) -> None:
    before = children()
    got: list[int] = []
    with pytest.raises(WorkerDied) as info:
        for task in pool_map(
            functools.partial(_die_on, mode, 5), range(10), processes, describe=_chunk
        ):
            got.append(task)
    assert isinstance(info.value, PoolpipeError)  # the CLI reports it as one sentence
    assert got == list(range(len(got)))
    assert len(got) <= 5
    _assert_children_gone(before)
    message = str(info.value)
    assert f"died with {how} while running chunk 5" in message
    assert [f"chunk {t}" for t in range(10) if t != 5 and f"chunk {t}" in message] == []


def _slow_waitpid(
    real: Callable[[int, int], tuple[int, int]],
) -> Callable[[int, int], tuple[int, int]]:
    """os.waitpid, with the interleaving that loses a worker's exit status made certain.

    The executor's own thread reaps the worker that died with exit code 3 and is then held
    up for 1s before multiprocessing records its exit code; the caller's thread asks a
    moment later, finds the child already reaped, and multiprocessing reports None.
    """

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.1)
            return real(pid, options)
        result = real(pid, options)
        if result[0] and os.waitstatus_to_exitcode(result[1]) == 3:
            time.sleep(1.0)
        return result

    return waitpid


@pytest.mark.parametrize("processes", [1, 3])
def test_worker_death_names_its_task_when_the_executor_reaps_it_first(
    monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    monkeypatch.setattr(os, "waitpid", _slow_waitpid(os.waitpid))
    with pytest.raises(WorkerDied) as info:
        list(pool_map(functools.partial(_die_on, "exit", 5), range(10), processes, describe=_chunk))
    assert "died with exit code 3 while running chunk 5" in str(info.value), str(info.value)


def test_worker_death_names_its_task_when_that_worker_already_finished_others() -> None:
    before = children()
    with pytest.raises(WorkerDied) as info:
        list(pool_map(_die_late, range(10), 2, describe=_chunk, in_flight=10))
    assert "chunk 5" in str(info.value), str(info.value)
    _assert_children_gone(before)


def test_worker_death_while_the_caller_is_busy_raises_worker_died() -> None:
    before = children()
    results = pool_map(functools.partial(_die_on, "exit", 3), range(10), 2, describe=_chunk)
    assert next(results) == 0
    # While the caller works on result 0, task 3's worker dies and the executor stops
    # every other worker: wait for that instead of sleeping a fixed time.
    assert wait_until(lambda: not (children() - before), timeout=GONE_S)
    try:
        with pytest.raises(WorkerDied, match="chunk 3"):
            list(results)
    finally:
        results.close()
    _assert_children_gone(before)


# --- 4, 5, 6. signals, in a real process running run_guarded ---------------------------------

HELPER = """\
import os
import sys
import time
from pathlib import Path

from poolpipe.errors import run_guarded
from poolpipe.core.pool import pool_map

PIDS = Path(sys.argv[1])


def slow(task):
    (PIDS / str(os.getpid())).touch()  # tells the test this worker is running a task
    time.sleep(30)
    return task


def main():
    for _ in pool_map(slow, range(8), 2):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(main))
"""


class Helper:
    """The helper script running in its own session, with its 2 workers busy."""

    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "slow_pool.py"
        script.write_text(HELPER)
        self.pids_dir = tmp_path / "pids"
        self.pids_dir.mkdir()
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.pids_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.workers: set[int] = set()

    def wait_for_workers(self) -> set[int]:
        """Both workers' PIDs, once both are inside a task (so their setup is done)."""

        def ready() -> bool:
            return len(list(self.pids_dir.iterdir())) >= 2 or self.proc.poll() is not None

        assert wait_until(ready, timeout=30), "workers never started"
        assert self.proc.poll() is None, self.proc.communicate(timeout=10)
        self.workers = {int(p.name) for p in self.pids_dir.iterdir()}
        parent = psutil.Process(self.proc.pid)
        assert self.workers <= {child.pid for child in parent.children()}
        return self.workers

    def finish(self) -> tuple[int, str]:
        """The exit code and stderr, at most 30s after the signal."""
        _, stderr = self.proc.communicate(timeout=30)
        return self.proc.returncode, stderr

    def cleanup(self) -> None:
        for pid in [self.proc.pid, *self.workers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[Helper]:
    running = Helper(tmp_path)
    try:
        yield running
    finally:
        running.cleanup()


def _assert_workers_gone(workers: set[int]) -> None:
    assert wait_until(lambda: not [pid for pid in workers if alive(pid)], timeout=GONE_S), (
        f"workers left behind: {sorted(pid for pid in workers if alive(pid))}"
    )


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)]
)
def test_signal_to_the_parent_stops_every_worker(
    helper: Helper, sig: signal.Signals, code: int
) -> None:
    workers = helper.wait_for_workers()
    os.kill(helper.proc.pid, sig)
    returncode, stderr = helper.finish()
    assert returncode == code, stderr
    assert stderr.splitlines() == [f"poolpipe: stopped by {sig.name}"]
    _assert_workers_gone(workers)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_signal_to_the_process_group_stops_through_the_parent(
    helper: Helper, sig: signal.Signals, code: int
) -> None:
    """A Ctrl-C (or a closed terminal's SIGHUP) reaches every process in the group: workers
    ignore it, the parent stops them.

    (A SIGTERM to the group, as from `timeout` or a batch system, kills the workers outright;
    the parent still reports the signal, not a dead worker.)
    """
    workers = helper.wait_for_workers()
    os.killpg(helper.proc.pid, sig)
    returncode, stderr = helper.finish()
    assert returncode == code, stderr
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr
    assert stderr.splitlines() == [f"poolpipe: stopped by {sig.name}"]
    _assert_workers_gone(workers)


def test_a_hang_up_ignored_from_the_start_stays_ignored() -> None:
    # under nohup a command must outlive its terminal: the pool's handler leaves SIGHUP alone
    code = (
        "import signal\n"
        "from poolpipe.core.pool import StopOnSignals\n"
        "with StopOnSignals():\n"
        "    print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN)\n"
    )
    done = subprocess.run(
        ["nohup", sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "True\n", done.stderr


class _HungUp:
    """stderr after a terminal's hang-up: every write fails with EIO."""

    def write(self, _text: str) -> int:
        raise OSError(5, "Input/output error")

    def flush(self) -> None:
        raise OSError(5, "Input/output error")


def test_a_stop_is_its_exit_status_even_where_stderr_is_a_closed_terminal(monkeypatch) -> None:
    def hung_up() -> int:
        raise Stopped(signal.SIGHUP)

    monkeypatch.setattr(sys, "stderr", _HungUp())
    assert run_guarded(hung_up) == 129


STREAM = """\
import sys

from poolpipe.errors import run_guarded
from poolpipe.core.pool import pool_map


def main():
    for i, _ in enumerate(pool_map(abs, range(10**9), 2, in_flight=64)):
        if i == 0:
            print("ready", flush=True)  # the pool runs, its signal handlers in place
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(main))
"""


def test_a_signal_at_any_moment_of_a_stream_of_tiny_tasks_stops_the_pool(tmp_path: Path) -> None:
    """The parent spends its time submitting and collecting: a SIGTERM lands inside the
    executor's calls as often as not, and must still stop everything with exit 143."""
    script = tmp_path / "stream.py"
    script.write_text(STREAM)
    for delay in (0.0, 0.05, 0.11, 0.17, 0.23, 0.31, 0.43, 0.6):
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            time.sleep(delay)
            workers = {child.pid for child in psutil.Process(proc.pid).children()}
            os.kill(proc.pid, signal.SIGTERM)
            _, stderr = proc.communicate(timeout=20)
            assert proc.returncode == 143, (delay, stderr[-2000:])
            assert stderr.splitlines() == ["poolpipe: stopped by SIGTERM"], delay
            _assert_workers_gone(workers)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)


HALF_SENT = """\
import os
import signal
import struct
import sys
import time

from poolpipe.errors import run_guarded
from poolpipe.core.pool import pool_map


def half_sent(task):
    # What a worker killed halfway through sending a large result leaves in the pipe: the
    # length of a 1 MiB message and its first 100 bytes. Then it ends, or the pool is stopped.
    if task != 0:
        return task
    frame = sys._getframe()
    while "result_queue" not in frame.f_locals:
        frame = frame.f_back
    writer = frame.f_locals["result_queue"]._writer
    os.write(writer.fileno(), struct.pack("!i", 1 << 20) + bytes(100))
    if sys.argv[1] == "exit":
        os._exit(9)
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(60)


def main():
    for _ in pool_map(half_sent, range(4), 2):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(main))
"""


@pytest.mark.parametrize(
    ("then", "code", "said"),
    [
        ("stop", 143, "poolpipe: stopped by SIGTERM"),
        ("exit", 1, "poolpipe: error: worker process {pid} died with exit code 9 while running 0"),
    ],
)
def test_a_result_half_sent_by_a_worker_that_ends_does_not_hang_the_pool(
    tmp_path: Path, then: str, code: int, said: str
) -> None:
    """The executor's manager thread reads the rest of a result that will never come. Stopped,
    the pool kills its workers and closes its own write end, so that read ends; a worker that
    died so goes unseen by the executor, and the pool breaks itself after STALL_S."""
    script = tmp_path / "half_sent.py"
    script.write_text(HALF_SENT)
    done = run_in_group([sys.executable, str(script), then], timeout=60)
    assert done.returncode == code, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    pid = lines[-1].split()[4] if then == "exit" else ""
    assert lines == [said.format(pid=pid)]


def test_a_signal_the_consumer_never_saw_is_sent_again_when_the_pool_closes() -> None:
    """A SIGTERM recorded while the consumer held a result, then the pool closed (a break,
    an error of the consumer's own): it goes to the handler that was there before."""
    seen: list[int] = []
    saved = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    try:
        results = pool_map(abs, range(100), 2)
        assert next(results) == 0
        os.kill(os.getpid(), signal.SIGTERM)
        results.close()
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert seen == [signal.SIGTERM]


def test_workers_die_with_a_sigkilled_parent(helper: Helper) -> None:
    workers = helper.wait_for_workers()
    os.kill(helper.proc.pid, signal.SIGKILL)
    returncode, _ = helper.finish()
    assert returncode == -signal.SIGKILL
    _assert_workers_gone(workers)


def test_sigterm_through_the_cli_exits_143(tmp_path: Path) -> None:
    """The real `poolpipe sum` command follows the same convention (stopped mid-run)."""
    digits = b"7" * 1_000_000  # huge numbers are slow to convert exactly: seconds of work
    path = tmp_path / "numbers.txt"
    path.write_bytes((digits + b"\n-" + digits + b"\n") * 4)  # total 0: prints if it finishes
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolpipe.cli", "sum", str(path), "--processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        parent = psutil.Process(proc.pid)
        workers: set[int] = set()

        def pool_running() -> bool:
            workers.update(child.pid for child in parent.children())
            return len(workers) >= 2 or proc.poll() is not None

        assert wait_until(pool_running, timeout=30)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
        if proc.returncode == 0:
            assert '"total": 0' in stdout
            pytest.skip("the file was summed before the signal arrived")
        assert proc.returncode == 143, stderr
        assert stderr.splitlines() == ["poolpipe: stopped by SIGTERM"]
        assert stdout == ""
        _assert_workers_gone(workers)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


# --- 7. isolation ---------------------------------------------------------------------------


def test_worker_globals_do_not_leak_into_the_parent() -> None:
    assert _COUNTER == 0
    results = list(pool_map(_bump, range(6), 2))
    assert all(value >= 100 for value in results)  # each worker did change its own copy
    assert _COUNTER == 0


def test_one_blas_thread_per_process_keeps_a_users_own_setting(monkeypatch):
    from poolpipe.core import one_blas_thread_per_process
    from poolpipe.core.cpu import BLAS_THREADS

    for name in BLAS_THREADS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    one_blas_thread_per_process()
    assert [os.environ[name] for name in BLAS_THREADS] == ["1", "3", "1"]


def _blas_threads(_: int) -> list[int]:
    from threadpoolctl import threadpool_info

    return sorted({info["num_threads"] for info in threadpool_info()})


def test_a_pool_worker_holds_blas_to_one_thread():
    import numpy  # noqa: F401  (loaded, as in every stage that uses BLAS)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2):
        assert list(pool_map(_blas_threads, [0, 1], 2)) == [[1], [1]]


def test_ctrl_c_outside_a_pool_is_said_as_inside_one() -> None:
    """One process (no pool's handler) gets KeyboardInterrupt: the same words and status."""
    import contextlib
    import io

    def interrupted() -> int:
        raise KeyboardInterrupt

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert run_guarded(interrupted) == 130
    assert err.getvalue() == "poolpipe: stopped by SIGINT\n"
