"""Integration: the dataset sheet through the real `snakemake` command: many inputs per stage,
results per dataset, and a changed or missing input never yields a stale result."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import pytest

from ..workflow_helpers import SMALL, snakemake, with_sheet, workflow_copy
from .test_default_run import reference_sum

pytestmark = pytest.mark.integration

ONLY_SUM = {"stages": ["sum"], "sum": {"chunks": 3, "threads": 2}}
TARGET = "results/sum/mine/total.json"


def numbers(path: Path, values: list[int]) -> Path:
    """A numbers file holding these values, one per line."""
    path.write_text("".join(f"{v}\n" for v in values))
    return path


def sum_run(workdir: Path, path: Path | str, *args: str):
    """Run the sum stage on one dataset named 'mine' at path."""
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": path}], ONLY_SUM)
    return snakemake(workdir, config, TARGET, *args)


def total_of(workdir: Path) -> dict:
    """The 'mine' dataset's total.json."""
    return json.loads((workdir / TARGET).read_text())


@pytest.fixture
def summed(tmp_path: Path) -> tuple[Path, Path]:
    """A workflow copy that has summed one file of the user's."""
    workdir = workflow_copy(tmp_path / "wf")
    own = numbers(tmp_path / "mine.txt", list(range(1, 101)))
    run = sum_run(workdir, own)
    assert run.returncode == 0, run.stderr[-3000:]
    assert total_of(workdir)["total"] == 5050
    return workdir, own


def assert_one_sentence(run, sentence: str) -> None:
    """The run failed with this sentence and no traceback."""
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert sentence in out, out[-3000:]
    assert "Traceback" not in out


def test_an_input_deleted_after_a_run_stops_with_one_sentence(summed):
    workdir, own = summed
    before = (workdir / TARGET).read_bytes()
    own.unlink()
    run = sum_run(workdir, own)
    assert_one_sentence(run, f"dataset 'mine' (sum): input file {str(own)!r} does not exist")
    assert (workdir / TARGET).read_bytes() == before


def test_summary_and_delete_all_output_work_after_an_input_is_deleted(summed):
    # both stopped at the input's check, which is for a run: a run still stops at it
    workdir, own = summed
    own.unlink()
    summary = sum_run(workdir, own, "--summary")
    assert summary.returncode == 0, summary.stderr[-3000:]
    lines = {line.split("\t")[0]: line for line in summary.stdout.splitlines()}
    assert "set of input files changed" in lines["results/sum/mine/chunks.tsv"]
    assert TARGET in lines and "results/sum/mine/parts/2.json" in lines
    assert_one_sentence(sum_run(workdir, own, "--dry-run"), "input file")
    deleted = sum_run(workdir, own, "--delete-all-output")
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    assert not [p for p in (workdir / "results/sum/mine").rglob("*") if p.is_file()]


