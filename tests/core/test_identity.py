"""Input identity and the dataset sheet: what a split records, and one sentence for each mistake."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from poolpipe.core import (
    checked_manifest,
    content_hash,
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


def test_a_small_input_only_touched_is_still_the_file_that_was_split(tmp_path):
    # Snakemake checksums a touched input of up to 1 MB and splits nothing again: the split
    # it keeps must stay trusted, or every later run would fail on it
    src, manifest = split(tmp_path, b"1\n2\n3\n" * 1000)
    os.utime(src, ns=(0, src.stat().st_mtime_ns + 10**9))
    assert [r.end for r in checked_manifest(manifest, dataset="d")][-1] == 6000


def test_a_large_input_touched_is_split_again(tmp_path):
    # past 2 MiB the fingerprint reads the ends only: a new time may hide an edit inside
    src, manifest = split(tmp_path, b"1\n2\n3\n" * 500_000)
    os.utime(src, ns=(0, src.stat().st_mtime_ns + 10**9))
    with pytest.raises(PoolpipeError, match=r"modification time \(ns\) \d+ -> \d+\)"):
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
        "# inputs\nname\tstage\tpath\tchunks\tfeatures\tdemo_settings\n\n"
        "a\ttrain\tx.csv\t3\tx1, x2\tcompare_serial, compare_full_fit\nb\tsum\tn.txt\t\t\t\n"
    )
    a, b = read_datasets(sheet, schema=SCHEMA)
    assert (a.name, a.chunks, a.features, a.target) == ("a", 3, ("x1", "x2"), None)
    assert (b.stage, b.chunks, b.features) == ("sum", None, None)
    assert (a.demo_settings, b.demo_settings) == ({"compare_serial", "compare_full_fit"}, set())


def test_a_sheet_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_bytes("name\tstage\tpath\nb\tsum\tn.txt\n".encode("utf-8-sig"))
    (b,) = read_datasets(sheet, schema=SCHEMA)
    assert (b.name, b.stage, b.path) == ("b", "sum", "n.txt")


def test_a_chunks_cell_that_is_not_a_number_is_one_sentence(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("name\tstage\tpath\tchunks\na\tsum\tn.txt\tmany\n")
    with pytest.raises(PoolpipeError, match=r"line 2 \(dataset 'a'\): column chunks: 'many'"):
        read_datasets(sheet, schema=SCHEMA)


@pytest.mark.parametrize("cell", ["²", "٣", "\uff13", "1_0", "+3"])
def test_chunks_are_ascii_digits_only(tmp_path, cell):
    sheet = tmp_path / "s.tsv"
    sheet.write_text(f"name\tstage\tpath\tchunks\na\tsum\tn.txt\t{cell}\n", encoding="utf-8")
    with pytest.raises(PoolpipeError) as caught:
        read_datasets(sheet, schema=SCHEMA)
    assert str(caught.value) == (
        f"{sheet}, line 2 (dataset 'a'): column chunks: {cell!r} is not a whole number in the "
        "ASCII digits 0-9"
    )


def test_a_latin1_sheet_is_one_sentence_naming_line_and_column(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_bytes("name\tstage\tpath\n# ok\nb\tsum\tcafé.txt\n".encode("latin-1"))
    with pytest.raises(PoolpipeError) as caught:
        read_datasets(sheet, schema=SCHEMA)
    assert str(caught.value) == (
        f"{sheet}, line 3, column path: byte 0xe9 is not UTF-8 text; save the sheet as UTF-8"
    )


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "folder"])
def test_a_sheet_that_is_not_a_regular_file_is_refused_without_reading(tmp_path, special):
    if special == "fifo":
        path = tmp_path / "s.tsv"
        os.mkfifo(path)
    elif special == "folder":
        path = tmp_path
    else:
        path = Path(special)
    with pytest.raises(PoolpipeError, match=r"^dataset sheet '.*' is (not a regular file|a dir)"):
        read_datasets(path, schema=SCHEMA)


def test_a_giant_sheet_is_refused_by_its_size(tmp_path):
    sheet = tmp_path / "s.tsv"
    with open(sheet, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: no disk used
    with pytest.raises(PoolpipeError, match=r"dataset sheet '.*' is larger than 16,777,216 bytes"):
        read_datasets(sheet, schema=SCHEMA)


def test_demo_settings_are_checked_names(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("name\tstage\tpath\tdemo_settings\nb\tsum\tn.txt\tcompare_serail\n")
    with pytest.raises(PoolpipeError) as caught:
        read_datasets(sheet, schema=SCHEMA)
    assert str(caught.value) == (
        f"{sheet}, line 2 (dataset 'b'): column demo_settings: unknown setting "
        "'compare_serail'; did you mean 'compare_serial'?"
    )
    sheet.write_text("name\tstage\tpath\tdemo_settings\nb\tsum\tn.txt\tdemo_site\n")
    with pytest.raises(
        PoolpipeError, match="column demo_settings: demo_site is for crawl datasets"
    ):
        read_datasets(sheet, schema=SCHEMA)


def test_the_content_hash_sees_an_edit_the_identity_cannot(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"1\n" * (3 << 20))
    before, whole = identify(src), content_hash(src)
    assert whole == "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest()
    stat = src.stat()
    with open(src, "r+b") as fh:
        fh.seek(3 << 20)
        fh.write(b"7")
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert identify(src) == before  # size, mtime and both ends: the documented blind spot
    assert content_hash(src) != whole


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            'name\tstage\tpath\nq\tsum\t"n.txt\t\nt\ttrain\tt.csv\n',
            "{sheet}, line 2: a cell that starts with a quote runs on to the next line; remove "
            "the quote, or close it in the same cell",
        ),
        (
            "name\tstage\tpath\tchunks\tchunks\nb\tsum\tn.txt\t4\t8\n",
            "dataset sheet {sheet}: the header names column 'chunks' twice",
        ),
        (
            "name\tstage\tpath\tchunk\nb\tsum\tn.txt\t\n",
            "dataset sheet {sheet}: unknown column 'chunk'; did you mean 'chunks'?",
        ),
        (
            "name\tstage\tpath\tcolour\nb\tsum\tn.txt\tred\n",
            "dataset sheet {sheet}: unknown column 'colour'; the columns are name, stage, path, "
            "root, chunks, target, features, model, demo_settings",
        ),
        (
            "name,stage,path\nb,sum,n.txt\n",
            "dataset sheet {sheet} has no column 'name' (it needs name, stage, path, separated "
            "by tabs; its header is separated by ',', not tabs)",
        ),
        (
            "name\tstage\tpath\nb\tsum\tn.txt\t\n",
            "{sheet}, line 2: more cells than the header has columns (an empty one: a tab at "
            "the line's end?)",
        ),
        (
            "name\tstage\tpath\nb\tsum\tn.txt\t4\n",
            "{sheet}, line 2: more cells than the header has columns",
        ),
        (
            "name\tstage\tpath\nb\tsum\tn.txt\0\n",  # os.stat's ValueError, a traceback
            "{sheet}, line 2: column path holds a NUL character, which no name or path can",
        ),
        (
            "name\tstage\tpath\tfeatures\nt\ttrain\tt.csv\t, ,\n",
            "{sheet}, line 2 (dataset 't'): column features names no column; leave it empty "
            "for train.features",
        ),
    ],
)
def test_a_sheet_that_would_be_read_otherwise_than_meant_is_one_sentence(tmp_path, text, sentence):
    sheet = tmp_path / "s.tsv"
    sheet.write_text(text)
    with pytest.raises(PoolpipeError) as caught:
        read_datasets(sheet, schema=SCHEMA)
    assert str(caught.value) == sentence.format(sheet=sheet)


def test_spaces_around_a_columns_name_are_dropped_as_around_a_cell(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("name \t stage\tpath  \tchunks\nb\tsum\tn.txt\t3\n")
    (b,) = read_datasets(sheet, schema=SCHEMA)  # was: "has no column 'name'"
    assert (b.name, b.stage, b.path, b.chunks) == ("b", "sum", "n.txt", 3)


def test_a_quoted_cell_and_a_header_that_ends_in_a_tab_are_read(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text('name\tstage\tpath\t\nb\tsum\t"my\tnumbers.txt"\t\n')
    (b,) = read_datasets(sheet, schema=SCHEMA)
    assert b.path == "my\tnumbers.txt"
