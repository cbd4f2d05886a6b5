"""The columns of a CSV file a fit uses: the header, the features, the target, the weights and a
reference row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_UNUSED = 255


@dataclass(frozen=True, kw_only=True)
class Columns:
    """The fields of a CSV file a fit uses (features, the target, the weights) and a reference row.

    The reference row is the first good row of the file; every chunk subtracts it
    before summarising, so large offsets cost no precision. target is None where
    only the features are read (predictions); weight is None for an unweighted fit.
    """

    path: str
    delimiter: str
    header: tuple[str, ...]
    features: tuple[int, ...]
    target: int | None
    reference: tuple[float, ...] = ()
    weight: int | None = None

    @property
    def feature_names(self) -> list[str]:
        """The features' names, in fit order."""
        return [self.header[i] for i in self.features]

    @property
    def target_name(self) -> str | None:
        """The target's name."""
        return None if self.target is None else self.header[self.target]

    @property
    def weight_name(self) -> str | None:
        """The weight column's name, None for an unweighted fit."""
        return None if self.weight is None else self.header[self.weight]

    @property
    def used(self) -> tuple[int, ...]:
        """Field indexes of the parsed columns: the features, the target, the weights."""
        extra = [i for i in (self.target, self.weight) if i is not None]
        return (*self.features, *extra)

    @property
    def width(self) -> int:
        """Number of parsed columns."""
        return len(self.used)

    @property
    def fit_width(self) -> int:
        """Number of columns of the fitted rows [X y]."""
        return len(self.features) + 1

    @property
    def ignored(self) -> list[str]:
        """Names of the header's fields that the fit does not use."""
        used = set(self.used)
        return [name for i, name in enumerate(self.header) if i not in used]

    def slots(self) -> bytes:
        """For each header field, its output column in the parsed rows (255: unused)."""
        out = bytearray([_UNUSED]) * len(self.header)
        for slot, index in enumerate(self.used):
            out[index] = slot
        return bytes(out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "input": self.path,
            "delimiter": self.delimiter,
            "header": list(self.header),
            "target": self.target_name,
            "features": self.feature_names,
            "ignored_columns": self.ignored,
            "target_field": self.target,
            "feature_fields": list(self.features),
            "reference_row": list(self.reference),
            "weights": self.weight_name,
            "weight_field": self.weight,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Columns:
        """Inverse of to_json."""
        return cls(
            path=data["input"],
            delimiter=data["delimiter"],
            header=tuple(data["header"]),
            features=tuple(data["feature_fields"]),
            target=data["target_field"],
            reference=tuple(data["reference_row"]),
            weight=data.get("weight_field"),
        )
