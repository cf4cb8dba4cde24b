"""Community tension layers and planned events: reading them, and how they raise the surface.

A tension layer is an analyst's community tension assessment: GeoJSON
polygons or points, each with a ``level`` from 1 (low) to 6 (critical) and a
``valid_from`` / ``valid_to`` period. A planned event (``events.csv``:
``event_id,kind,lat,lon,start,end,level``, e.g. a demonstration or a surgery) is
a point of time-bounded demand with the same 1-6 level.

While valid, both raise the hotspot surface: a polygon adds to every street
piece whose middle lies inside it; a point or event adds to the pieces within
one kernel bandwidth of it by network distance, fading with the same quartic
kernel as incidents. A level-6 item adds the score found at the top 5% of street
length (so it makes a street a top-5% street on its own); lower levels add
``level / 6`` of that. Readers are at the edge (files in, plain objects out);
:func:`tension_uplift` is pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from patrols._csv import read_rows
from patrols.errors import InputError
from patrols.kde import StreetPieces

LEVELS = range(1, 7)
# Share of street length whose lowest score is the yardstick a level-6 item adds.
REFERENCE_SHARE = 0.05


@dataclass(frozen=True)
class TensionArea:
    """One feature of a tension layer: where, how tense, and while when."""

    tension_id: str
    geometry: BaseGeometry
    """WGS84 polygon, multipolygon, point or multipoint."""
    level: int
    valid_from: datetime
    valid_to: datetime


@dataclass(frozen=True)
class PlannedEvent:
    """A planned event that draws demand while it lasts."""

    event_id: str
    kind: str
    lat: float
    lon: float
    start: datetime
    end: datetime
    level: int
    line: int = 0


def parse_when(raw: object, source: Path, row: int | None, field: str, end: bool) -> datetime:
    """A strict ISO 8601 date or date-time as a naive Europe/London wall time (one with an offset is
    converted; a bare date is the day's start, or the next day's start when ``end``); an
    ``InputError`` naming ``source``, row and field when it is not one."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise InputError(source, "is empty; expected an ISO date or date-time", row=row, field=field)
    try:
        # Strict ISO 8601 only: a free-text parser would take "June" for a date.
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(source, f"{text!r} is not an ISO date or date-time", row=row,
                         field=field) from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
    # A bare end date means to the end of that day.
    if end and len(text) == 10:
        stamp = stamp + timedelta(days=1)
    return stamp


def parse_level(raw: object, source: Path, row: int | None, field: str) -> int:
    """A tension level, a whole number 1-6; an ``InputError`` naming ``source``, row and field."""
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise InputError(source, f"level {raw!r} is not a number 1-6", row=row, field=field) from None
    if value != int(value) or int(value) not in LEVELS:
        raise InputError(source, f"level {raw!r} must be a whole number 1-6", row=row, field=field)
    return int(value)


