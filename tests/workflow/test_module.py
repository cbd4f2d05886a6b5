"""Integration: poolpipe as a module of another workflow (`module` / `use rule * from`), on that
workflow's own sheet and config, gives the same results as poolpipe run directly."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ..workflow_helpers import ROOT, same_result, snakemake, with_sheet, workflow_copy

pytestmark = pytest.mark.integration

SETTINGS = {
    "stages": ["sum", "train"],
    "sum": {"chunks": 3, "threads": 2},
    "train": {"chunks": 2, "threads": 2},
    "timing": {"compare_serial": False},
}
"""What the outer workflow changes in its copy of poolpipe's config/config.yaml."""
RESULTS = [
    "results/sum/mine/chunks.tsv",
    "results/sum/mine/total.json",
    "results/train/fit/chunks.tsv",
    "results/train/fit/model.json",
]
OUTER = f"""\
configfile: "outer.yaml"


module poolpipe:
    snakefile:
        "{ROOT / "Snakefile"}"
    config:
        config["poolpipe"]


use rule * from poolpipe as poolpipe_*


rule all:
    default_target: True
    input:
        rules.poolpipe_all.input,
"""


def own_data(folder: Path) -> list[dict]:
    """A numbers file and a training CSV of the outer workflow's, and its sheet's rows."""
    folder.mkdir()
    numbers = folder / "numbers.txt"
    numbers.write_text("".join(f"{(i * 7919) % 1000 - 300}\n" for i in range(2000)))
    rows = folder / "rows.csv"
    lines = ["a,b,y"]
    for i in range(400):
        a, b = (i * 37) % 101 / 10, (i * 53) % 97 / 10
        lines.append(f"{a},{b},{1.5 + 2 * a - 0.5 * b + ((i * 31) % 11 - 5) / 100}")
    rows.write_text("\n".join(lines) + "\n")
    return [
        {"name": "mine", "stage": "sum", "path": numbers},
        {"name": "fit", "stage": "train", "path": rows, "target": "y"},
    ]


def ours(changes: dict) -> dict:
    """poolpipe's config/config.yaml with these sections changed: the config a module is given
    (snakedeploy copies that file for it), as the direct run reads it with --configfile."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for section, value in changes.items():
        config[section] = {**config.get(section, {}), **value} if isinstance(value, dict) else value
    return config


def caption(workdir: Path, *args: str) -> str:
    """The text of the global caption in `snakemake --report`'s zip, after a run."""
    run = snakemake(workdir, None, "--report", "report.zip", *args)
    assert run.returncode == 0, run.stderr[-3000:]
    with zipfile.ZipFile(workdir / "report.zip") as zf:
        return zf.read("report/report.html").decode()


def test_as_a_module_the_results_are_those_of_a_direct_run(tmp_path):
    rows = own_data(tmp_path / "data")
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "Snakefile").write_text(OUTER)
    config = with_sheet(outer, rows, ours(SETTINGS))
    (outer / "outer.yaml").write_text(yaml.safe_dump({"poolpipe": config}))
    run = snakemake(outer)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "poolpipe_sum_chunk" in run.stderr and "poolpipe_merge_train" in run.stderr

    direct = workflow_copy(tmp_path / "direct")
    run = snakemake(direct, with_sheet(direct, rows, SETTINGS))
    assert run.returncode == 0, run.stderr[-3000:]

    for path in RESULTS:
        assert same_result(outer / path, direct / path), path
    assert (outer / "results/report/report.html").stat().st_size > 0
    assert not (outer / "config").exists(), "the module reads its files from its own folder"

    inside = caption(outer)
    assert "poolpipe runs chunked parallel work" in inside and "stages chosen" not in inside
    assert "stages chosen: sum, train" in caption(direct, "--configfile", "test.yaml")


SNAKEDEPLOY = "snakedeploy==0.17.1"
"""From PyPI into a virtual environment of the test's own: the project's lock does not hold it."""


@pytest.mark.slow
def test_snakedeploy_deploys_from_a_local_path_and_the_deployment_runs(tmp_path):
    tools = tmp_path / "tools"
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True, timeout=300)
    pip = [str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", SNAKEDEPLOY]
    subprocess.run(pip, check=True, timeout=600, capture_output=True)
    source, dest = workflow_copy(tmp_path / "poolpipe"), tmp_path / "deployed"
    deploy = [str(tools / "bin" / "snakedeploy"), "deploy-workflow", str(source), str(dest)]
    done = subprocess.run(
        [*deploy, "--branch", "main", "--name", "poolpipe"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (dest / "config" / "config.yaml").read_bytes() == (
        source / "config/config.yaml"
    ).read_bytes()
    assert (dest / "profiles" / "default").is_dir()
    snakefile = dest / "workflow" / "Snakefile"
    # snakedeploy's local mode writes the module's path relative to the source folder, which
    # Snakemake reads relative to workflow/: point it at the source, as docs/usage.md says
    text = snakefile.read_text()
    assert '        "Snakefile"\n' in text and "use rule * from poolpipe" in text
    snakefile.write_text(
        text.replace('        "Snakefile"\n', f'        "{source / "Snakefile"}"\n')
    )

    rows = own_data(tmp_path / "data")[:1]
    config = with_sheet(dest, rows, {"stages": ["sum"], "sum": {"chunks": 3, "threads": 2}})
    run = snakemake(dest, config, "results/sum/mine/total.json")
    assert run.returncode == 0, run.stderr[-3000:]
    numbers = [int(x) for x in Path(rows[0]["path"]).read_text().split()]
    assert json.loads((dest / "results/sum/mine/total.json").read_text())["total"] == sum(numbers)
