"""Input checks: a readable regular file, or one sentence that says what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

from poolpipe.errors import PoolpipeError


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Return the path if it is a readable regular file, else raise one clear sentence."""
    p = Path(path)
    if not p.exists():
        raise PoolpipeError(f"input file {str(p)!r} does not exist")
    if p.is_dir():
        raise PoolpipeError(f"input {str(p)!r} is a directory, not a file")
    if not p.is_file():
        raise PoolpipeError(f"input {str(p)!r} is not a regular file")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise PoolpipeError(f"input file {str(p)!r} cannot be read: {exc.strerror}") from None
    return p
