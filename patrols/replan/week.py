"""The week as changes leave it: who is on duty, which protective visits, which hotspot offers.

:func:`week_state` applies checked changes (:mod:`patrols.changes`) to an area
and its unit-shifts and draws the week's protective visits again with the
plan's seed (each site from its own random stream, so a change at one site
leaves the others' visits as they were). The same function rebuilds the parent
plan's week from the changes of earlier re-plans, so the two can be compared
shift by shift.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from patrols import defaults
from patrols.area import Area
from patrols.changes import Changes
from patrols.demand import (
    EventAtSite,
    Visit,
    match_events,
    protective_visits,
    site_window,
    week_slots,
    window_instances,
)
from patrols.errors import InputError
from patrols.escalation import Escalation, find_escalations, merged_watches
from patrols.people import protected_days
from patrols.plan import Plan
from patrols.planning import (
    TravelTable,
)
from patrols.tension import PlannedEvent
from patrols.week import UnitShift, unit_shifts


@dataclass(frozen=True)
class WeekState:
    """A week's state: who is on duty, what must be visited, what hotspots are offered when."""

    sites: list
    shifts: list[UnitShift]
    visits: list[Visit]
    unplaceable: list
    pinned: dict[str, str]
    """visit_id -> the unit it is pinned to."""
    cancelled: list[dict[str, Any]]
    hotspot_bans: dict[str, list[tuple[float, float]]]
    events: list[PlannedEvent]
    """Events added by changes: each is also a patrol point while it lasts."""
    at_sites: list[EventAtSite] = field(default_factory=list)
    """Every planned event of the week held at a protected site."""
    escalations: list[Escalation] = field(default_factory=list)
    """Every event escalating a site this week (:mod:`patrols.escalation`)."""


def cut_shifts(shifts: list[UnitShift], changes: Changes) -> list[UnitShift]:
    """Unit-shifts with the time their units are off taken out (the longer part kept)."""
    out = []
    for us in shifts:
        start, end = us.start, us.end
        for off in changes.unit_off:
            if off.unit_id != us.unit_id or off.end <= start or off.start >= end:
                continue
            before = (off.start - start).total_seconds()
            after = (end - off.end).total_seconds()
            if before <= 0 and after <= 0:
                start = end
                break
            if before >= after:
                end = off.start
            else:
                start = off.end
        if end > start:
            out.append(replace(us, start=start, end=end))
    return out


def free_part(lo: float, hi: float, dwell: float, bans: list[tuple[float, float]]) -> tuple[float,
                                                                                            float] | None:
    """The longest part of ``[lo, hi]`` (service starts) whose service avoids every ban."""
    parts = [(lo, hi)]
    for a, b in bans:
        nxt = []
        for x, y in parts:
            # A start t is banned when [t, t + dwell] overlaps (a, b): a - dwell < t < b.
            if y <= a - dwell or x >= b:
                nxt.append((x, y))
                continue
            if x <= a - dwell:
                nxt.append((x, a - dwell))
            if y >= b:
                nxt.append((b, y))
        parts = nxt
    parts = [(x, y) for x, y in parts if y >= x]
    return max(parts, key=lambda p: (p[1] - p[0], -p[0])) if parts else None


