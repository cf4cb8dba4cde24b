"""Changes to a planned week: reading and checking ``CHANGES.toml``.

A planner changes a week already planned: a unit goes off, an extra unit-shift
is found, a site is added or paused, an event is called, a visit is pinned, a
site or hotspot is forbidden for a while. Each table is optional and
repeatable (``[[unit_off]]``, ``[[unit_extra]]``, ``[[site]]``,
``[[site_off]]``, ``[[event]]``, ``[[pin]]``, ``[[forbid]]``).

Times are in the area's time zone (``settings.timezone``, Europe/London)
unless they carry an offset; TOML date-times with and without an offset, local
dates and ISO strings (as JSON would send them) are all taken. A bare date as
an end (``to``) runs to the end of that day, as in ``events.csv``.

:func:`parse_changes` checks a parsed document against the area and the week
and returns plain frozen data; :func:`read_changes` reads the file. A bad change
is one ``InputError`` naming the file, the table, its index and the field
(``CHANGES.toml: field 'pin[2].unit': ...``). Whether a pinned stop can be
reached, or falls in its site's window, is left to re-planning.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from patrols._csv import Row
from patrols.area import Area
from patrols.errors import InputError
from patrols.sites import Site, site_from_row
from patrols.tension import PlannedEvent, parse_level, parse_when
from patrols.week import UnitShift, local_time, shift_bounds, unit_shifts

TABLES = ("unit_off", "unit_extra", "site", "site_off", "event", "pin", "forbid")
SITE_COLUMNS = ("site_id", "kind", "lat", "lon", "tier", "window_start", "window_end",
                "dwell_min", "visits_per_week", "label", "person_id")
EVENT_COLUMNS = ("event_id", "kind", "lat", "lon", "start", "end", "level")
# Hotspot ids are made in patrols.hotspots as "H" and a zero-padded number of at least two digits.
HOTSPOT_ID = re.compile(r"H\d{2,}")


@dataclass(frozen=True)
class UnitOff:
    """A unit unavailable from ``start`` to ``end`` (sick, off the road, taken for other work)."""

    unit_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SiteOff:
    """No visits to a site from ``start`` to ``end`` (away, visits declined)."""

    site_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Pin:
    """A visit the planner fixes: this site, this unit, at this time."""

    site_id: str
    unit_id: str
    at: datetime


@dataclass(frozen=True)
class Forbid:
    """No visit to a site or hotspot from ``start`` to ``end``."""

    ref: str
    kind: str
    """``site`` or ``hotspot`` (a hotspot id is checked against the plan, not here)."""
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Changes:
    """The checked changes to one planned week; times are aware, events' naive local as in events.csv."""

    source: str
    week_start: date
    unit_off: tuple[UnitOff, ...] = ()
    unit_extra: tuple[UnitShift, ...] = ()
    sites: tuple[Site, ...] = ()
    """New or changed sites, each replacing any area site with its id."""
    site_off: tuple[SiteOff, ...] = ()
    events: tuple[PlannedEvent, ...] = ()
    pins: tuple[Pin, ...] = ()
    forbids: tuple[Forbid, ...] = ()


def read_changes(path: str | Path, area: Area, week_start: date) -> Changes:
    """Read and check a ``CHANGES.toml`` for a planned week.

    Parameters
    ----------
    path
        The TOML file of changes.
    area
        The area the week was planned for (units, stations, sites, shifts, time zone).
    week_start
        The Monday the planned week starts.

    Returns
    -------
    Changes
        The changes, checked; any bad one raises :class:`InputError`.
    """
    return parse_changes(load_changes_doc(path), area, week_start, str(path))


