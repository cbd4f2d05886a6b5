"""The dataset sheet: one row per input (name, stage, path and the options that differ per
dataset), checked against its schema, every mistake one sentence."""

from __future__ import annotations

import csv
import difflib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from poolpipe.core.inputs import read_small_file
from poolpipe.errors import PoolpipeError

REQUIRED = ("name", "stage", "path")
ONLY_FOR = {"root": "tasks", "target": "train", "features": "train", "model": "predict"}
"""Columns that mean something for one stage only."""
DEMO_SETTINGS = {
    "compare_serial": ("sum", "train", "crawl"),
    "compare_full_fit": ("train",),
    "demo_site": ("crawl",),
}
"""The demo-only settings a user's dataset may opt into (column demo_settings), and the stages
each means something for: by default they apply to the demo datasets only."""
SHEET_LIMIT = 16 << 20
"""The largest sheet read: a sheet is a short list of files, never data."""


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """One row of the sheet; None means the stage's setting in the config."""

    name: str
    stage: str
    path: str
    root: str | None = None
    chunks: int | None = None
    target: str | None = None
    features: tuple[str, ...] | None = None
    model: str | None = None
    demo_settings: frozenset[str] = frozenset()


def _cells(row: dict[str, str | None]) -> dict[str, object]:
    """A row's non-empty cells, chunks as a whole number where it is one."""
    out: dict[str, object] = {}
    for key, value in row.items():
        text = (value or "").strip()
        if not text:
            continue
        # only ASCII digits: str.isdigit also takes '²' (int refuses it) and '٣' (int reads 3)
        out[key] = int(text) if key == "chunks" and text.isascii() and text.isdigit() else text
    return out


def _where(sheet: str, line: int, cells: dict[str, object]) -> str:
    """How a sentence names a row of the sheet."""
    name = cells.get("name")
    return f"{sheet}, line {line}" + (f" (dataset {name!r})" if name else "")