def week_state(area: Area, base_events: list, changes: Changes, parent: Plan, seed: int,
                start_shifts: list[UnitShift]) -> WeekState:
    """The week with ``changes`` applied to the area and the parent's unit-shifts."""
    settings = area.settings
    zone = ZoneInfo(settings.timezone)
    replaced = {s.site_id: s for s in changes.sites}
    sites = [replaced.pop(s.site_id, s) for s in area.sites] + list(replaced.values())
    shifts = week_shifts(start_shifts, changes)
    events = list(base_events) + list(changes.events)
    slots = week_slots(parent.week_start, area.shifts, settings.timezone)
    at_sites = match_events(events, sites, parent.week_start, settings.timezone)
    protected = protected_days(sites, area.people, area.election, parent.week_start)
    escalations = find_escalations(events, sites, area.escalation, parent.week_start, settings.timezone,
                                   protected)
    visits, unplaceable = protective_visits(sites, slots, shifts, settings, defaults.SITE_WINDOWS, seed,
                                            at_sites, protected, merged_watches(escalations))
    # Periods with no visits to a site, then pins.
    bans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for i, off in enumerate(changes.site_off):
        bans[off.site_id].append((off.start.timestamp(), off.end.timestamp(), f"site_off[{i}]"))
    hotspot_bans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for i, rule in enumerate(changes.forbids):
        if rule.kind == "site":
            bans[rule.ref].append((rule.start.timestamp(), rule.end.timestamp(), f"forbid[{i}]"))
        else:
            hotspot_bans[rule.ref].append((rule.start.timestamp(), rule.end.timestamp()))
    kept: list[Visit] = []
    cancelled: list[dict[str, Any]] = []
    for v in visits:
        rules = bans.get(v.site_id, [])
        if not rules:
            kept.append(v)
            continue
        dwell = v.dwell_min * 60.0
        part = free_part(v.window_open.timestamp(), v.window_close.timestamp(), dwell,
                          [(a, b) for a, b, _ in rules])
        if part is None:
            why = ", ".join(w for a, b, w in rules
                            if a < v.window_close.timestamp() + dwell and b > v.window_open.timestamp())
            cancelled.append({"site_id": v.site_id, "date": v.slot.date.isoformat(), "shift": v.slot.shift,
                              "window": f"{v.window_open:%H:%M}-{v.window_close:%H:%M}", "by": why})
            continue
        kept.append(replace(v, window_open=datetime.fromtimestamp(round(part[0]), zone),
                            window_close=datetime.fromtimestamp(round(part[1]), zone)))
    pinned: dict[str, str] = {}
    by_id = {s.site_id: s for s in sites}
    for pin in changes.pins:
        us = next(u for u in shifts if u.unit_id == pin.unit_id and u.start <= pin.at < u.end)
        slot = next(s for s in slots if s.date == us.date and s.shift == us.shift)
        same = [v for v in kept if v.site_id == pin.site_id and v.slot == slot and v.visit_id not in pinned]
        if same:
            old = min(same, key=lambda v: (abs(v.target.timestamp() - pin.at.timestamp()), v.visit_id))
            new = replace(old, window_open=pin.at, window_close=pin.at, target=pin.at)
            kept[kept.index(old)] = new
        else:
            site = by_id[pin.site_id]
            dwell = site.dwell_min or settings.protective_dwell_min
            new = Visit(f"{pin.site_id}/{pin.at:%Y-%m-%dT%H:%M}/pin", pin.site_id, slot, pin.at, pin.at,
                        dwell, pin.at, "pin")
            kept.append(new)
        pinned[new.visit_id] = pin.unit_id
    kept.sort(key=lambda v: (v.target, v.site_id))
    return WeekState(sites, shifts, kept, unplaceable, pinned, cancelled, dict(hotspot_bans),
                     list(changes.events), at_sites, escalations)


def check_pins(area: Area, week: WeekState, changes: Changes, table: TravelTable, offset: int,
                source: str) -> None:
    """Refuse a pin its unit cannot reach in time, or outside its site's window."""
    tz = area.settings.timezone
    sites = {s.site_id: s for s in week.sites}
    for j, pin in enumerate(changes.pins):
        if j < offset:
            continue
        where = f"pin[{j - offset}].at"
        site = sites[pin.site_id]
        dwell = (site.dwell_min or area.settings.protective_dwell_min) * 60.0
        window = site_window(site, defaults.SITE_WINDOWS)
        at = pin.at.timestamp()
        day = pin.at.date()
        inside = any(lo <= at and at + dwell <= hi for lo, hi in
                     (window_instances(window, d, tz) for d in (day, day - timedelta(days=1))))
        if not inside:
            span = "all day" if window is None else f"{window[0]:%H:%M}-{window[1]:%H:%M}"
            raise InputError(source, f"{pin.at:%a %H:%M} is outside site {pin.site_id}'s window ({span})",
                             field=where)
        us = next(u for u in week.shifts if u.unit_id == pin.unit_id and u.start <= pin.at < u.end)
        m = table.travel[us.mode]
        st = table.index[("station", us.station_id)]
        here = table.index[("protective", pin.site_id)]
        there, back = float(m[st, here]), float(m[here, st])
        if not np.isfinite(there) or not np.isfinite(back):
            raise InputError(source, f"{pin.unit_id} ({us.mode}) has no way to site {pin.site_id}",
                             field=where)
        if us.start.timestamp() + there > at or at + dwell + back > us.end.timestamp():
            raise InputError(source, f"{pin.unit_id} cannot reach site {pin.site_id} by {pin.at:%H:%M} "
                             f"from station {us.station_id} and be back by {us.end:%H:%M} "
                             f"({there / 60:.0f} min there, {back / 60:.0f} min back)", field=where)


