"""A model.json read back for predictions: its features, target and one method's coefficients."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from poolpipe.core.inputs import read_small_file
from poolpipe.errors import PoolpipeError

METHODS = ("exact", "ridge", "average", "weighted_average")
"""The fits of a model.json that can predict."""

MODEL_LIMIT = 256 * 2**20
"""The largest model.json read: far above one of 10,000 features and 1,000 chunk fits."""
NUMBER_DIGITS = 400
"""A number in a model.json with more characters than this is refused before it is converted."""


def _parse_float(text: str) -> float:
    if len(text) > NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text):,} characters")
    return float(text)


def _parse_int(text: str) -> float:
    """An integer as the float it stands for (inf past the float limit: refused later)."""
    if len(text) > NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text):,} characters")
    try:
        return float(int(text))
    except OverflowError:
        return math.inf


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read(path: str | os.PathLike[str]) -> Any:
    """The model.json's document, or one sentence: too large, not JSON, nested too deeply."""
    data = read_small_file(path, label="model", limit=MODEL_LIMIT)
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_float=_parse_float,
            parse_int=_parse_int,
            parse_constant=_constant,
        )
    except RecursionError:
        raise PoolpipeError(f"{path} is not a model.json: it is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoolpipeError(f"{path} is not a model.json: it is not JSON ({exc})") from None


@dataclass(frozen=True)
class SavedModel:
    """The coefficients of one fit of a model.json, with the columns they belong to."""

    path: str
    method: str
    features: tuple[str, ...]
    target: str
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for rows of the features, in the model's order."""
        with np.errstate(over="ignore", invalid="ignore"):
            return x @ self.coef + self.intercept


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def load_model(path: str | os.PathLike[str], method: str = "exact") -> SavedModel:
    """Read a model.json written by `poolpipe train` or merge_train; a wrong one is one sentence."""
    if method not in METHODS:
        raise PoolpipeError(f"the method must be one of {', '.join(METHODS)}, not {method!r}")
    doc = _read(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("exact"), dict):
        raise PoolpipeError(f"{path} is not a model.json: it has no exact fit")
    features, target = doc.get("features"), doc.get("target")
    if (
        not isinstance(features, list)
        or not all(isinstance(f, str) and f for f in features)
        or not isinstance(target, str)
    ):
        raise PoolpipeError(f"{path} is not a model.json: its features or target are missing")
    fit = doc.get(method)
    if not isinstance(fit, dict):
        raise PoolpipeError(f"{path} holds no {method} fit (train.ridge sets one for ridge)")
    coef, intercept = fit.get("coef"), fit.get("intercept")
    if (
        not isinstance(coef, list)
        or len(coef) != len(features)
        or not all(_number(c) for c in coef)
        or not _number(intercept)
    ):
        raise PoolpipeError(
            f"{path} is not a model.json: its {method} fit needs {len(features)} finite "
            "coefficients and a finite intercept"
        )
    return SavedModel(
        path=str(path),
        method=method,
        features=tuple(features),
        target=target,
        coef=np.asarray(coef, dtype=float),
        intercept=float(intercept),
    )
