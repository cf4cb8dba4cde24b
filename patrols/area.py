"""An area as a planner configures it: ``area.toml`` and the files it names.

Paths in ``area.toml`` are relative to the file. Loading checks every file and
field up front, so a bad input is reported before any work or any output.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from typing import Any

from patrols import defaults
from patrols._csv import read_rows
from patrols.errors import InputError
from patrols.incidents import category_slug
from patrols.people import Contact, Election, Person, read_contacts, read_election, read_people
from patrols.sites import Site, read_sites
from patrols.week import Unit, read_units


@dataclass(frozen=True)
class Station:
    """A police station: where units start and end their shifts."""

    station_id: str
    name: str
    lat: float
    lon: float
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Settings:
    """Tunable domain settings; defaults from :mod:`patrols.defaults`."""

    hotspot_dwell_min: float = defaults.HOTSPOT_DWELL_MIN
    protective_dwell_min: float = defaults.PROTECTIVE_DWELL_MIN
    reserve_share: float = defaults.RESERVE_SHARE
    max_snap_m: float = defaults.MAX_SNAP_M
    foot_speed_kmh: float = defaults.FOOT_SPEED_KMH
    hotspot_candidates: int = defaults.HOTSPOT_CANDIDATES
    """Patrol points examined per week; 0 sizes them by ``hotspot_candidates_per_km``."""
    hotspot_candidates_per_km: float = defaults.HOTSPOT_CANDIDATES_PER_KM
    boundary_buffer_m: float = defaults.BOUNDARY_BUFFER_M
    max_edge_m: float = defaults.MAX_EDGE_M
    redaction_clearance_m: float = defaults.REDACTION_CLEARANCE_M
    hotspot_min_separation_m: float = defaults.HOTSPOT_MIN_SEPARATION_M
    street_piece_m: float = defaults.STREET_PIECE_M
    kde_bandwidth_m: float = defaults.KDE_BANDWIDTH_M
    kde_share: float = defaults.KDE_SHARE
    tension_gain: float = defaults.TENSION_GAIN
    profile_prior_incidents: float = defaults.PROFILE_PRIOR_INCIDENTS
    time_limit_s: float = defaults.TIME_LIMIT_S
    max_leg_car_min: float = defaults.MAX_LEG_CAR_MIN
    max_leg_foot_min: float = defaults.MAX_LEG_FOOT_MIN
    district_units: int = defaults.DISTRICT_UNITS
    min_visit_gap_h: float = defaults.MIN_VISIT_GAP_H
    hotspot_repeat_value: float = defaults.HOTSPOT_REPEAT_VALUE
    hotspot_daily_cap: int = defaults.HOTSPOT_DAILY_CAP
    hotspot_min_share: float = defaults.HOTSPOT_MIN_SHARE
    timezone: str = defaults.TIMEZONE
    harm_weights: dict[str, float] = field(default_factory=lambda: dict(defaults.HARM_WEIGHTS))
    default_harm_weight: float = defaults.DEFAULT_HARM_WEIGHT
    half_life_days: dict[str, float] = field(default_factory=lambda: dict(defaults.HALF_LIFE_DAYS))
    default_half_life_days: float = defaults.DEFAULT_HALF_LIFE_DAYS
    visits_per_week_by_tier: dict[int, int] = field(
        default_factory=lambda: dict(defaults.VISITS_PER_WEEK_BY_TIER))
    hotspot_categories: tuple[str, ...] = defaults.HOTSPOT_CATEGORIES
    """Incident categories the hotspot surface counts (slugs; empty = every category)."""
    hotspot_blend: float | None = None
    """The street count's share of the hotspot surface; None = chosen by the area's own back-test."""

    def max_leg_s(self, mode: str) -> float:
        """Longest leg between two stops for a travel mode (seconds)."""
        return 60.0 * (self.max_leg_foot_min if mode == "foot" else self.max_leg_car_min)

    def candidate_count(self, street_km: float) -> int:
        """How many hotspot candidates an area with ``street_km`` of streets gets."""
        if self.hotspot_candidates > 0:
            return self.hotspot_candidates
        return max(1, round(self.hotspot_candidates_per_km * street_km))

    def harm_weight(self, category: str) -> float:
        """Harm weight of an incident category."""
        return self.harm_weights.get(category, self.default_harm_weight)

    def half_life(self, category: str) -> float:
        """Recency half-life (days) of an incident category."""
        return self.half_life_days.get(category, self.default_half_life_days)


@dataclass(frozen=True)
class VisitRule:
    """What counts as a delivered visit, measured from pings (``[delivered]`` in area.toml).

    Defaults and their sources are in :mod:`patrols.defaults` (``DELIVERED_*``).
    """

    hotspot_radius_m: float = defaults.DELIVERED_HOTSPOT_RADIUS_M
    site_radius_m: float = defaults.DELIVERED_SITE_RADIUS_M
    hotspot_dose_min: float = defaults.DELIVERED_HOTSPOT_DOSE_MIN
    protective_dose_min: float = defaults.DELIVERED_PROTECTIVE_DOSE_MIN
    pass_by_min: float = defaults.DELIVERED_PASS_BY_MIN
    late_min: float = defaults.DELIVERED_LATE_MIN
    search_min: float = defaults.DELIVERED_SEARCH_MIN
    max_gap_min: float = defaults.DELIVERED_MAX_GAP_MIN


def visit_rule(doc: dict[str, Any], source: str | Path, table: str = "delivered") -> VisitRule:
    """A :class:`VisitRule` from a table of positive numbers (missing keys keep their defaults)."""
    if not isinstance(doc, dict):
        raise InputError(source, "must be a table", field=table)
    known = {f.name for f in fields(VisitRule)}
    values: dict[str, float] = {}
    for key, value in doc.items():
        if key not in known:
            raise InputError(source, "unknown setting", field=f"{table}.{key}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InputError(source, "must be a positive number", field=f"{table}.{key}")
        values[key] = float(value)
    rule = VisitRule(**values)
    if rule.pass_by_min > min(rule.hotspot_dose_min, rule.protective_dose_min):
        raise InputError(source, "must not exceed the doses", field=f"{table}.pass_by_min")
    return rule


@dataclass(frozen=True)
class EscalationRule:
    """When a planned event raises a site's protection (``[escalation]`` in area.toml).

    Defaults and their sources are in :mod:`patrols.defaults` (``ESCALATION_*``).
    """

    radius_m: float = defaults.ESCALATION_RADIUS_M
    """An event this close to a protected site (straight line) escalates it."""
    every_h: float = defaults.ESCALATION_EVERY_H
    """Through the watch a unit calls at least this often."""
    margin_h: float = defaults.ESCALATION_MARGIN_H
    """The watch runs from this long before the event to this long after it."""
    min_level: int = defaults.ESCALATION_MIN_LEVEL
    """An event of any kind at this level or above escalates."""
    kinds: tuple[str, ...] = defaults.ESCALATION_KINDS
    """Event kinds that escalate at any level."""


def escalation_rule(doc: Any, source: str | Path) -> EscalationRule:
    """An :class:`EscalationRule` from the ``[escalation]`` table (missing keys keep their defaults)."""
    if not isinstance(doc, dict):
        raise InputError(source, "must be a table", field="escalation")
    values: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"escalation.{key}"
        if key == "kinds":
            if not isinstance(value, list) or not all(isinstance(k, str) and k.strip() for k in value):
                raise InputError(source, "must be a list of event kinds", field=name)
            values[key] = tuple(k.strip().lower() for k in value)
        elif key == "min_level":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
                raise InputError(source, "must be a level 1-6 (7 = kinds only)", field=name)
            values[key] = value
        elif key in ("radius_m", "every_h", "margin_h"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
                    key != "margin_h" and value == 0):
                raise InputError(source, "must be a positive number", field=name)
            values[key] = float(value)
        else:
            raise InputError(source, "unknown setting", field=name)
    rule = EscalationRule(**values)
    if rule.every_h * 60.0 < 2 * defaults.ESCALATION_SLACK_MIN + 10.0:
        raise InputError(source, "visits cannot be that close: at least 40 minutes apart",
                         field="escalation.every_h")
    return rule


@dataclass(frozen=True)
class Area:
    """Everything configured for one area, with small tables loaded and checked."""

    name: str
    path: Path
    network_path: Path
    stations_path: Path
    stations: dict[str, Station]
    units_path: Path
    units: list[Unit]
    sites_path: Path
    sites: list[Site]
    incident_paths: list[Path]
    shifts: dict[str, tuple[time, time]]
    settings: Settings
    tension_path: Path | None = None
    events_path: Path | None = None
    tile_url: str | None = None
    boundary_path: Path | None = None
    """GeoJSON polygon(s) of the area; the network is clipped to it, buffered."""
    walk_network_path: Path | None = None
    """A second network file (GraphML or OSM) holding the walking network."""
    delivered: VisitRule = field(default_factory=VisitRule)
    """What counts as a delivered visit (``[delivered]``)."""
    people: dict[str, Person] = field(default_factory=dict)
    """The protected people (``people.csv``), by id; empty when the area names none."""
    contacts: dict[str, Contact] = field(default_factory=dict)
    """Named police contacts (``contacts.csv``), by id."""
    election: Election | None = None
    """The election period (``[election]``): candidates' default protection."""
    escalation: EscalationRule = field(default_factory=EscalationRule)
    """When events raise a site's protection (``[escalation]``)."""