def clip_changes(changes: Changes, start: datetime, source: str) -> Changes:
    """Changes hold from ``start`` on: periods are cut there; what lies wholly before it is refused."""
    def cut(items: tuple, name: str) -> tuple:
        out = []
        for i, item in enumerate(items):
            if item.end <= start:
                raise InputError(source, f"ends before --from ({start:%a %H:%M}): what happened before it "
                                         "stays as planned", field=f"{name}[{i}].to")
            out.append(replace(item, start=max(item.start, start)))
        return tuple(out)

    for i, pin in enumerate(changes.pins):
        if pin.at < start:
            raise InputError(source, f"is before --from ({start:%a %H:%M}): what happened before it stays "
                                     "as planned", field=f"pin[{i}].at")
    for i, extra in enumerate(changes.unit_extra):
        if extra.end <= start:
            raise InputError(source,
                             f"the {extra.shift} shift of {extra.date.isoformat()} ends before --from",
                             field=f"unit_extra[{i}].date")
    return replace(changes, unit_off=cut(changes.unit_off, "unit_off"),
                   site_off=cut(changes.site_off, "site_off"), forbids=cut(changes.forbids, "forbid"))


def describe_changes(changes: Changes) -> str:
    parts = [f"{name} {n}" for name, n in (
        ("unit_off", len(changes.unit_off)), ("unit_extra", len(changes.unit_extra)),
        ("site", len(changes.sites)), ("site_off", len(changes.site_off)), ("event", len(changes.events)),
        ("pin", len(changes.pins)), ("forbid", len(changes.forbids))) if n]
    return ", ".join(parts) or "none"


def all_sites(old: list, new: list) -> list:
    """Every site of either week, by id (a changed site's new record)."""
    by_id = {s.site_id: s for s in old}
    by_id.update({s.site_id: s for s in new})
    return sorted(by_id.values(), key=lambda s: s.site_id)


def base_shifts(area: Area, parent: Plan, prior: Changes, source: str) -> list[UnitShift]:
    """The area's unit-shifts of the week, checked against the parent's routes."""
    base = unit_shifts(area.units, parent.week_start, area.shifts, area.settings.timezone,
                       source=str(area.units_path))
    made = {(us.unit_id, us.date, us.shift, us.start, us.end) for us in week_shifts(base, prior)}
    had = {(r.unit_id, r.date, r.shift, r.start, r.end) for r in parent.routes}
    if made != had:
        odd = sorted(made ^ had)[0]
        raise InputError(source, f"the plan's unit-shifts are not what the area's units give now "
                                 f"(first difference: {odd[0]} {odd[1].isoformat()} {odd[2]}): re-plan "
                                 "with the files the plan was made from")
    return base


def week_shifts(base: list[UnitShift], changes: Changes) -> list[UnitShift]:
    extra_keys = {(u.unit_id, u.date, u.shift) for u in changes.unit_extra}
    shifts = [us for us in base if (us.unit_id, us.date,
                                    us.shift) not in extra_keys]
    return sorted(cut_shifts(shifts + list(changes.unit_extra), changes), key=lambda us: (us.start,
                                                                                          us.unit_id))