def test_an_input_replaced_under_the_same_name_is_split_again(summed):
    workdir, own = summed
    stat = own.stat()
    numbers(own, [7, 8, 9] * 40)
    os.utime(own, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    run = sum_run(workdir, own)
    assert run.returncode == 0, run.stderr[-3000:]
    assert total_of(workdir)["total"] == 24 * 40
    assert {k: total_of(workdir)[k] for k in ("total", "numbers")} == {
        k: reference_sum(own)[k] for k in ("total", "numbers")
    }


def test_a_path_changed_to_a_missing_file_stops_with_one_sentence(summed, tmp_path):
    workdir, _ = summed
    before = (workdir / TARGET).read_bytes()
    absent = tmp_path / "nope.txt"
    run = sum_run(workdir, absent)
    assert_one_sentence(run, f"dataset 'mine' (sum): input file {str(absent)!r} does not exist")
    assert (workdir / TARGET).read_bytes() == before


def test_a_path_changed_to_a_directory_stops_with_one_sentence(summed, tmp_path):
    workdir, _ = summed
    before = (workdir / TARGET).read_bytes()
    run = sum_run(workdir, tmp_path)
    assert_one_sentence(run, f"dataset 'mine' (sum): input {str(tmp_path)!r} is a directory")
    assert (workdir / TARGET).read_bytes() == before


def test_a_path_changed_to_another_file_gives_that_files_total(summed, tmp_path):
    workdir, _ = summed
    other = numbers(tmp_path / "other.txt", [10**20, -5, 3])
    run = sum_run(workdir, other)
    assert run.returncode == 0, run.stderr[-3000:]
    total = total_of(workdir)
    assert (total["input"], total["total"], total["numbers"]) == (str(other), 10**20 - 2, 3)


def test_a_file_changed_after_its_split_stops_the_chunk_job(summed):
    workdir, own = summed
    numbers(own, [1, 2, 3])
    os.utime(own, ns=(0, 0))
    run = sum_run(workdir, own, "--rerun-triggers", "mtime", "--forcerun", "sum_chunk")
    assert run.returncode != 0
    assert f"dataset 'mine': input {own} changed since it was split" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (workdir / TARGET).exists() or total_of(workdir)["total"] == 5050


@pytest.mark.parametrize("chunks", [2, 5])
def test_a_split_kept_from_another_chunk_count_is_one_sentence_not_a_part_sum(summed, chunks):
    # --rerun-triggers mtime keeps the 3-chunk split when the count changes: a merge of 2 of its
    # parts was half the file's total under the file's name, chunk 3 of it a traceback
    workdir, own = summed
    (workdir / TARGET).unlink()
    config = with_sheet(
        workdir, [{"name": "mine", "stage": "sum", "path": own, "chunks": chunks}], ONLY_SUM
    )
    run = snakemake(workdir, config, TARGET, "--rerun-triggers", "mtime")
    assert_one_sentence(run, "dataset 'mine': results/sum/mine/chunks.tsv holds 3 chunks, ")
    assert "it was split before the chunk count changed" in run.stderr
    assert not (workdir / TARGET).exists()
    again = snakemake(workdir, config, TARGET)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (total_of(workdir)["total"], total_of(workdir)["chunks"]) == (5050, chunks)


def test_parts_summed_without_strict_are_not_labelled_strict(tmp_path):
    # sum.strict turned on under --rerun-triggers mtime keeps the parts that counted bad lines:
    # total.json said "strict": true beside "bad_lines": 1
    workdir = workflow_copy(tmp_path / "wf")
    own = tmp_path / "mine.txt"
    own.write_text("1\n2\nx\n4\n")
    assert sum_run(workdir, own).returncode == 0
    (workdir / TARGET).unlink()
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own}], ONLY_SUM)
    config["sum"] = {**config["sum"], "strict": True}
    run = snakemake(workdir, config, TARGET, "--rerun-triggers", "mtime")
    assert_one_sentence(run, f"the parts of {own} count 1 bad line, where strict stops at")
    assert not (workdir / TARGET).exists()


