"""What the integration tests share: the workflow's files, copied fresh, and the real
`snakemake` command run in such a copy on a small config, bounded in time."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from poolpipe.core import read_manifest, read_manifest_identity

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
LOCAL_ENV = {**os.environ, "SLURM_CONF": os.devnull}
"""The environment of a local snakemake run: no SLURM configuration. On a machine with the SLURM
client installed, the SLURM executor plugin otherwise asks the controller for its configuration
every time snakemake starts, which takes 10 s when no controller is running."""
WORKFLOW = ["Snakefile", "rules", "scripts", "config", "envs", "profiles", "report"]
SMALL = {
    "demo": {
        "seed": 7,
        "numbers": {"lines": 30000, "blank_lines": 3, "bad_lines": 4},
        "train": {"rows": 20000, "holdout_rows": 2000},
    },
    "sum": {"chunks": 3, "threads": 2},
    "bench": {
        "cpu": {"iterations": 200_000, "repeats": 1, "threads": 2},
        "ipc": {"sizes": [1024, 65536], "budget_mb": 1},
    },
    "train": {"chunks": 3, "threads": 2},
}


def workflow_copy(dest: Path) -> Path:
    """A fresh copy of the workflow's files (no data, no results)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(
    workdir: Path, config: dict | None = None, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess[str]:
    """Run snakemake in workdir with an extra config file (in LOCAL_ENV, or env); bounded in
    time."""
    cmd = [SNAKEMAKE, "--cores", "2", *args]
    if config is not None:
        (workdir / "test.yaml").write_text(yaml.safe_dump(config))
        cmd += ["--configfile", "test.yaml"]
    return subprocess.run(
        cmd,
        cwd=workdir,
        env=env or LOCAL_ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


SHEET_COLUMNS = ("name", "stage", "path", "root", "chunks", "target", "features", "demo_settings")


def with_sheet(workdir: Path, rows: list[dict], config: dict | None = None) -> dict:
    """A config whose dataset sheet, written into workdir as sheet.tsv, lists these rows."""
    lines = ["\t".join(SHEET_COLUMNS)]
    lines += ["\t".join(str(row.get(c, "")) for c in SHEET_COLUMNS) for row in rows]
    (workdir / "sheet.tsv").write_text("\n".join(lines) + "\n")
    return {**(config or {}), "datasets": "sheet.tsv"}


def same_result(first: Path, second: Path) -> bool:
    """Two results are the same: byte for byte, but a chunk manifest's input mtime aside (it is
    the input file's own, which differs when a run makes the input again)."""
    if first.name != "chunks.tsv":
        return filecmp.cmp(first, second, shallow=False)
    a, b = read_manifest_identity(first), read_manifest_identity(second)
    assert a is not None and b is not None
    return read_manifest(first) == read_manifest(second) and replace(a, mtime_ns=0) == replace(
        b, mtime_ns=0
    )