_KNOWN_KEYS = {
    "name", "network", "stations", "units", "sites", "incidents", "tension", "events", "shifts",
    "defaults", "weights", "half_life_days", "visits_per_week_by_tier", "map", "boundary",
    "walk_network", "delivered", "people", "contacts", "election", "escalation",
    "hotspots",
}


def read_stations(path: Path) -> dict[str, Station]:
    """Read ``police_stations.csv``: ``station_id,name,lat,lon``."""
    stations: dict[str, Station] = {}
    for row in read_rows(path, ["station_id", "name", "lat", "lon"]):
        sid = row.text("station_id")
        if sid in stations:
            raise row.error("station_id", f"duplicate station id {sid!r}")
        lat, lon = row.latlon()
        stations[sid] = Station(sid, row.text("name", required=False) or sid, lat, lon, row.line)
    if not stations:
        raise InputError(path, "no stations listed")
    return stations


def _file(base: Path, toml: Path, raw: Any, key: str) -> Path:
    if not isinstance(raw, str) or not raw:
        raise InputError(toml, "must be a file path", field=key)
    path = (base / raw).resolve()
    if not path.is_file():
        raise InputError(toml, f"file not found: {raw}", field=key)
    return path


def _clock(toml: Path, key: str, raw: Any) -> time:
    try:
        hh, mm = (int(p) for p in str(raw).split(":"))
        return time(0 if (hh, mm) == (24, 0) else hh, mm)
    except ValueError:
        raise InputError(toml, f"{raw!r} is not a time HH:MM", field=key) from None


