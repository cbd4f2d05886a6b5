"""The demo task root and manifest, made from a seed: ordinary tasks, and the ones refused.

A file is read only after the manifest wrote it, and copies only read the blobs, so
running the manifest a second time gives the same results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from poolpipe.core.defaults import load_schema
from poolpipe.core.outputs import write_atomic
from poolpipe.errors import PoolpipeError

WORDS = ("queue", "worker", "task", "file", "write", "read", "copy", "sum", "pipe", "byte")

REFUSED = (
    {"op": "read", "path": "../manifest.jsonl"},
    {"op": "read", "path": "/etc/passwd"},
    {"op": "read", "path": "escape/manifest.jsonl"},
    {"op": "write", "path": "escape/written-outside.txt", "content": "never written\n"},
    {"op": "copy", "src": "docs/note-000.txt", "path": "escape/copied-outside.txt"},
    {"op": "read", "path": "docs/outside.txt"},
    {"op": "read", "path": "data/blob-000.bin"},
    {"op": "checksum", "path": "docs/missing.txt"},
    {"op": "delete", "path": "docs/note-000.txt"},
    {"op": "write", "path": "out/no-content.txt"},
)
"""Tasks that must fail: escapes (.., absolute, symlinks out), not text, missing, invalid."""

ALLOWED_LINKS = (
    {"op": "read", "path": "docs/latest.txt"},
    {"op": "checksum", "path": "shortcut/note-001.txt"},
)
"""Tasks through symlinks that stay beneath the root: allowed."""

BROKEN_LINES = ('{"op": "read", "path": ', '["read", "docs/note-000.txt"]')


def _text(rng: np.random.Generator, words: int) -> str:
    picks = rng.integers(0, len(WORDS), size=words)
    lines = [" ".join(WORDS[i] for i in picks[k : k + 12]) for k in range(0, words, 12)]
    return "\n".join(lines) + "\n"


def write_root(root: Path, files: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Fill root with notes, binary blobs and symlinks; return the notes' and blobs' paths."""
    notes, blobs = [], []
    for i in range(files):
        note = f"docs/note-{i:03d}.txt"
        write_atomic(root / note, _text(rng, int(rng.integers(20, 400))))
        notes.append(note)
        blob = f"data/blob-{i:03d}.bin"
        size = int(rng.integers(1 << 10, 1 << 18))
        write_atomic(root / blob, b"\xff" + rng.bytes(size - 1))
        blobs.append(blob)
    os.symlink("note-000.txt", root / "docs/latest.txt")
    os.symlink("docs", root / "shortcut")
    os.symlink("..", root / "escape")
    os.symlink("../../manifest.jsonl", root / "docs/outside.txt")
    return notes, blobs


def demo_tasks(
    notes: list[str], blobs: list[str], *, tasks: int, rng: np.random.Generator
) -> list[str]:
    """Manifest lines: a seeded mix of the four ops, with the showcase lines spread through it."""
    written: list[str] = []
    lines: list[str] = []
    for k in range(tasks):
        op = ("read", "checksum", "write", "copy")[int(rng.choice(4, p=[0.3, 0.3, 0.2, 0.2]))]
        if op == "write":
            path = f"out/gen-{k:04d}.txt"
            task = {"op": op, "path": path, "content": _text(rng, int(rng.integers(5, 200)))}
            written.append(path)
        elif op == "copy":
            src = blobs[int(rng.integers(len(blobs)))]
            task = {"op": op, "src": src, "path": f"backup/{k:04d}-{Path(src).name}"}
        elif op == "read":
            pool = notes + written
            task = {"op": op, "path": pool[int(rng.integers(len(pool)))]}
        else:
            pool = blobs + notes
            task = {"op": op, "path": pool[int(rng.integers(len(pool)))]}
        lines.append(json.dumps(task))
    extras = [json.dumps(t) for t in (*ALLOWED_LINKS, *REFUSED)] + list(BROKEN_LINES)
    for extra in extras:
        lines.insert(int(rng.integers(0, len(lines) + 1)), extra)
    return lines


def _check_settings(**values: int) -> None:
    """One sentence for a setting outside the range config/schema.yaml gives it."""
    demo = load_schema()["properties"]["demo"]["properties"]
    rules = {**demo["tasks"]["properties"], "seed": demo["seed"]}
    for name, value in values.items():
        low, high = rules[name].get("minimum"), rules[name].get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}"
            raise PoolpipeError(f"demo tasks setting {name} must be {allowed}, not {value}")


def write_demo(
    manifest: str | os.PathLike[str],
    root: str | os.PathLike[str],
    *,
    files: int,
    tasks: int,
    seed: int,
) -> int:
    """Make the demo root folder and its manifest; return the manifest's line count."""
    _check_settings(files=files, tasks=tasks, seed=seed)
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise PoolpipeError(f"demo task root {str(root)!r} exists and is not an empty folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PoolpipeError(
            f"demo task root {str(root)!r} cannot be made: {exc.strerror}"
        ) from None
    rng = np.random.default_rng([seed, 7])
    notes, blobs = write_root(root, files, rng)
    lines = demo_tasks(notes, blobs, tasks=tasks, rng=rng)
    write_atomic(manifest, "\n".join(lines) + "\n")
    return len(lines)
