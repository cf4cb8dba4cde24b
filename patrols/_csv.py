"""Strict reading of the small configuration CSVs (stations, units, sites).

Each bad value becomes an ``InputError`` naming the file, the line and the
field, so a planner can fix it from one line of output.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import time
from pathlib import Path

from patrols.errors import InputError


class Row:
    """One CSV row with typed getters that report the file, line and field."""

    def __init__(self, path: Path, line: int, values: dict[str, str]) -> None:
        self.path = path
        self.line = line
        self.values = values

    def error(self, field: str | None, message: str) -> InputError:
        """An ``InputError`` pointing at this row (and field)."""
        return InputError(self.path, message, row=self.line, field=field)

    def text(self, field: str, required: bool = True) -> str:
        """The stripped text of a field; empty is refused when required."""
        value = (self.values.get(field) or "").strip()
        if required and not value:
            raise self.error(field, "is empty")
        return value

    def number(self, field: str, required: bool = True, low: float | None = None,
               high: float | None = None) -> float | None:
        """A float field within ``[low, high]``; ``None`` when optional and empty."""
        raw = self.text(field, required)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self.error(field, f"{raw!r} is not a number") from None
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            raise self.error(field, f"{raw} is out of range [{low}, {high}]")
        return value

    def latlon(self) -> tuple[float, float]:
        """The row's ``lat`` and ``lon``, checked against their ranges."""
        lat = self.number("lat", low=-90.0, high=90.0)
        lon = self.number("lon", low=-180.0, high=180.0)
        assert lat is not None and lon is not None
        return lat, lon

    def clock(self, field: str) -> time | None:
        """An optional ``HH:MM`` local time."""
        raw = self.text(field, required=False)
        if not raw:
            return None
        try:
            hh, mm = (int(part) for part in raw.split(":"))
            return time(0 if (hh, mm) == (24, 0) else hh, mm)
        except ValueError:
            raise self.error(field, f"{raw!r} is not a time HH:MM") from None


def read_rows(path: str | Path, required: list[str]) -> Iterator[Row]:
    """Yield the rows of a CSV whose header has at least the ``required`` columns.

    Parameters
    ----------
    path
        The CSV file.
    required
        Column names that must be in the header on line 1.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise InputError(path, "file is empty; expected a header on line 1", row=1)
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(path, "missing column(s) " + ", ".join(missing) +
                                 " in the header", row=1)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    for line, values in enumerate(rows, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if values[0].lstrip().startswith("#"):
            continue
        if len(values) > len(header):
            raise InputError(path, f"{len(values)} values for {len(header)} columns", row=line)
        yield Row(path, line, dict(zip(header, values, strict=False)))
