"""A local snakemake run on a machine with SLURM's client tools does not ask the controller.

The SLURM executor plugin runs `scontrol show config` when snakemake imports it; with the
controller down that waits 10 s. A stand-in scontrol on PATH logs how it was called, so the
test sees whether a run would have waited, without a clock."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from poolpipe.core.localslurm import HOOK, is_local_snakemake

from ..workflow_helpers import snakemake, workflow_copy

SCONTROL = """#!/bin/sh
echo "SLURM_CONF=${SLURM_CONF-unset}" >> "$(dirname "$0")/calls.log"
exit 1
"""


@pytest.mark.parametrize(
    ("argv", "local"),
    [
        (["/v/bin/snakemake", "--cores", "all"], True),
        (["/v/bin/snakemake", "-n", "results/sum/a/total.json", "--config", "x=1"], True),
        (["/v/bin/snakemake", "--profile", "profiles/slurm"], False),
        (["/v/bin/snakemake", "--profile=profiles/slurm"], False),
        (["/v/bin/snakemake", "--executor", "slurm"], False),
        (["/v/bin/snakemake", "-e", "slurm-jobstep"], False),
        (["/v/bin/python", "script.py"], False),
    ],
)
def test_which_commands_are_local(argv, local, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_local_snakemake(argv, {}) is local


def test_a_profile_naming_the_slurm_executor_is_not_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster/config.yaml").write_text("jobs: 10\nexecutor: slurm\n")
    assert not is_local_snakemake(["snakemake", "--profile", "cluster"], {})
    assert not is_local_snakemake(["snakemake"], {"SNAKEMAKE_PROFILE": "cluster"})
    assert not is_local_snakemake(["snakemake"], {"SLURM_CONF": "/etc/slurm/slurm.conf"})
    (tmp_path / "profiles/default").mkdir(parents=True)
    (tmp_path / "profiles/default/config.yaml").write_text("executor: slurm\n")
    assert not is_local_snakemake(["snakemake"], {})


@pytest.mark.parametrize(
    ("argv", "applied"),
    [
        (["/v/bin/snakemake", "--cores", "1"], True),
        (["/v/bin/python", "job.py"], False),
        ([], False),
    ],
)
def test_the_start_up_hook_acts_only_in_snakemake(argv, applied, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setenv("SLURM_CONF", "unset")
    monkeypatch.delenv("SLURM_CONF")
    exec(HOOK, {})  # as site.py runs a .pth line
    assert os.environ.get("SLURM_CONF") == (os.devnull if applied else None)


def test_another_interpreter_of_the_environment_starts_without_poolpipe():
    """The hook's .pth line imports nothing of poolpipe outside snakemake: `poolpipe sum` on a
    one-line file starts as fast as Python does."""
    probe = "import sys; print(sorted(m for m in sys.modules if m.startswith('poolpipe')))"
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"


@pytest.mark.integration
def test_a_local_run_never_waits_for_the_controller(tmp_path):
    tools = tmp_path / "slurm-bin"
    tools.mkdir()
    for name in ("sinfo", "squeue", "sacct"):
        (tools / name).write_text("#!/bin/sh\nexit 1\n")
    (tools / "scontrol").write_text(SCONTROL)
    for tool in tools.iterdir():
        tool.chmod(0o755)
    workdir = workflow_copy(tmp_path / "wf")
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    env["PATH"] = f"{tools}{os.pathsep}{env['PATH']}"
    run = snakemake(workdir, None, "--dry-run", "results/sum/numbers/total.json", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    calls = (tools / "calls.log").read_text().splitlines()
    assert calls and set(calls) == {"SLURM_CONF=/dev/null"}
