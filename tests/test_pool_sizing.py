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


def _spy(monkeypatch, module):
    """Record the worker counts a module's pool_map is asked for, and run it as it would."""
    asked: list[int] = []
    real = module.pool_map

    def spy(fn, tasks, processes, **kwargs):
        asked.append(processes)
        return real(fn, tasks, processes, **kwargs)

    monkeypatch.setattr(module, "pool_map", spy)
    return asked


def test_a_tiny_input_gets_a_pool_no_larger_than_its_tasks(tmp_path, monkeypatch):
    """--processes 1024 on 4 rows ran 4 million empty tasks in 1,024 workers (minutes)."""
    import json

    import poolpipe.bench.sharedarray as sharedarray
    import poolpipe.train.fit as fit
    import poolpipe.train.predict as predict
    from poolpipe.core.chunks import Range, split_file
    from poolpipe.train.model import train_file

    data = tmp_path / "ok.csv"
    data.write_text("x,y\n1,2\n2,4.1\n3,5.9\n4,8.2\n")
    pieces = fit.pieces_of(Range(str(data), 4, data.stat().st_size))
    assert 1 <= len(pieces) <= 18 and all(p.size for p in pieces)
    assert (pieces[0].start, pieces[-1].end) == (4, data.stat().st_size)
    trained = _spy(monkeypatch, fit)
    many = train_file(str(data), "y", processes=1024, chunks=1024)
    one = train_file(str(data), "y", processes=1, chunks=1)
    assert many["rows"] == one["rows"] == 4 and many["chunks"] == 1024
    assert many["exact"]["coef"] == pytest.approx(one["exact"]["coef"], rel=1e-14)
    assert trained and max(trained) <= 4
    assert fit.train_workers(split_file(str(data), 1024, skip_header=True), 1024) == 4
    assert fit.train_workers(split_file(str(data), 1, skip_header=True), 1) == 1
    model = tmp_path / "m.json"
    model.write_text(json.dumps(one))
    predicted = _spy(monkeypatch, predict)
    summary = predict.predict_file(str(model), str(data), str(tmp_path / "p.csv"), processes=1024)
    # 4 rows are one piece (pieces follow the bytes): one worker, however many are allowed
    assert summary["scored_rows"] == 4 and predicted == [1]
    assert predict.predict_workers(str(data), 1024) == predict.predict_workers(str(data), 2) == 1
    assert (tmp_path / "p.csv").read_text().count("\n") == 5
    doubled = _spy(monkeypatch, sharedarray)
    assert sharedarray.double_shared([1, 2], 1024) == [2, 4] and doubled == [2]


def test_a_commands_timing_record_names_the_workers_that_ran(tmp_path):
    """A record of 1,024 processes for 4 rows divided its efficiency by 1,024."""
    import json
    import subprocess
    import sys

    data = tmp_path / "ok.csv"
    data.write_text("x,y\n1,2\n2,4.1\n3,5.9\n4,8.2\n")
    command = [sys.executable, "-m", "poolpipe.cli", "train", str(data), "--target", "y"]
    for asked, ran in ((1024, 4), (2, 2)):
        timing = tmp_path / f"t{asked}.json"
        run = subprocess.run(
            [*command, "--processes", str(asked), "--timing", str(timing)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(timing.read_text())["processes"] == ran


def test_a_crawls_timing_record_names_the_workers_that_ran(tmp_path):
    """A crawl of one URL with --processes 8 was recorded as 8 processes."""
    import json
    import subprocess
    import sys

    from poolpipe.crawl import CrawlSettings, crawl_workers

    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/\n")
    assert crawl_workers(str(urls), CrawlSettings(), 8) == 1
    many = tmp_path / "many.txt"
    many.write_text("".join(f"http://127.0.0.1:9/{i}\n" for i in range(64)))
    assert crawl_workers(str(many), CrawlSettings(), 8) == 8
    assert crawl_workers(str(many), CrawlSettings(concurrency=3), 8) == 3
    timing = tmp_path / "t.json"
    command = [sys.executable, "-m", "poolpipe.cli", "crawl", str(urls), "--processes", "8"]
    run = subprocess.run(
        [*command, "--out", str(tmp_path / "p"), "--retries", "0", "--timing", str(timing)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(timing.read_text())["processes"] == 1
