"""The dataset sheet: one row per input (name, stage, path and the options that differ per
dataset), checked against its schema, every mistake one sentence."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from poolpipe.errors import PoolpipeError

REQUIRED = ("name", "stage", "path")
ONLY_FOR = {"root": "tasks", "target": "train", "features": "train", "model": "predict"}
"""Columns that mean something for one stage only."""


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


def _cells(row: dict[str, str | None]) -> dict[str, object]:
    """A row's non-empty cells, chunks as a whole number where it is one."""
    out: dict[str, object] = {}
    for key, value in row.items():
        text = (value or "").strip()
        if not text:
            continue
        out[key] = int(text) if key == "chunks" and text.isdigit() else text
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
        raise PoolpipeError(f"{where}: {column}{error.message}")
    stage = cells["stage"]
    for column, owner in ONLY_FOR.items():
        if column in cells and stage != owner:
            raise PoolpipeError(f"{where}: column {column} is for {owner} datasets only")
    if stage == "tasks" and "root" not in cells:
        raise PoolpipeError(f"{where}: a tasks dataset needs its root folder in column root")
    if stage == "predict" and "model" not in cells:
        raise PoolpipeError(f"{where}: a predict dataset names a train dataset in column model")


def read_datasets(path: str | os.PathLike[str], *, schema: str | os.PathLike[str]) -> list[Dataset]:
    """Every dataset of the sheet, in sheet order; a mistake in it is one sentence."""
    sheet = str(path)
    p = Path(path)
    if not p.is_file():
        raise PoolpipeError(f"dataset sheet {sheet} does not exist or is not a file")
    validator = jsonschema.Draft202012Validator(yaml.safe_load(Path(schema).read_text()))
    with p.open(newline="", encoding="utf-8") as fh:
        lines = [
            (n, line)
            for n, line in enumerate(fh, start=1)
            if line.strip() and not line.startswith("#")
        ]
    reader = csv.DictReader((line for _, line in lines), delimiter="\t")
    header = tuple(reader.fieldnames or ())
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PoolpipeError(
            f"dataset sheet {sheet} has no column {missing[0]!r} "
            f"(it needs {', '.join(REQUIRED)}, separated by tabs)"
        )
    datasets: list[Dataset] = []
    seen: dict[str, int] = {}
    for (line, _), row in zip(lines[1:], reader, strict=False):
        if None in row:
            raise PoolpipeError(f"{sheet}, line {line}: more cells than the header has columns")
        cells = _cells(row)
        if not cells:
            continue
        where = _where(sheet, line, cells)
        _check_row(cells, validator, where)
        name = str(cells["name"])
        if name in seen:
            raise PoolpipeError(f"{where}: the name is already used on line {seen[name]}")
        seen[name] = line
        datasets.append(_dataset(cells))
    if not datasets:
        raise PoolpipeError(f"dataset sheet {sheet} lists no dataset")
    return datasets


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
    )