def load_changes_doc(path: str | Path) -> dict[str, Any]:
    """The TOML document of a changes file, unchecked (see :func:`parse_changes`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "changes file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid TOML: {exc}") from None


def parse_changes(doc: dict[str, Any], area: Area, week_start: date, source: str) -> Changes:
    """Check a parsed changes document against an area and a planned week.

    Parameters
    ----------
    doc
        The document as ``tomllib`` (or JSON) gives it: table name to a list of tables.
    area
        The area the week was planned for.
    week_start
        The Monday the planned week starts.
    source
        Name of the input, for error messages (the file path).

    Returns
    -------
    Changes
        Frozen, typed changes. Units and sites may be referred to when they are
        in the area or added in the same document (``[[unit_extra]]``, ``[[site]]``).

    Raises
    ------
    InputError
        One line naming ``source``, the table, its index and the field.
    """
    if not isinstance(doc, dict):
        raise InputError(source, "expected tables of changes")
    for key in doc:
        if key not in TABLES:
            raise InputError(source, f"unknown table (known: {', '.join(TABLES)})", field=key)
    ctx = _Context(area, week_start, source)
    extras = tuple(ctx.unit_extra(w, t) for w, t in _entries(doc, "unit_extra", source))
    ctx.units |= {us.unit_id for us in extras}
    sites = tuple(ctx.site(w, t) for w, t in _entries(doc, "site", source))
    ctx.sites |= {s.site_id for s in sites}
    unit_off = tuple(ctx.unit_off(w, t) for w, t in _entries(doc, "unit_off", source))
    site_off = tuple(ctx.site_off(w, t) for w, t in _entries(doc, "site_off", source))
    events = tuple(ctx.event(w, t) for w, t in _entries(doc, "event", source))
    forbids = tuple(ctx.forbid(w, t) for w, t in _entries(doc, "forbid", source))
    pins = tuple(ctx.pin(w, t, unit_off, site_off, forbids) for w, t in _entries(doc, "pin", source))
    return Changes(source, week_start, unit_off, extras, sites, site_off, events, pins, forbids)


def changes_to_doc(changes: Changes) -> dict[str, list[dict[str, Any]]]:
    """The changes as a JSON-ready document that :func:`parse_changes` reads back to the same changes.

    A re-plan stores it in its plan, so the next re-plan of that week can
    rebuild the week as this one left it.
    """
    def when(t: datetime) -> str:
        return t.isoformat()

    doc: dict[str, list[dict[str, Any]]] = {
        "unit_off": [{"unit": o.unit_id, "from": when(o.start), "to": when(o.end)} for o in changes.unit_off],
        "unit_extra": [{"unit": u.unit_id, "mode": u.mode, "station": u.station_id,
                        "date": u.date.isoformat(), "shift": u.shift} for u in changes.unit_extra],
        "site": [_site_doc(site) for site in changes.sites],
        "site_off": [{"site_id": o.site_id, "from": when(o.start), "to": when(o.end)}
                     for o in changes.site_off],
        "event": [{"event_id": e.event_id, "kind": e.kind, "lat": e.lat, "lon": e.lon, "start": when(e.start),
                   "end": when(e.end), "level": e.level} for e in changes.events],
        "pin": [{"site_id": p.site_id, "unit": p.unit_id, "at": when(p.at)} for p in changes.pins],
        "forbid": [{"ref": f.ref, "from": when(f.start), "to": when(f.end)} for f in changes.forbids],
    }
    return {name: rows for name, rows in doc.items() if rows}


def _site_doc(site: Site) -> dict[str, Any]:
    doc: dict[str, Any] = {"site_id": site.site_id, "kind": site.kind, "lat": site.lat, "lon": site.lon,
                           "tier": site.tier}
    if site.window_start is not None and site.window_end is not None:
        doc["window_start"] = site.window_start.strftime("%H:%M")
        doc["window_end"] = site.window_end.strftime("%H:%M")
    if site.dwell_min is not None:
        doc["dwell_min"] = site.dwell_min
    if site.visits_per_week is not None:
        doc["visits_per_week"] = site.visits_per_week
    if site.label:
        doc["label"] = site.label
    return doc


def merge_docs(*docs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Several changes documents as one, each table's entries in the order given."""
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for name, rows in doc.items():
            out.setdefault(name, []).extend(rows)
    return out