def test_two_datasets_per_stage_equal_two_separate_runs(tmp_path):
    a = numbers(tmp_path / "a.txt", list(range(-50, 1000, 7)))
    b = numbers(tmp_path / "b.txt", [3, 1, 4, 1, 5, 9, 2, 6])
    rows = [
        {"name": "a", "stage": "sum", "path": a, "chunks": 4},
        {"name": "b", "stage": "sum", "path": b, "chunks": 2},
    ]
    config = {**SMALL, "stages": ["sum", "train"]}
    both = workflow_copy(tmp_path / "both")
    run = snakemake(
        both, with_sheet(both, rows, config), "results/sum/a/total.json", "results/sum/b/total.json"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for row in rows:
        alone = workflow_copy(tmp_path / f"alone-{row['name']}")
        one = snakemake(
            alone, with_sheet(alone, [row], config), f"results/sum/{row['name']}/total.json"
        )
        assert one.returncode == 0, one.stderr[-3000:]
        folder = Path("results/sum") / row["name"]
        files = sorted(p.relative_to(both / folder) for p in (both / folder).rglob("*.*"))
        assert len(files) == 2 + row["chunks"]
        for rel in files:
            assert filecmp.cmp(both / folder / rel, alone / folder / rel, shallow=False), rel
    assert total_of_name(both, "a")["total"] == sum(range(-50, 1000, 7))
    assert total_of_name(both, "b")["total"] == 31


def total_of_name(workdir: Path, name: str) -> dict:
    """A sum dataset's total.json."""
    return json.loads((workdir / f"results/sum/{name}/total.json").read_text())


@pytest.mark.parametrize(
    ("sheet", "sentence"),
    [
        (
            "name\tstage\tpath\nx\tsort\tdata/x.txt\n",
            "sheet.tsv, line 2 (dataset 'x'): column stage: 'sort' is not one of",
        ),
        (
            "name\tstage\tpath\nx\tsum\ta.txt\nx\tsum\tb.txt\n",
            "sheet.tsv, line 3 (dataset 'x'): the name is already used on line 2",
        ),
        (
            "name\tstage\tpath\nApril\tsum\ta.txt\napril\tsum\tb.txt\n",
            "sheet.tsv, line 3 (dataset 'april'): the name is already used on line 2 (names that "
            "differ only in case collide)",
        ),
        ("name\tstage\nx\tsum\n", "dataset sheet sheet.tsv has no column 'path'"),
        (
            "name\tstage\tpath\n../up\tsum\ta.txt\n",
            "sheet.tsv, line 2 (dataset '../up'): column name: '../up' does not match",
        ),
        (
            "name\tstage\tpath\tchunks\nx\tsum\ta.txt\t0\n",
            "column chunks: 0 is less than the minimum of 1",
        ),
        (
            "name\tstage\tpath\ttarget\nx\tsum\ta.txt\ty\n",
            "column target is for train datasets only",
        ),
        (
            "name\tstage\tpath\nt\ttasks\tm.jsonl\n",
            "a tasks dataset needs its root folder in column root",
        ),
        (
            "name\tstage\tpath\troot\nt\ttasks\tm.jsonl\tresults/sum\n",
            "dataset 't' (tasks): root folder 'results/sum' lies in the workflow's results/, "
            "which its tasks could rewrite; choose a folder apart from results/, logs/ and "
            ".snakemake/",
        ),
        (
            "name\tstage\tpath\troot\nt\ttasks\tm.jsonl\t.\n",
            "dataset 't' (tasks): root folder '.' holds the workflow's results/",
        ),
        (  # its own split as its input: a cycle, whose merge took a stale split's parts
            "name\tstage\tpath\nx\tsum\tresults/sum/x/chunks.tsv\n",
            "dataset 'x' (sum): input 'results/sum/x/chunks.tsv' lies in the workflow's "
            "results/, which a run rewrites; copy it elsewhere first",
        ),
        (
            "name\tstage\tpath\nwd\tsum\tdata/{dataset}.txt\n",
            "dataset 'wd' (sum): the path 'data/{dataset}.txt' holds '{dataset}', which Snakemake "
            "reads as a wildcard; rename the file, or link to it from a name without braces",
        ),
    ],
)
def test_a_mistake_in_the_sheet_is_one_sentence(tmp_path, sheet, sentence):
    workdir = workflow_copy(tmp_path / "wf")
    (workdir / "sheet.tsv").write_text(sheet)
    run = snakemake(workdir, {"datasets": "sheet.tsv"}, "--dry-run")
    assert_one_sentence(run, sentence)


def test_a_missing_previous_crawl_is_one_sentence_before_any_job(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    (workdir / "sheet.tsv").write_text("name\tstage\tpath\nu\tcrawl\turls.txt\n")
    (workdir / "urls.txt").write_text("http://127.0.0.1:9/\n")
    config = {"datasets": "sheet.tsv", "crawl": {"previous": str(tmp_path / "gone.tsv")}}
    run = snakemake(workdir, config, "--dry-run")
    assert_one_sentence(
        run, f"crawl.previous: input file {str(tmp_path / 'gone.tsv')!r} does not exist"
    )
    own = workdir / "results/crawl/u/pages.tsv"  # this run's own output, which it rewrites
    own.parent.mkdir(parents=True)
    own.write_text("line\turl\n")
    config["crawl"]["previous"] = "results/crawl/u/pages.tsv"
    assert_one_sentence(
        snakemake(workdir, config, "--dry-run"),
        "crawl.previous 'results/crawl/u/pages.tsv' lies in the workflow's results/, which a "
        "run rewrites; copy it elsewhere first",
    )


@pytest.mark.parametrize("chunk", ["3", "03"])
def test_a_target_past_a_datasets_chunks_is_one_sentence(tmp_path, chunk):
    workdir = workflow_copy(tmp_path / "wf")
    own = numbers(tmp_path / "mine.txt", [1, 2, 3])
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own}], ONLY_SUM)
    run = snakemake(workdir, config, f"results/sum/mine/parts/{chunk}.json", "--dry-run")
    assert_one_sentence(
        run, f"dataset 'mine' (sum) has 3 chunks, numbered 0 to 2: there is no chunk {chunk}"
    )


