"""Reading incident records: the police.uk street-level CSV and a generic CSV.

Both readers return one table with the same columns:

``incident_id`` (str), ``timestamp`` (naive local datetime64), ``month_only``
(bool: police.uk gives the month, not the day), ``lat``, ``lon`` (float),
``category`` (a police.uk category slug such as ``violent-crime``) and
``severity`` (float multiplier, 1 when absent).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from patrols.errors import InputError

COLUMNS = ["incident_id", "timestamp", "month_only", "lat", "lon", "category", "severity"]
POLICE_UK_HEADER = ("Crime ID", "Month", "Longitude", "Latitude", "Crime type")
GENERIC_HEADER = ("incident_id", "timestamp", "lat", "lon", "category")

# police.uk "Crime type" names to the slugs the police.uk API uses.
POLICE_UK_CATEGORIES = {
    "anti-social behaviour": "anti-social-behaviour",
    "bicycle theft": "bicycle-theft",
    "burglary": "burglary",
    "criminal damage and arson": "criminal-damage-arson",
    "drugs": "drugs",
    "other theft": "other-theft",
    "possession of weapons": "possession-of-weapons",
    "public order": "public-order",
    "robbery": "robbery",
    "shoplifting": "shoplifting",
    "theft from the person": "theft-from-the-person",
    "vehicle crime": "vehicle-crime",
    "violence and sexual offences": "violent-crime",
    "violent crime": "violent-crime",
    "other crime": "other-crime",
}


def category_slug(name: str) -> str:
    """Normalise a category name ("Violence and sexual offences") to its slug."""
    key = name.strip().lower()
    if key in POLICE_UK_CATEGORIES:
        return POLICE_UK_CATEGORIES[key]
    return re.sub(r"[^a-z0-9]+", "-", key).strip("-")


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_incidents(path: str | Path) -> pd.DataFrame:
    """Read one incidents file, recognising police.uk or the generic layout by its header.

    Parameters
    ----------
    path
        A ``.csv`` or ``.csv.gz`` file.

    Returns
    -------
    pandas.DataFrame
        The columns in ``COLUMNS``. police.uk rows published without a location
        are skipped (they cannot be placed); any other bad row is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "incidents file not found")
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError(path, "file is empty")
            header = [h.strip() for h in header]
            if all(h in header for h in POLICE_UK_HEADER):
                return _police_uk(path, header, reader)
            if all(h in header for h in GENERIC_HEADER):
                return _generic(path, header, reader)
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    missing = [h for h in GENERIC_HEADER if h not in header]
    raise InputError(
        path,
        "not a police.uk CSV and missing generic column(s) " + ", ".join(missing),
        row=1,
    )


def read_all(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read and concatenate several incidents files."""
    frames = [read_incidents(p) for p in paths]
    if not frames:
        return _frame([], [], [], [], [], [], [])
    return pd.concat(frames, ignore_index=True)


def _frame(ids, ts, month_only, lat, lon, cat, sev) -> pd.DataFrame:
    return pd.DataFrame({
        "incident_id": pd.Series(ids, dtype=str),
        "timestamp": pd.to_datetime(pd.Series(ts, dtype="datetime64[s]")),
        "month_only": pd.Series(month_only, dtype=bool),
        "lat": pd.Series(lat, dtype=float),
        "lon": pd.Series(lon, dtype=float),
        "category": pd.Series(cat, dtype=str),
        "severity": pd.Series(sev, dtype=float),
    })


def _check_latlon(path: Path, line: int, lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0) or not math.isfinite(lat):
        raise InputError(path, f"latitude {lat} out of range", row=line, field="lat")
    if not (-180.0 <= lon <= 180.0) or not math.isfinite(lon):
        raise InputError(path, f"longitude {lon} out of range", row=line, field="lon")


def _police_uk(path: Path, header: list[str], rows) -> pd.DataFrame:
    col = {h: i for i, h in enumerate(header)}
    ids, ts, lat, lon, cat = [], [], [], [], []
    # A file holds a few months and a dozen categories: each is parsed once, not once a row.
    months: dict[str, np.datetime64] = {}
    slugs: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise InputError(path, f"expected {len(header)} columns, got {len(row)}", row=line)
        la, lo = row[col["Latitude"]].strip(), row[col["Longitude"]].strip()
        if not la or not lo:
            continue  # published with no location: nothing to place
        text = row[col["Month"]].strip()
        month = months.get(text)
        if month is None:
            try:
                month = months[text] = pd.Timestamp(text + "-15").to_datetime64()
            except ValueError:
                raise InputError(path, f"month {row[col['Month']]!r} is not YYYY-MM",
                                 row=line, field="Month") from None
        try:
            fla, flo = float(la), float(lo)
        except ValueError:
            raise InputError(path, "latitude/longitude is not a number", row=line,
                             field="Latitude") from None
        _check_latlon(path, line, fla, flo)
        crime_id = row[col["Crime ID"]].strip() or f"{path.stem}:{line}"
        ids.append(crime_id)
        # Month-only dates sit mid-month so recency weights are unbiased.
        ts.append(month)
        lat.append(fla)
        lon.append(flo)
        kind = row[col["Crime type"]]
        slug = slugs.get(kind)
        if slug is None:
            slug = slugs[kind] = category_slug(kind)
        cat.append(slug)
    n = len(ids)
    return _frame(ids, ts, [True] * n, lat, lon, cat, [1.0] * n)


def _generic(path: Path, header: list[str], rows) -> pd.DataFrame:
    col = {h: i for i, h in enumerate(header)}
    has_sev = "severity" in col
    ids, ts, lat, lon, cat, sev = [], [], [], [], [], []
    for line, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise InputError(path, f"expected {len(header)} columns, got {len(row)}", row=line)

        def get(name: str, _row=row) -> str:
            return _row[col[name]].strip()

        iid = get("incident_id")
        if not iid:
            raise InputError(path, "empty incident_id", row=line, field="incident_id")
        try:
            stamp = pd.Timestamp(get("timestamp"))
        except ValueError:
            raise InputError(path, f"timestamp {get('timestamp')!r} is not ISO 8601",
                             row=line, field="timestamp") from None
        if stamp is pd.NaT:
            raise InputError(path, "empty timestamp", row=line, field="timestamp")
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("Europe/London").tz_localize(None)
        for name in ("lat", "lon"):
            try:
                float(get(name))
            except ValueError:
                raise InputError(path, f"{name} {get(name)!r} is not a number",
                                 row=line, field=name) from None
        fla, flo = float(get("lat")), float(get("lon"))
        _check_latlon(path, line, fla, flo)
        category = get("category")
        if not category:
            raise InputError(path, "empty category", row=line, field="category")
        severity = 1.0
        if has_sev and get("severity"):
            try:
                severity = float(get("severity"))
            except ValueError:
                raise InputError(path, f"severity {get('severity')!r} is not a number",
                                 row=line, field="severity") from None
            if severity < 0 or not np.isfinite(severity):
                raise InputError(path, "severity must be >= 0", row=line, field="severity")
        ids.append(iid)
        ts.append(stamp.to_datetime64())
        lat.append(fla)
        lon.append(flo)
        cat.append(category_slug(category))
        sev.append(severity)
    return _frame(ids, ts, [False] * len(ids), lat, lon, cat, sev)
