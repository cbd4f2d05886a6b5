"""One rule for sizing pools: every script asks poolpipe.core.job_processes, never `threads`.

docs/architecture.md and docs/cluster.md promise that a job's pool has its rule's threads, capped
at the CPUs the job may use; a script reading `smk.threads` itself would skip the cap.
"""

import ast
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))


def threads_reads(path: Path) -> list[int]:
    """The lines where a script reads an object's `threads` attribute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "threads"
    ]


def test_the_scripts_are_found():
    assert len(SCRIPTS) > 10


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_script_sizes_a_pool_with_threads(path):
    assert threads_reads(path) == [], f"{path.name}: use poolpipe.core.job_processes(smk)"


def test_the_check_sees_a_threads_read(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("def main(smk):\n    return run(processes=smk.threads)\n")
    assert threads_reads(script) == [2]