@pytest.mark.parametrize("where", ["results/sum/mine", TARGET])
def test_a_file_or_folder_in_a_results_place_is_one_sentence(tmp_path, where):
    workdir = workflow_copy(tmp_path / "wf")
    own = numbers(tmp_path / "mine.txt", [1, 2, 3])
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own}], ONLY_SUM)
    if where == TARGET:
        (workdir / TARGET).mkdir(parents=True)
        sentence = f"output {TARGET} is a folder, not a file: move it out of the way"
    else:
        (workdir / where).parent.mkdir(parents=True)
        (workdir / where).write_text("not a folder\n")
        sentence = f"output {TARGET} cannot be written: {where} is not a folder; move it"
    assert_one_sentence(snakemake(workdir, config, "--dry-run"), sentence)
    assert_one_sentence(snakemake(workdir, config, TARGET), sentence)  # named: not up to date


def test_stages_with_no_dataset_in_the_sheet_are_one_sentence_and_keep_the_report(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    own = numbers(tmp_path / "mine.txt", [1, 2, 3])
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own}], ONLY_SUM)
    report = workdir / "results/report/report.html"
    report.parent.mkdir(parents=True)
    report.write_text("an earlier report\n")
    run = snakemake(workdir, {**config, "stages": ["tasks"]})
    assert_one_sentence(
        run,
        "no dataset of the sheet sheet.tsv is for the chosen stages (tasks): nothing to run; "
        "add rows for them, or choose other stages",
    )
    assert report.read_text() == "an earlier report\n"
    named = snakemake(workdir, {**config, "stages": ["tasks"]}, TARGET)  # `stages` is for bare runs
    assert named.returncode == 0, named.stderr[-3000:]
    assert total_of(workdir)["total"] == 6


def test_a_baseline_that_is_no_timings_csv_is_one_sentence_before_any_job(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    own = numbers(tmp_path / "mine.txt", [1, 2, 3])
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own}], ONLY_SUM)
    (tmp_path / "hw.csv").write_text("hello,world\n")
    config["report"] = {"baseline": str(tmp_path / "hw.csv")}
    run = snakemake(workdir, config)
    assert_one_sentence(
        run,
        f"report.baseline {str(tmp_path / 'hw.csv')!r} is not a timings.csv: it lacks rule, "
        "dataset, chunk, wall_s",
    )
    assert not (workdir / "results").exists()  # no job ran