def _hotspots(toml: Path, doc: Any, harm_weights: dict[str, float]) -> dict[str, Any]:
    """Settings from the ``[hotspots]`` table: ``categories`` (names or slugs, or ``["all"]``), ``blend``."""
    if not isinstance(doc, dict):
        raise InputError(toml, "must be a table", field="hotspots")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"hotspots.{key}"
        if key == "categories":
            if not isinstance(value, list) or not value or not all(isinstance(c, str) and c.strip()
                                                                   for c in value):
                raise InputError(toml, 'must be a list of incident categories (or ["all"])', field=name)
            slugs = tuple(dict.fromkeys(category_slug(c) for c in value))
            unknown = [c for c in slugs if c not in harm_weights and c != "all"]
            if unknown:
                raise InputError(toml, f"unknown category {unknown[0]!r} (police.uk, or one given "
                                 "a harm weight in [weights])", field=name)
            out["hotspot_categories"] = () if "all" in slugs else slugs
        elif key == "blend":
            if isinstance(value, bool) or not isinstance(value, int | float | str) or (
                    isinstance(value, str) and value != "auto") or (
                    not isinstance(value, str) and not 0 <= value <= 1):
                raise InputError(toml, 'must be "auto" or a share from 0 to 1', field=name)
            out["hotspot_blend"] = None if value == "auto" else float(value)
        else:
            raise InputError(toml, "unknown setting", field=name)
    return out


