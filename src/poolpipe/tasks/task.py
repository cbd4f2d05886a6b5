"""A task: one valid manifest line, what to do to which path under the root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Task:
    """One valid manifest line: what to do, to which path (relative to the root)."""

    line: int
    op: str
    path: str
    content: str | None = None
    src: str | None = None
    digest: str = ""
    """line_hash of its manifest line and the task root as given."""

    def describe(self) -> str:
        """The task in words, for messages."""
        what = f"{self.src!r} to {self.path!r}" if self.op == "copy" else repr(self.path)
        return f"manifest line {self.line} ({self.op} {what})"