def _entries(doc: dict[str, Any], name: str, source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    raw = doc.get(name, [])
    if not isinstance(raw, list):
        raise InputError(source, f"must be a list of tables ([[{name}]])", field=name)
    for i, table in enumerate(raw):
        if not isinstance(table, dict):
            raise InputError(source, f"must be a table ([[{name}]])", field=f"{name}[{i}]")
        yield f"{name}[{i}]", table


class _Context:
    """What a change is checked against: the area, the week and the changes read so far."""

    def __init__(self, area: Area, week_start: date, source: str) -> None:
        self.area = area
        self.source = source
        self.week_start = week_start
        self.zone = ZoneInfo(area.settings.timezone)
        self.shifts: tuple[UnitShift, ...] = tuple(unit_shifts(
            area.units, week_start, area.shifts, area.settings.timezone, str(area.units_path)))
        self.units = {u.unit_id for u in area.units}
        self.sites = {s.site_id for s in area.sites}
        self.event_ids: set[str] = set()
        self.added_sites: set[str] = set()
        # The week runs from Monday 00:00 to the next Monday, or to the end of its last night shift.
        self.begin = local_time(week_start, time(0), self.zone)
        self.finish = max([local_time(week_start + timedelta(days=7), time(0), self.zone)] +
                          [us.end for us in self.shifts])

    def error(self, field: str, message: str) -> InputError:
        return InputError(self.source, message, field=field)

    def keys(self, where: str, table: dict[str, Any], required: tuple[str, ...],
             optional: tuple[str, ...] = ()) -> None:
        for key in table:
            if key not in required and key not in optional:
                raise self.error(f"{where}.{key}", "unknown key (a typo?)")
        for key in required:
            if key not in table:
                raise self.error(f"{where}.{key}", "missing key")

    def text(self, where: str, table: dict[str, Any], key: str) -> str:
        value = table[key]
        if not isinstance(value, str):
            raise self.error(f"{where}.{key}", f"must be a string, not {_kind(value)}")
        if not value.strip():
            raise self.error(f"{where}.{key}", "is empty")
        return value.strip()

    def moment(self, where: str, table: dict[str, Any], key: str, *, end: bool = False,
               dates: bool = True) -> datetime:
        """An aware time inside the week; naive times are local, a bare end date is inclusive."""
        field = f"{where}.{key}"
        raw = table[key]
        if isinstance(raw, str):
            text = raw.strip()
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise self.error(field, f"{text!r} is not an ISO date or date-time") from None
            raw = parsed.date() if len(text) == 10 else parsed
        if isinstance(raw, datetime):
            stamp = (raw.astimezone(self.zone) if raw.tzinfo is not None
                     else local_time(raw.date(), raw.time(), self.zone))
        elif isinstance(raw, date) and dates:
            stamp = local_time(raw + timedelta(days=1) if end else raw, time(0), self.zone)
        else:
            wanted = "a date-time or a date" if dates else "a date-time"
            raise self.error(field, f"must be {wanted}, not {_kind(raw)}")
        if not self.begin <= stamp <= self.finish:
            raise self.error(field, f"{stamp.isoformat()} is outside the planned week "
                                    f"({self.begin.isoformat()} to {self.finish.isoformat()})")
        return stamp

    def period(self, where: str, table: dict[str, Any]) -> tuple[datetime, datetime]:
        start = self.moment(where, table, "from")
        stop = self.moment(where, table, "to", end=True)
        if stop <= start:
            raise self.error(f"{where}.to", "is not after from")
        return start, stop

    def unit(self, where: str, table: dict[str, Any]) -> str:
        unit_id = self.text(where, table, "unit")
        if unit_id not in self.units:
            raise self.error(f"{where}.unit", f"unknown unit {unit_id!r}")
        return unit_id

    def known_site(self, where: str, table: dict[str, Any]) -> str:
        site_id = self.text(where, table, "site_id")
        if site_id not in self.sites:
            raise self.error(f"{where}.site_id", f"unknown site {site_id!r}")
        return site_id

    def unit_off(self, where: str, table: dict[str, Any]) -> UnitOff:
        self.keys(where, table, ("unit", "from", "to"))
        unit_id = self.unit(where, table)
        return UnitOff(unit_id, *self.period(where, table))

    def unit_extra(self, where: str, table: dict[str, Any]) -> UnitShift:
        self.keys(where, table, ("unit", "mode", "station", "date", "shift"))
        unit_id = self.text(where, table, "unit")
        mode = self.text(where, table, "mode").lower()
        if mode not in ("car", "foot"):
            raise self.error(f"{where}.mode", f"{mode!r} is not car or foot")
        known = {u.unit_id: u for u in self.area.units}
        if unit_id in known and known[unit_id].mode != mode:
            raise self.error(f"{where}.mode", f"unit {unit_id!r} is a {known[unit_id].mode} patrol")
        station = self.text(where, table, "station")
        if station not in self.area.stations:
            raise self.error(f"{where}.station", f"unknown station {station!r}")
        day = table["date"]
        if isinstance(day, str):
            try:
                day = date.fromisoformat(day.strip())
            except ValueError:
                raise self.error(f"{where}.date", f"{day!r} is not an ISO date") from None
        if isinstance(day, datetime) or not isinstance(day, date):
            raise self.error(f"{where}.date", f"must be a date, not {_kind(table['date'])}")
        if not 0 <= (day - self.week_start).days < 7:
            raise self.error(f"{where}.date", f"{day.isoformat()} is outside the planned week")
        shift = self.text(where, table, "shift").lower()
        if shift not in self.area.shifts:
            known_shifts = ", ".join(self.area.shifts)
            raise self.error(f"{where}.shift", f"unknown shift {shift!r} (known: {known_shifts})")
        start, end = shift_bounds(day, self.area.shifts[shift], self.area.settings.timezone)
        for other in self.shifts:
            if other.unit_id == unit_id and other.start < end and start < other.end:
                raise self.error(f"{where}.shift", f"{unit_id} already works the {other.shift} shift "
                                                   f"of {other.date.isoformat()}")
        extra = UnitShift(unit_id, mode, station, shift, day, start, end)
        self.shifts += (extra,)
        return extra

    def site(self, where: str, table: dict[str, Any]) -> Site:
        self.keys(where, table, SITE_COLUMNS[:5], SITE_COLUMNS[5:])
        cells = {key: self.cell(f"{where}.{key}", value) for key, value in table.items()}
        # The rules of a site are those of sites.csv, checked by the same function.
        try:
            site = site_from_row(Row(Path(self.source), 0, cells))
        except InputError as exc:
            raise self.error(f"{where}.{exc.field}" if exc.field else where, exc.message) from None
        if site.site_id.startswith("#"):  # sites.csv would read it as a comment line
            raise self.error(f"{where}.site_id", f"{cells['site_id']!r} is not a site id")
        if site.site_id in self.added_sites:
            raise self.error(f"{where}.site_id", f"site {site.site_id!r} is given twice")
        if site.person_id and site.person_id not in self.area.people:
            raise self.error(f"{where}.person_id", f"unknown person {site.person_id!r} (not in people.csv)")
        self.added_sites.add(site.site_id)
        return site

    def cell(self, field: str, value: Any) -> str:
        """A TOML value as sites.csv would hold it."""
        if isinstance(value, bool) or not isinstance(value, str | int | float | time):
            raise self.error(field, f"must be a string, number or HH:MM time, not {_kind(value)}")
        if isinstance(value, time):
            return value.strftime("%H:%M")
        return str(value)

    def site_off(self, where: str, table: dict[str, Any]) -> SiteOff:
        self.keys(where, table, ("site_id", "from", "to"))
        site_id = self.known_site(where, table)
        return SiteOff(site_id, *self.period(where, table))

    def event(self, where: str, table: dict[str, Any]) -> PlannedEvent:
        self.keys(where, table, EVENT_COLUMNS)
        event_id = self.text(where, table, "event_id")
        if event_id in self.event_ids:
            raise self.error(f"{where}.event_id", f"event {event_id!r} is given twice")
        self.event_ids.add(event_id)
        kind = self.text(where, table, "kind")
        lat = self.number(where, table, "lat", -90.0, 90.0)
        lon = self.number(where, table, "lon", -180.0, 180.0)
        # Checked here for type and week; read as events.csv reads them (naive local time).
        self.moment(where, table, "start")
        self.moment(where, table, "end", end=True)
        path = Path(self.source)
        start = parse_when(table["start"], path, None, f"{where}.start", end=False)
        stop = parse_when(table["end"], path, None, f"{where}.end", end=True)
        if stop <= start:
            raise self.error(f"{where}.end", "is not after start")
        if isinstance(table["level"], bool):
            raise self.error(f"{where}.level", "must be a whole number 1-6")
        level = parse_level(table["level"], path, None, f"{where}.level")
        return PlannedEvent(event_id, kind, lat, lon, start, stop, level)

    def number(self, where: str, table: dict[str, Any], key: str, low: float, high: float) -> float:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{where}.{key}", f"must be a number, not {_kind(value)}")
        if not low <= value <= high:
            raise self.error(f"{where}.{key}", f"{value} is out of range [{low}, {high}]")
        return float(value)

    def forbid(self, where: str, table: dict[str, Any]) -> Forbid:
        self.keys(where, table, ("ref", "from", "to"))
        ref = self.text(where, table, "ref")
        if ref in self.sites:
            kind = "site"
        elif HOTSPOT_ID.fullmatch(ref):
            kind = "hotspot"
        else:
            raise self.error(f"{where}.ref", f"{ref!r} is neither a known site nor a hotspot id (H01)")
        return Forbid(ref, kind, *self.period(where, table))

    def pin(self, where: str, table: dict[str, Any], unit_off: tuple[UnitOff, ...],
            site_off: tuple[SiteOff, ...], forbids: tuple[Forbid, ...]) -> Pin:
        self.keys(where, table, ("site_id", "unit", "at"))
        site_id = self.known_site(where, table)
        unit_id = self.unit(where, table)
        at = self.moment(where, table, "at", dates=False)
        field = f"{where}.at"
        if not any(us.unit_id == unit_id and us.start <= at < us.end for us in self.shifts):
            raise self.error(field, f"{unit_id} is not on duty at {at.isoformat()}")
        for i, off in enumerate(unit_off):
            if off.unit_id == unit_id and off.start <= at < off.end:
                raise self.error(field, f"{unit_id} is off then (unit_off[{i}])")
        for i, off in enumerate(site_off):
            if off.site_id == site_id and off.start <= at < off.end:
                raise self.error(field, f"site {site_id} takes no visits then (site_off[{i}])")
        for i, rule in enumerate(forbids):
            if rule.ref == site_id and rule.start <= at < rule.end:
                raise self.error(field, f"site {site_id} is forbidden then (forbid[{i}])")
        return Pin(site_id, unit_id, at)


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             dict: "a table", list: "an array", datetime: "a date-time", date: "a date", time: "a time"}
    return names.get(type(value), type(value).__name__)
