"""Integration: every shell command of README.md and docs/usage.md, as written, in a copy of
the workflow whose config is small and whose sheet and config file (my.tsv, my.yaml) are the
ones the documents' own examples show.

The commands are the lines of the ```sh blocks, run one by one with bash in the order the
documents give them. Only two things differ from a user's shell, both listed here: the
placeholder folder /path/to/ is a temporary folder, and the commands that must not run
inside a test are skipped with their reason."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from ..workflow_helpers import LOCAL_ENV, ROOT, workflow_copy

pytestmark = pytest.mark.integration
DOCS = ["README.md", "docs/usage.md"]
NOT_RUN = {
    "make run": "sets up .venv (pip) and runs the full-size demo of every stage; the command "
    "it runs, .venv/bin/snakemake --cores all, is run here on the small config",
    "make run CORES=4": "as make run, on 4 cores",
    "make test": "the whole test suite, this test included",
}
"""Commands (comment aside) not run, with the reason."""
PLACEHOLDER = "/path/to/"
SMALL_CONFIG = {
    "datasets": "config/datasets.tsv",
    "stages": ["sum"],
    "demo": {"seed": 7, "numbers": {"lines": 3000, "blank_lines": 2, "bad_lines": 1}},
    "sum": {"chunks": 2, "threads": 2},
    "timing": {"compare_serial": True},
    "bench": {"overhead": {"repeats": 1, "tasks": 20, "threads": 2}},
}


def documented_commands() -> list[tuple[str, str]]:
    """(document, command line) for every line of every ```sh block, in order."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
            found += [(doc, line) for line in block.splitlines() if line.strip()]
    return found


def documented_file(doc: str, name: str) -> str:
    """The ```yaml block of a document that begins `# NAME`: a file its commands name."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    (block,) = re.findall(rf"^```yaml\n(# {re.escape(name)}\n.*?)^```", text, re.M | re.S)
    return block


def bare(command: str) -> str:
    """The command without its trailing comment."""
    return command.split(" #", 1)[0].strip()


def test_the_skip_list_names_documented_commands_only():
    documented = {bare(c) for _, c in documented_commands()}
    assert set(NOT_RUN) <= documented


def test_every_documented_command_works_as_written(tmp_path):
    place = tmp_path / "placeholder"
    place.mkdir()
    for name, values in [("numbers.txt", range(1, 101)), ("april.txt", [5] * 30), ("may.txt", [7])]:
        (place / name).write_text("".join(f"{v}\n" for v in values))
    work = workflow_copy(tmp_path / "wf")
    (work / ".venv").symlink_to(ROOT / ".venv")
    (work / "config/config.yaml").write_text(yaml.safe_dump(SMALL_CONFIG))
    (work / "config/datasets.tsv").write_text("name\tstage\tpath\nnumbers\tsum\tdata/numbers.txt\n")
    (work / "my.tsv").write_text(
        f"name\tstage\tpath\tchunks\napril\tsum\t{place}/april.txt\t16\nmay\tsum\t{place}/may.txt\n"
    )
    (work / "my.yaml").write_text(documented_file("docs/usage.md", "my.yaml"))
    env = {**LOCAL_ENV, "PATH": f"{work / '.venv/bin'}{os.pathsep}{os.environ['PATH']}"}
    ran = skipped = 0
    for doc, command in documented_commands():
        if bare(command) in NOT_RUN:
            skipped += 1
            continue
        line = command.replace(PLACEHOLDER, f"{place}/")
        run = subprocess.run(
            ["bash", "-c", line],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"{doc}: {command}\n{out[-3000:]}"
        assert "Traceback" not in out, f"{doc}: {command}\n{out[-3000:]}"
        ran += 1
    assert ran >= 8 and ran + skipped == len(documented_commands())
    assert (work / "results/sum/april/total.json").is_file()
    assert (work / "results/report/snakemake.html").is_file()
