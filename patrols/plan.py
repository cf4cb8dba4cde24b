"""The Plan: the one object every output reads, saved and loaded as JSON.

A plan holds the week's routes (one per unit-shift, each a list of stops with
times and the street path between them), the hotspots and sites it was made
for, what it could not serve and why, and the figures the summary reports. It
holds no solver state, so maps and exports can be made again without solving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

SCHEMA = "patrols.plan/1"
STOP_KINDS = ("station", "protective", "hotspot")


@dataclass(frozen=True)
class Stop:
    """A stop on a route. ``arrive`` is when service starts (after any wait)."""

    seq: int
    kind: str
    ref: str
    lat: float
    lon: float
    arrive: datetime | None
    depart: datetime | None
    value: float = 0.0
    """What the visit was worth to the plan: a hotspot's prize after dosage; 0 otherwise."""
    place: str = ""
    """Where the stop is, in words: its street and the nearest crossing street, or a station's name."""
    change: str = ""
    """Against the parent plan of a re-plan: ``added``, ``moved`` (from another unit), ``retimed``
    (same unit, more than the tolerance from its time), or empty (unchanged, or not a re-plan)."""
    was: str = ""
    """For a moved or retimed stop: the unit and time it had in the parent plan (``CX-C1 14:20``)."""
    note: str = ""
    """Why a protective visit is made beyond the site's weekly visits: the planned event or the
    escalation it serves, in words (``escalation: protest E-1 Thu 18:00-21:00``); empty otherwise."""

    @property
    def dwell_min(self) -> float:
        """Minutes spent at the stop (0 at the station)."""
        if self.arrive is None or self.depart is None:
            return 0.0
        return (self.depart.timestamp() - self.arrive.timestamp()) / 60.0


@dataclass(frozen=True)
class Route:
    """One unit-shift's route: leave the station, make the stops, come back."""

    unit_id: str
    mode: str
    station_id: str
    date: date
    shift: str
    start: datetime
    end: datetime
    stops: tuple[Stop, ...]
    path: tuple[tuple[float, float], ...]
    """Street geometry as (lon, lat), station to station."""
    km: float
    busy_min: float
    """Planned travel plus dwell: the part of the shift the plan takes."""

    @property
    def key(self) -> str:
        """``unit/date/shift``: unique within a plan."""
        return f"{self.unit_id}/{self.date.isoformat()}/{self.shift}"


@dataclass(frozen=True)
class PlannedSite:
    """A protected site as the plan knows it."""

    site_id: str
    kind: str
    tier: int
    lat: float
    lon: float
    label: str = ""
    person_id: str = ""
    """The person (``people.csv``) the site protects; empty when none is named."""


@dataclass(frozen=True)
class PlannedHotspot:
    """A hotspot patrol point offered to the solver."""

    hotspot_id: str
    lat: float
    lon: float
    score: float
    prize: float = 0.0
    """What a visit is worth before dosage (see ``patrols.hotspots.Hotspot``); kept so a re-plan
    prices the week's patrol points as the plan did without scoring the streets again."""
    shift_weights: dict[str, float] = field(default_factory=dict)
    day_weights: tuple[float, ...] = ()


@dataclass(frozen=True)
class Unserved:
    """A required protective visit the plan does not make."""

    site_id: str
    date: date
    shift: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """A week of patrols for one area."""

    area: str
    week_start: date
    seed: int
    time_limit_s: float
    routes: tuple[Route, ...]
    sites: tuple[PlannedSite, ...]
    hotspots: tuple[PlannedHotspot, ...]
    unserved: tuple[Unserved, ...]
    required_visits: int
    hotspot_offers: int
    """Hotspot visits offered to the solver over the week (hotspots x slots)."""
    harm_offered: float
    """Sum of the prizes of every hotspot visit offered over the week."""
    streets: tuple[tuple[tuple[float, float], ...], ...] = ()
    """The area's streets as (lon, lat) lines: the map's offline base layer."""
    street_labels: tuple[tuple[str, float, float, float, int], ...] = ()
    """(name, lon, lat, angle in degrees, class rank) of street name labels for map extracts."""
    hot_segments: tuple[tuple[float, tuple[tuple[float, float], ...]], ...] = ()
    """(score, line) of the highest-scoring street segments: the hotspot surface."""
    solve_seconds: float = 0.0
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    redacted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# Fields holding only numbers (coordinates): JSON takes them as they are. Walking them
# one value at a time (as ``dataclasses.asdict`` does) took minutes at a force's size.
_NUMERIC_FIELDS = frozenset({"streets", "hot_segments", "path", "bbox", "street_labels"})


def _encode(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) if f.name in _NUMERIC_FIELDS else _encode(getattr(obj, f.name))
                for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    return obj


# Fields a redacted plan leaves out of its JSON: empty there, and their names alone tell of protective work.
_PROTECTIVE_FIELDS = ("sites", "unserved", "required_visits")


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """A JSON-ready dictionary of the plan (datetimes as ISO 8601 with offset)."""
    doc = {"schema": SCHEMA, **_encode(plan)}
    if plan.redacted:
        for name in _PROTECTIVE_FIELDS:
            del doc[name]
    return doc


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def plan_from_dict(doc: dict[str, Any]) -> Plan:
    """Rebuild a plan from :func:`plan_to_dict` output."""
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} document")
    routes = tuple(
        Route(
            unit_id=r["unit_id"], mode=r["mode"], station_id=r["station_id"],
            date=date.fromisoformat(r["date"]), shift=r["shift"],
            start=datetime.fromisoformat(r["start"]), end=datetime.fromisoformat(r["end"]),
            stops=tuple(Stop(s["seq"], s["kind"], s["ref"], s["lat"], s["lon"],
                             _dt(s["arrive"]), _dt(s["depart"]), s.get("value", 0.0), s.get("place", ""),
                             s.get("change", ""), s.get("was", ""), s.get("note", ""))
                        for s in r["stops"]),
            path=tuple(tuple(p) for p in r["path"]), km=r["km"], busy_min=r["busy_min"],
        )
        for r in doc["routes"]
    )
    return Plan(
        area=doc["area"], week_start=date.fromisoformat(doc["week_start"]), seed=doc["seed"],
        time_limit_s=doc["time_limit_s"], routes=routes,
        sites=tuple(PlannedSite(**s) for s in doc.get("sites", ())),
        hotspots=tuple(PlannedHotspot(**{**h, "day_weights": tuple(h.get("day_weights", ()))})
                       for h in doc["hotspots"]),
        unserved=tuple(Unserved(u["site_id"], date.fromisoformat(u["date"]), u["shift"], u["reason"])
                       for u in doc.get("unserved", ())),
        required_visits=doc.get("required_visits", 0), hotspot_offers=doc["hotspot_offers"],
        harm_offered=doc["harm_offered"],
        streets=tuple(tuple(tuple(p) for p in line) for line in doc["streets"]),
        hot_segments=tuple((s, tuple(tuple(p) for p in line)) for s, line in doc["hot_segments"]),
        street_labels=tuple(tuple(x) for x in doc.get("street_labels", ())),
        solve_seconds=doc["solve_seconds"], bbox=tuple(doc["bbox"]),
        redacted=doc.get("redacted", False), extra=doc.get("extra", {}),
    )


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write the plan as JSON."""
    Path(path).write_text(json.dumps(plan_to_dict(plan), separators=(",", ":")), encoding="utf-8")


def load_plan(path: str | Path) -> Plan:
    """Read a plan saved by :func:`save_plan`."""
    return plan_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