def _check_row(
    cells: dict[str, object], validator: jsonschema.Draft202012Validator, where: str
) -> None:
    """One sentence for the first thing wrong with a row."""
    error = next(iter(sorted(validator.iter_errors(cells), key=lambda e: list(e.path))), None)
    if error is not None:
        column = f"column {error.path[0]}: " if error.path else ""
        if error.path and error.path[0] == "chunks" and isinstance(error.instance, str):
            raise PoolpipeError(
                f"{where}: column chunks: {error.instance!r} is not a whole number in the "
                "ASCII digits 0-9"
            )
        raise PoolpipeError(f"{where}: {column}{error.message}")
    stage = cells["stage"]
    for column, owner in ONLY_FOR.items():
        if column in cells and stage != owner:
            raise PoolpipeError(f"{where}: column {column} is for {owner} datasets only")
    if stage == "tasks" and "root" not in cells:
        raise PoolpipeError(f"{where}: a tasks dataset needs its root folder in column root")
    if "features" in cells and not _dataset(cells).features:
        raise PoolpipeError(
            f"{where}: column features names no column; leave it empty for train.features"
        )
    if stage == "predict" and "model" not in cells:
        raise PoolpipeError(f"{where}: a predict dataset names a train dataset in column model")
    for setting in _settings(cells):
        if setting not in DEMO_SETTINGS:
            near = difflib.get_close_matches(setting, DEMO_SETTINGS, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"one of {', '.join(DEMO_SETTINGS)}"
            raise PoolpipeError(
                f"{where}: column demo_settings: unknown setting {setting!r}; {hint}"
            )
        if stage not in DEMO_SETTINGS[setting]:
            raise PoolpipeError(
                f"{where}: column demo_settings: {setting} is for "
                f"{' and '.join(DEMO_SETTINGS[setting])} datasets only"
            )


def _settings(cells: dict[str, object]) -> list[str]:
    """The demo-only settings a row opts into, in its cell's order."""
    return [s.strip() for s in str(cells.get("demo_settings", "")).split(",") if s.strip()]


def _decoded(data: bytes, sheet: str) -> str:
    """The sheet as text (without the byte-order mark some editors put first), or one sentence
    naming the line and column of its first non-UTF-8 byte."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        start = before.rfind(b"\n") + 1
        field = before[start:].count(b"\t")
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r").split("\t")
        column = header[field] if line > 1 and field < len(header) else f"field {field + 1}"
        raise PoolpipeError(
            f"{sheet}, line {line}, column {column}: byte 0x{data[exc.start]:02x} is not UTF-8 "
            "text; save the sheet as UTF-8"
        ) from None


def read_datasets(path: str | os.PathLike[str], *, schema: str | os.PathLike[str]) -> list[Dataset]:
    """Every dataset of the sheet, in sheet order; a mistake in it is one sentence."""
    sheet = str(path)
    text = _decoded(read_small_file(path, label="dataset sheet", limit=SHEET_LIMIT), sheet)
    validator = jsonschema.Draft202012Validator(yaml.safe_load(Path(schema).read_text()))
    lines = [
        (n, line)
        for n, line in enumerate(io.StringIO(text, newline=""), start=1)
        if line.strip() and not line.startswith("#")
    ]
    reader = csv.DictReader((line for _, line in lines), delimiter="\t")
    # spaces around a column's name go, as around a cell: 'name ' is the column name
    reader.fieldnames = [name.strip() for name in reader.fieldnames or ()]
    _check_header(tuple(reader.fieldnames), validator.schema["properties"], sheet)
    datasets: list[Dataset] = []
    seen: dict[str, int] = {}
    names: set[str] = set()
    for (line, _), row in zip(lines[1:], reader, strict=False):
        if None in row:
            extra = row[None]  # type: ignore[index]
            empty = " (an empty one: a tab at the line's end?)" if not any(extra) else ""
            raise PoolpipeError(
                f"{sheet}, line {line}: more cells than the header has columns{empty}"
            )
        if any("\n" in (value or "") or "\r" in (value or "") for value in row.values()):
            raise PoolpipeError(
                f"{sheet}, line {line}: a cell that starts with a quote runs on to the next line; "
                "remove the quote, or close it in the same cell"
            )
        nul = next((column for column, value in row.items() if "\0" in (value or "")), None)
        if nul is not None:
            raise PoolpipeError(
                f"{sheet}, line {line}: column {nul} holds a NUL character, which no name or "
                "path can"
            )
        cells = _cells(row)
        if not cells:
            continue
        where = _where(sheet, line, cells)
        _check_row(cells, validator, where)
        name = str(cells["name"])
        if name.casefold() in seen:
            # results/<stage>/A and .../a are one folder on macOS's and Windows' usual disks
            raise PoolpipeError(
                f"{where}: the name is already used on line {seen[name.casefold()]}"
                + ("" if name in names else " (names that differ only in case collide)")
            )
        seen[name.casefold()] = line
        names.add(name)
        datasets.append(_dataset(cells))
    if not datasets:
        raise PoolpipeError(f"dataset sheet {sheet} lists no dataset")
    return datasets


def _check_header(header: tuple[str, ...], columns: dict[str, object], sheet: str) -> None:
    """The header names the required columns, each column once and only known ones."""
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        apart = next((c for c in ",; " if len(header) == 1 and c in header[0]), None)
        raise PoolpipeError(
            f"dataset sheet {sheet} has no column {missing[0]!r} "
            f"(it needs {', '.join(REQUIRED)}, separated by tabs"
            + (f"; its header is separated by {apart!r}, not tabs)" if apart else ")")
        )
    twice = next((c for i, c in enumerate(header) if c in header[:i]), None)
    if twice is not None:
        raise PoolpipeError(f"dataset sheet {sheet}: the header names column {twice!r} twice")
    unknown = next((c for c in header if c and c not in columns), None)  # '': a trailing tab
    if unknown is not None:
        near = difflib.get_close_matches(unknown, list(columns), n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"the columns are {', '.join(columns)}"
        raise PoolpipeError(f"dataset sheet {sheet}: unknown column {unknown!r}; {hint}")


def _dataset(cells: dict[str, object]) -> Dataset:
    """A checked row as a Dataset."""
    features = cells.get("features")
    return Dataset(
        name=str(cells["name"]),
        stage=str(cells["stage"]),
        path=str(cells["path"]),
        root=cells.get("root"),  # type: ignore[arg-type]
        chunks=cells.get("chunks"),  # type: ignore[arg-type]
        target=cells.get("target"),  # type: ignore[arg-type]
        model=cells.get("model"),  # type: ignore[arg-type]
        features=None
        if features is None
        else tuple(f.strip() for f in str(features).split(",") if f.strip()),
        demo_settings=frozenset(_settings(cells)),
    )
