"""A local snakemake run does not wait for a SLURM controller.

snakemake imports every installed executor plugin when it starts, whatever the executor, and
snakemake-executor-plugin-slurm runs `scontrol show config` at import (to word a help text).
On a machine with SLURM's client tools whose controller is down or unreachable, that call waits
for its 10 s timeout on every run, a dry run included. For a snakemake process that names no
SLURM executor or profile, SLURM_CONF=/dev/null makes scontrol fail at once; a cluster run, and
the jobs it submits (which name the slurm-jobstep executor), are left as they are.

`make setup` installs a .pth file (install_hook()) that calls apply():
Python runs it at start-up, before snakemake imports its plugins. It never raises: at worst a
run is as slow as before. It imports this module only in a process started as `snakemake`,
so every other interpreter (a job's script, `poolpipe sum`) starts as fast as without it.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path

PROFILE_OPTIONS = ("--profile", "--workflow-profile")
DEFAULT_PROFILE = Path("profiles", "default")
"""Where snakemake finds a workflow's profile by itself (relative to the working folder)."""
_EXECUTOR = re.compile(r"^\s*executor\s*:\s*['\"]?([\w.-]+)", re.MULTILINE)


def _profiles(argv: Sequence[str], environ: Mapping[str, str]) -> list[Path]:
    """The profile folders a snakemake command line (and SNAKEMAKE_PROFILE) names."""
    found = [DEFAULT_PROFILE]
    if environ.get("SNAKEMAKE_PROFILE"):
        found.append(Path(environ["SNAKEMAKE_PROFILE"]))
    for i, arg in enumerate(argv):
        for option in PROFILE_OPTIONS:
            if arg == option and i + 1 < len(argv):
                found.append(Path(argv[i + 1]))
            elif arg.startswith(option + "="):
                found.append(Path(arg.split("=", 1)[1]))
    return found


def _profile_executor(folder: Path) -> str:
    """The executor a profile's config.yaml sets ('' for none, or an unreadable profile)."""
    for candidate in (folder, Path.home() / ".config" / "snakemake" / folder):
        try:
            text = (candidate / "config.yaml").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        match = _EXECUTOR.search(text)
        return match.group(1) if match else ""
    return ""


def is_local_snakemake(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this process is a snakemake command that runs its jobs here, SLURM unnamed."""
    if not argv or os.path.basename(argv[0]) != "snakemake" or "SLURM_CONF" in environ:
        return False
    if any("slurm" in arg.lower() for arg in argv[1:]):
        return False
    return not any("slurm" in _profile_executor(p).lower() for p in _profiles(argv, environ))


def apply() -> None:
    """Set SLURM_CONF=/dev/null for a local snakemake run (see the module's docstring)."""
    import sys

    try:
        if is_local_snakemake(sys.argv, os.environ):
            os.environ["SLURM_CONF"] = os.devnull
    except Exception:  # a start-up hook must never stop Python
        return


HOOK_FILE = "poolpipe-localslurm.pth"
HOOK = (
    'import sys; exec("try:\\n import poolpipe.core.localslurm as m; m.apply()\\nexcept Exception:'
    '\\n pass") if sys.argv[:1] and sys.argv[0].rpartition("/")[2] == "snakemake" else None\n'
)
"""The .pth line: one statement, as site.py runs it; it looks at the program's name first."""


def install_hook() -> Path:
    """Write the start-up hook into this environment's site-packages; its path."""
    path = Path(sysconfig.get_path("purelib"), HOOK_FILE)
    path.write_text(HOOK, encoding="utf-8")
    return path
