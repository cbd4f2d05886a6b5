"""Errors a user can cause, each carrying one sentence that says what to fix."""


class PoolpipeError(Exception):
    """A problem with the input or settings, reported as one sentence, never a traceback."""


class Stopped(Exception):
    """The run was stopped by a signal; the process exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        import signal

        return f"stopped by {signal.Signals(self.signum).name}"