def _settings(toml: Path, doc: dict[str, Any]) -> Settings:
    base = Settings()
    changes: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    for key, value in (doc.get("defaults") or {}).items():
        if key not in known or not isinstance(getattr(base, key), int | float | str):
            raise InputError(toml, "unknown setting", field=f"defaults.{key}")
        kind = type(getattr(base, key))
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise InputError(toml, f"must be a {kind.__name__}", field=f"defaults.{key}") from None
        if isinstance(value, float | int) and value < 0:
            raise InputError(toml, "must not be negative", field=f"defaults.{key}")
        changes[key] = value
    if "reserve_share" in changes and not 0 <= changes["reserve_share"] < 1:
        raise InputError(toml, "must be in [0, 1)", field="defaults.reserve_share")
    for table, attr in (("weights", "harm_weights"), ("half_life_days", "half_life_days")):
        merged = dict(getattr(base, attr))
        for key, value in (doc.get(table) or {}).items():
            if not isinstance(value, int | float) or value < 0 or (table != "weights" and value == 0):
                raise InputError(toml, "must be a positive number", field=f"{table}.{key}")
            merged[str(key)] = float(value)
        changes[attr] = merged
    tiers = dict(base.visits_per_week_by_tier)
    for key, value in (doc.get("visits_per_week_by_tier") or {}).items():
        if str(key) not in ("1", "2", "3") or not isinstance(value, int) or value < 0:
            raise InputError(toml, "tiers 1-3, whole numbers of visits",
                             field=f"visits_per_week_by_tier.{key}")
        tiers[int(key)] = value
    changes["visits_per_week_by_tier"] = tiers
    changes.update(_hotspots(toml, doc.get("hotspots", {}), changes["harm_weights"]))
    return replace(base, **changes)


def load_area(path: str | Path) -> Area:
    """Read and check ``area.toml`` and the small files it names.

    Parameters
    ----------
    path
        The area's TOML file.

    Returns
    -------
    Area
        Stations, units and sites loaded; the network and incidents are read
        later by their own loaders from the checked paths.
    """
    toml = Path(path).resolve()
    if not toml.is_file():
        raise InputError(path, "area file not found")
    try:
        doc = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(toml, f"not valid TOML: {exc}") from None
    base = toml.parent
    for key in doc:
        if key not in _KNOWN_KEYS:
            raise InputError(toml, "unknown key (a typo?)", field=key)
    for key in ("name", "network", "stations", "units", "sites"):
        if key not in doc:
            raise InputError(toml, "missing key", field=key)
    shifts = dict(defaults.SHIFTS)
    for name, spec in (doc.get("shifts") or {}).items():
        if not isinstance(spec, dict) or "start" not in spec or "end" not in spec:
            raise InputError(toml, "a shift needs start and end (HH:MM)", field=f"shifts.{name}")
        shifts[str(name).lower()] = (_clock(toml, f"shifts.{name}.start", spec["start"]),
                                     _clock(toml, f"shifts.{name}.end", spec["end"]))
    incidents = doc.get("incidents", [])
    if isinstance(incidents, str):
        incidents = [incidents]
    if not isinstance(incidents, list):
        raise InputError(toml, "must be a list of file paths", field="incidents")
    stations_path = _file(base, toml, doc["stations"], "stations")
    stations = read_stations(stations_path)
    settings = _settings(toml, doc)
    sites_path = _file(base, toml, doc["sites"], "sites")
    units_path = _file(base, toml, doc["units"], "units")
    sites = read_sites(sites_path)
    contacts = (read_contacts(_file(base, toml, doc["contacts"], "contacts"), set(stations))
                if "contacts" in doc else {})
    if "people" in doc:
        people = read_people(_file(base, toml, doc["people"], "people"), contacts)
    elif "contacts" in doc:
        raise InputError(toml, "contacts are named but no people file", field="people")
    else:
        people = {}
    for site in sites:
        if site.person_id and site.person_id not in people:
            raise InputError(sites_path, f"unknown person {site.person_id!r}"
                             + ("" if people else " (area.toml names no people file)"),
                             row=site.line, field="person_id")
    map_cfg = doc.get("map") or {}
    return Area(
        name=str(doc["name"]),
        path=toml,
        network_path=_file(base, toml, doc["network"], "network"),
        stations_path=stations_path,
        stations=stations,
        units_path=units_path,
        units=read_units(units_path, set(stations), shifts),
        sites_path=sites_path,
        sites=sites,
        incident_paths=[_file(base, toml, p, "incidents") for p in incidents],
        shifts=shifts,
        settings=settings,
        tension_path=_file(base, toml, doc["tension"], "tension") if "tension" in doc else None,
        events_path=_file(base, toml, doc["events"], "events") if "events" in doc else None,
        tile_url=map_cfg.get("tile_url"),
        boundary_path=_file(base, toml, doc["boundary"], "boundary") if "boundary" in doc else None,
        walk_network_path=(_file(base, toml, doc["walk_network"], "walk_network")
                           if "walk_network" in doc else None),
        delivered=visit_rule(doc.get("delivered", {}), toml),
        people=people,
        contacts=contacts,
        election=read_election(doc.get("election"), toml),
        escalation=escalation_rule(doc.get("escalation", {}), toml),
    )
