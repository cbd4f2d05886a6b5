"""Input identity and the dataset sheet: what a split records, and one sentence for each mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from poolpipe.core import (
    checked_manifest,
    identify,
    read_datasets,
    read_manifest_identity,
    split_file,
    write_manifest,
)
from poolpipe.errors import PoolpipeError

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "datasets.schema.yaml"


def split(tmp_path: Path, data: bytes) -> tuple[Path, Path]:
    """A file of data and its two-chunk manifest with the file's identity."""
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    manifest = tmp_path / "chunks.tsv"
    write_manifest(manifest, split_file(src, 2), identify(src))
    return src, manifest


def test_a_manifest_records_the_inputs_identity(tmp_path):
    src, manifest = split(tmp_path, b"1\n2\n3\n")
    assert read_manifest_identity(manifest) == identify(src)
    assert [r.end for r in checked_manifest(manifest, dataset="d")][-1] == 6


def test_the_fingerprint_sees_a_change_of_the_same_size_and_mtime(tmp_path):
    src, manifest = split(tmp_path, b"1\n2\n3\n" * 1000)
    stat = src.stat()
    src.write_bytes(b"1\n2\n4\n" * 1000)
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(PoolpipeError, match=r"dataset 'd': input .*in.txt changed since it was"):
        checked_manifest(manifest, dataset="d")


def test_a_deleted_input_is_one_sentence(tmp_path):
    src, manifest = split(tmp_path, b"1\n")
    src.unlink()
    with pytest.raises(PoolpipeError, match=r"dataset 'd': input .*in.txt changed .*does not"):
        checked_manifest(manifest, dataset="d")


def test_a_manifest_without_identity_is_not_trusted(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"1\n")
    write_manifest(tmp_path / "m.tsv", split_file(src, 1))
    with pytest.raises(PoolpipeError, match="records no input identity"):
        checked_manifest(tmp_path / "m.tsv", dataset="d")


def test_the_sheet_reads_per_dataset_options(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text(
        "# inputs\nname\tstage\tpath\tchunks\tfeatures\n\n"
        "a\ttrain\tx.csv\t3\tx1, x2\nb\tsum\tn.txt\t\t\n"
    )
    a, b = read_datasets(sheet, schema=SCHEMA)
    assert (a.name, a.chunks, a.features, a.target) == ("a", 3, ("x1", "x2"), None)
    assert (b.stage, b.chunks, b.features) == ("sum", None, None)


def test_a_chunks_cell_that_is_not_a_number_is_one_sentence(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("name\tstage\tpath\tchunks\na\tsum\tn.txt\tmany\n")
    with pytest.raises(PoolpipeError, match=r"line 2 \(dataset 'a'\): column chunks: 'many'"):
        read_datasets(sheet, schema=SCHEMA)
