"""A job script's log on a full disk: the job's sentence still reaches the console, and the
interpreter's exit does not fail on a last flush. The split and chunk jobs' skeleton."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace

from poolpipe.core import Range, identify, read_json, read_manifest, read_record, write_manifest
from poolpipe.core.script import chunk_job, split_job

JOB = """\
import logging
import sys
from types import SimpleNamespace

from poolpipe.core.script import run_script
from poolpipe.errors import PoolpipeError


def main(smk):
    logging.info("x" * 10000)
    if sys.argv[2] == "fail":
        raise PoolpipeError("'results/x.json' cannot be written: No space left on device")


smk = SimpleNamespace(log=[sys.argv[1]], rule="merge_x", wildcards={}, threads=1)
run_script(smk, main)
"""


def _job(log: str, outcome: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", JOB, log, outcome],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_job_whose_log_is_on_a_full_disk_still_says_its_sentence():
    done = _job("/dev/full", "fail")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "rule merge_x: error: 'results/x.json' cannot be written: No space left on device"
    )
    assert "lost sys.stderr" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_job_whose_log_is_on_a_full_disk_succeeds_if_its_work_does():
    done = _job("/dev/full", "ok")
    assert done.returncode == 0, done.stderr
    assert "lost sys.stderr" not in done.stderr


def test_a_failed_job_with_a_log_copies_its_last_line_to_the_console(tmp_path):
    log = tmp_path / "job.log"
    done = _job(str(log), "fail")
    assert done.returncode == 1
    assert done.stderr == (
        "rule merge_x: error: 'results/x.json' cannot be written: No space left on device\n"
    )
    assert log.read_text().splitlines()[-1] == done.stderr.strip()


class _Wildcards(dict):
    """Snakemake's wildcards: read by key and by attribute."""

    __getattr__ = dict.__getitem__


@dataclass
class _Part:
    lines: int
    size: int

    def to_json(self) -> dict:
        return {"lines": self.lines, "bytes": self.size}


def test_a_split_job_and_a_chunk_job_write_their_manifest_part_and_timing(tmp_path):
    data = tmp_path / "n.txt"
    data.write_text("".join(f"{i}\n" for i in range(300)))
    split = SimpleNamespace(
        input=[str(data)],
        params=SimpleNamespace(chunks=3),
        wildcards=_Wildcards(dataset="d"),
        output=SimpleNamespace(manifest=str(tmp_path / "chunks.tsv"), timing=str(tmp_path / "s")),
        rule="split_numbers",
    )
    split_job(split, "sum", lambda path: ({str(tmp_path / "look.json"): {"seen": path}}, 7))
    ranges = read_manifest(split.output.manifest)
    assert len(ranges) == 3 and ranges[-1].end == data.stat().st_size
    assert ranges[0].label() == f"bytes 0-{ranges[0].end} of {data}"
    assert read_json(tmp_path / "look.json") == {"seen": str(data)}
    assert read_record(split.output.timing).items == 7

    seen = []

    def work(chunk, processes, serial, ctx):
        seen.append((chunk.label(), processes, serial, ctx))
        return _Part(lines=3, size=chunk.size)

    chunk = SimpleNamespace(
        input=SimpleNamespace(manifest=split.output.manifest),
        params=SimpleNamespace(compare_serial=True, serial_note=None),
        wildcards=_Wildcards(dataset="d", chunk="1"),
        output=SimpleNamespace(part=str(tmp_path / "1.json"), timing=str(tmp_path / "c")),
        rule="sum_chunk",
        threads=1,
    )
    part = chunk_job(chunk, "sum", work, lambda p: (p.lines, p.size))
    middle = read_manifest(split.output.manifest)[1]
    assert seen == [(middle.label(), 1, False, None), (middle.label(), 1, True, None)]
    assert read_json(chunk.output.part) == {"lines": 3, "bytes": middle.size}
    record = read_record(chunk.output.timing)
    assert (record.chunk, record.items, record.bytes) == (1, 3, middle.size) == (1, 3, part.size)
    assert record.serial_wall_s is not None


def test_a_compared_chunk_is_read_once_before_either_timed_run(tmp_path, monkeypatch):
    """Else the pool's run alone reads a cold chunk from the disk, and loses to the rerun."""
    import poolpipe.core.script as script

    data = tmp_path / "n.txt"
    data.write_text("".join(f"{i}\n" for i in range(300)))
    manifest = tmp_path / "chunks.tsv"
    write_manifest(manifest, [Range(str(data), 0, data.stat().st_size)], identify(data))
    events = []
    real = script.iter_blocks

    def blocks(rng, *args):
        events.append(("read", rng.size))
        return real(rng, *args)

    def work(chunk, processes, serial, ctx):
        events.append(("serial" if serial else "pool", chunk.size))
        return _Part(lines=300, size=chunk.size)

    monkeypatch.setattr(script, "iter_blocks", blocks)
    for compare in (True, False):
        events.clear()
        job = SimpleNamespace(
            input=SimpleNamespace(manifest=str(manifest)),
            params=SimpleNamespace(compare_serial=compare, serial_note=None),
            wildcards=_Wildcards(dataset="d", chunk="0"),
            output=SimpleNamespace(part=str(tmp_path / "0.json"), timing=str(tmp_path / "t")),
            rule="sum_chunk",
            threads=1,
        )
        chunk_job(job, "sum", work, lambda p: (p.lines, p.size))
        size = data.stat().st_size
        want = [("read", size), ("pool", size), ("serial", size)] if compare else [("pool", size)]
        assert events == want