def read_tension(path: str | Path) -> list[TensionArea]:
    """Read a tension layer (GeoJSON FeatureCollection of polygons or points).

    Parameters
    ----------
    path
        GeoJSON whose features carry ``level`` (1-6), ``valid_from`` and
        ``valid_to`` (ISO dates or date-times; a bare ``valid_to`` date is
        inclusive) and optionally ``tension_id``.

    Returns
    -------
    list of TensionArea
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "tension file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid GeoJSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError(path, "expected a GeoJSON FeatureCollection")
    out = []
    for i, feat in enumerate(doc.get("features") or []):
        where = f"features[{i}]"
        props = (feat or {}).get("properties") or {}
        try:
            geom = shape(feat["geometry"])
        except Exception:
            raise InputError(path, "missing or invalid geometry", field=f"{where}.geometry") from None
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon", "Point", "MultiPoint"):
            raise InputError(path, f"{geom.geom_type} is not a polygon or point",
                             field=f"{where}.geometry")
        for key in ("level", "valid_from", "valid_to"):
            if key not in props:
                raise InputError(path, "missing property", field=f"{where}.properties.{key}")
        start = parse_when(props["valid_from"], path, None, f"{where}.properties.valid_from", end=False)
        stop = parse_when(props["valid_to"], path, None, f"{where}.properties.valid_to", end=True)
        if stop <= start:
            raise InputError(path, "valid_to is not after valid_from", field=f"{where}.properties.valid_to")
        out.append(TensionArea(
            tension_id=str(props.get("tension_id") or props.get("id") or f"T{i + 1}"),
            geometry=geom,
            level=parse_level(props["level"], path, None, f"{where}.properties.level"),
            valid_from=start, valid_to=stop,
        ))
    return out


def read_events(path: str | Path) -> list[PlannedEvent]:
    """Read planned events: ``event_id,kind,lat,lon,start,end,level``.

    Parameters
    ----------
    path
        The events CSV; ``start`` and ``end`` are ISO date-times in local time.

    Returns
    -------
    list of PlannedEvent
    """
    events = []
    seen: set[str] = set()
    for row in read_rows(path, ["event_id", "kind", "lat", "lon", "start", "end", "level"]):
        eid = row.text("event_id")
        if eid in seen:
            raise row.error("event_id", f"duplicate event id {eid!r}")
        seen.add(eid)
        lat, lon = row.latlon()
        start = parse_when(row.text("start"), row.path, row.line, "start", end=False)
        stop = parse_when(row.text("end"), row.path, row.line, "end", end=True)
        if stop <= start:
            raise row.error("end", "end is not after start")
        events.append(PlannedEvent(eid, row.text("kind"), lat, lon, start, stop,
                                   parse_level(row.text("level"), row.path, row.line, "level"), row.line))
    return events


def active(items: list, start: datetime, end: datetime) -> list:
    """The tension areas or events whose period overlaps ``[start, end)``."""
    out = []
    for item in items:
        a, b = (item.valid_from, item.valid_to) if isinstance(item, TensionArea) else (item.start, item.end)
        if a < end and b > start:
            out.append(item)
    return out


def reference_score(score: np.ndarray, length_m: np.ndarray, share: float = REFERENCE_SHARE) -> float:
    """The lowest score among the top ``share`` of street length (0 if the surface is empty)."""
    order = np.argsort(-score, kind="stable")
    cum = np.cumsum(length_m[order])
    k = int(np.searchsorted(cum, share * cum[-1], side="left")) if len(cum) else 0
    return float(score[order][min(k, len(order) - 1)]) if len(order) else 0.0


def tension_uplift(pieces: StreetPieces, project, items: list, reference: float, bandwidth_m: float,
                   gain: float = 1.0) -> np.ndarray:
    """How much active tension areas and events add to each street piece's score.

    Parameters
    ----------
    pieces
        The street pieces.
    project
        ``(lat, lon) -> (x, y)`` into the pieces' metric CRS (``Network.project``).
    items
        Active :class:`TensionArea` and :class:`PlannedEvent` objects.
    reference
        The score a level-6 item adds (see :func:`reference_score`).
    bandwidth_m
        How far a point or event reaches along the streets.
    gain
        Multiplier on the whole uplift.

    Returns
    -------
    numpy.ndarray
        Addition to each piece's score (where two items overlap, the larger counts).
    """
    add = np.zeros(len(pieces))
    if not items or reference <= 0:
        return add
    peak = 15.0 / (16.0 * bandwidth_m)
    for item in items:
        amount = gain * reference * item.level / 6.0
        geom = item.geometry if isinstance(item, TensionArea) else shapely.Point(item.lon, item.lat)
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            inside = shapely.contains_xy(geom, pieces.mid_lon, pieces.mid_lat)
            np.maximum(add, np.where(inside, amount, 0.0), out=add)
            continue
        pts = [geom] if geom.geom_type == "Point" else list(geom.geoms)
        x, y = project([p.y for p in pts], [p.x for p in pts])
        at = pieces.snap(x, y, bandwidth_m)
        at = at[at >= 0]
        if len(at) == 0:
            continue
        # Shape of the incident kernel, scaled to 1 at the point itself.
        fade = np.asarray(pieces.kernel_matrix(at, bandwidth_m).max(axis=0).todense()).ravel() / peak
        np.maximum(add, amount * fade, out=add)
    return add
