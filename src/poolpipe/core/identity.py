"""Input identity: what a split saw of its input (path, size, mtime, fingerprint), checked
again by every later job before it trusts the split's manifest.

Exactly what is checked: the size in bytes, the modification time in nanoseconds, and the
fingerprint, sha256 of the size and of the first and the last MiB (the whole file when it is
at most 2 MiB, whose new modification time alone is then no change: it was only touched).
So an edit in the middle of a file larger than 2 MiB that keeps its size and restores its
modification time goes unseen, as it does for make; content_hash() reads every byte, for
the workflow's opt-in check (inputs.hash_content).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from poolpipe.core.inputs import check_input_file
from poolpipe.errors import PoolpipeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EDGE = 1 << 20
"""Bytes hashed at each end of the file for its fingerprint."""
HASH_BLOCK = 4 << 20
"""Bytes content_hash reads at a time: memory stays bounded whatever the file's size."""


@dataclass(frozen=True, kw_only=True)
class InputIdentity:
    """An input file as a split saw it."""

    path: str
    size: int
    mtime_ns: int
    fingerprint: str


def _sha256(data: bytes = b"") -> Any:
    """A sha256 object. hashlib is imported here, not with the module: it loads OpenSSL, which
    costs every command that imports the chunks (`poolpipe sum` among them) milliseconds."""
    import hashlib

    return hashlib.sha256(data)


def fingerprint(path: str | os.PathLike[str], size: int) -> str:
    """sha256 of the size and the first and last MiB of a file: cheap, and changes with them."""
    digest = _sha256(str(size).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(EDGE))
        if size > EDGE:
            fh.seek(max(EDGE, size - EDGE))
            digest.update(fh.read(EDGE))
    return digest.hexdigest()[:32]


def content_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of every byte of a readable regular file ('sha256:' and 64 hex digits), read in
    blocks of HASH_BLOCK; sha256 runs on the CPU's SHA extensions where it has them."""
    p = check_input_file(path)
    digest = _sha256()
    buf = bytearray(HASH_BLOCK)
    view = memoryview(buf)
    try:
        with open(p, "rb") as fh:
            while n := fh.readinto(buf):
                digest.update(view[:n])
    except OSError as exc:
        raise PoolpipeError(f"input file {str(p)!r} cannot be read: {exc.strerror}") from None
    return f"sha256:{digest.hexdigest()}"


def identify(path: str | os.PathLike[str]) -> InputIdentity:
    """The identity of a readable regular file, or one sentence saying why it has none."""
    p = check_input_file(path)
    stat = p.stat()
    return InputIdentity(
        path=str(path),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        fingerprint=fingerprint(p, stat.st_size),
    )


def check_identity(recorded: InputIdentity, *, dataset: str) -> None:
    """Raise one sentence naming the dataset and path unless the input is still what was split."""
    try:
        now = identify(recorded.path)
    except PoolpipeError as exc:
        raise PoolpipeError(
            f"dataset {dataset!r}: input {recorded.path} changed since it was split ({exc}); "
            "run snakemake again once the input is back or the sheet names the right file"
        ) from None
    changes = [
        f"{name} {old} -> {new}"
        for name, old, new in (
            ("size", recorded.size, now.size),
            ("modification time (ns)", recorded.mtime_ns, now.mtime_ns),
            ("fingerprint", recorded.fingerprint, now.fingerprint),
        )
        if old != new
    ]
    if changes and now.size <= 2 * EDGE and len(changes) == 1 and now.mtime_ns != recorded.mtime_ns:
        # the fingerprint read every byte of the file, unchanged: only touched. Snakemake,
        # which checksums a touched input of up to 1 MB, runs no split again for it.
        return
    if changes:
        raise PoolpipeError(
            f"dataset {dataset!r}: input {recorded.path} changed since it was split "
            f"({', '.join(changes)}); run snakemake again to split it anew"
        )