@pytest.mark.parametrize(
    ("config", "sentence"),
    [
        (
            {"crawl": {"internal_networks": ["10.0.0.0/33"]}},
            "crawl settings: internal_networks: '10.0.0.0/33' is not an address range (CIDR)",
        ),
        (
            {"supervise": {"workers": [{"name": "a", "interval_s": 0.1}] * 2}},
            "worker loop or program name 'a' is used twice",
        ),
        (
            {
                "supervise": {
                    "workers": [{"name": "a", "interval_s": 0.1, "ticks": 5, "fail_at_tick": 50}]
                }
            },
            "worker loop 'a': fail_at_tick 50 is past its last tick, 5",
        ),
    ],
)
def test_a_crawl_or_supervise_setting_its_job_refuses_is_one_sentence_before_any_job(
    tmp_path, config, sentence
):
    workdir = workflow_copy(tmp_path / "wf")
    assert_one_sentence(snakemake(workdir, config, "--dry-run"), sentence)


def test_the_old_single_input_key_points_to_the_sheet(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, {"sum": {"input": "/tmp/nope.txt"}}, "--dry-run")
    assert_one_sentence(
        run, "sum.input is no longer read: the inputs are rows of the dataset sheet"
    )


def test_stages_choose_what_a_bare_run_makes(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, {"stages": ["sum"]}, "--dry-run")
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout + run.stderr
    assert "rule merge_sum:" in out and "results/sum/numbers/total.json" in out
    assert "rule split_train:" not in out and "rule supervise:" not in out
    assert "rule bench_cpu:" not in out and "rule report:" in out


def test_command_line_overrides_in_their_working_forms(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    numbers(workdir / "mine.txt", [1, 2, 3, 4])
    (workdir / "sheet.tsv").write_text("name\tstage\tpath\nmine\tsum\tmine.txt\n")
    top_level = ["--config", "datasets=sheet.tsv", "stages=[sum]"]
    nested = snakemake(workdir, None, TARGET, *top_level, "sum={chunks: 3}")
    assert nested.returncode != 0
    assert "config key 'sum.chunks': '3' is not of type integer" in nested.stdout + nested.stderr
    run = snakemake(workdir, {"sum": {"chunks": 3}}, TARGET, *top_level)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (total_of(workdir)["total"], total_of(workdir)["chunks"]) == (10, 3)


def test_a_finished_run_says_where_the_report_is(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    numbers(workdir / "mine.txt", [1, 2])
    (workdir / "sheet.tsv").write_text("name\tstage\tpath\nmine\tsum\tmine.txt\n")
    config = {"datasets": "sheet.tsv", "stages": ["sum"], "sum": {"chunks": 1}}
    run = snakemake(workdir, config)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout + run.stderr
    page = workdir.resolve() / "results/report/report.html"
    assert f"poolpipe: done; the report is {page}" in out
    assert "Shell command: None" not in out
    left = f"results/<stage>/<dataset>/ (this run did not update the report, {page})"
    for moves in ([TARGET], ["--until", "merge_sum"], ["--omit-from", "report"]):
        (workdir / TARGET).unlink()
        again = snakemake(workdir, config, *moves)
        assert again.returncode == 0, again.stderr[-3000:]
        assert (
            f"poolpipe: done; results per dataset are under {left}" in again.stdout + again.stderr
        )


def test_an_in_place_edit_is_seen_with_the_content_hash_only(tmp_path):
    own = numbers(tmp_path / "big.txt", [1] * (1_200_000))  # 2.4 MB: the middle is no edge
    workdir = workflow_copy(tmp_path / "wf")
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own}], ONLY_SUM)
    assert snakemake(workdir, config, TARGET).returncode == 0
    stat = own.stat()
    with open(own, "r+b") as fh:
        fh.seek(1_200_000)  # a line start in the middle: "1" becomes "7"
        fh.write(b"7")
    os.utime(own, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    plain = snakemake(workdir, config, TARGET)
    assert plain.returncode == 0 and total_of(workdir)["total"] == 1_200_000  # documented
    hashed = snakemake(workdir, {**config, "inputs": {"hash_content": True}}, TARGET)
    assert hashed.returncode == 0, hashed.stderr[-3000:]
    assert total_of(workdir)["total"] == 1_200_006
