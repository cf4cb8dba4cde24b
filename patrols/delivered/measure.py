"""Measuring what was delivered: each planned stop's status from a unit's pings.

No open standard defines a visit; every field trial fixed a radius, a dwell
and a gap (see ``DELIVERED_*`` in :mod:`patrols.defaults`). Here, for each
planned stop of a unit-shift:

- **Presence.** Each ping stands for the time halfway to its neighbours (the
  nearest-ping estimate of time in a box), but never across a gap longer than
  ``max_gap_min``. The presence at a stop is the time of the unit's pings within
  the radius (``hotspot_radius_m`` or ``site_radius_m``) of the stop's standing
  point, counted from ``search_min`` before the planned arrival to
  ``search_min`` after the planned departure, and never past the unit's
  previous or next planned stop. Linear interpolation between pings was
  rejected: at a ping every 5 minutes it puts a unit that arrived from far
  away inside the radius for only the last seconds of the leg, so a full
  15-minute dose measures 10; the nearest-ping estimate is unbiased for a unit
  that stays put, which is what a dose is.
- **Status.** ``done``: presence of at least the dose (``hotspot_dose_min``,
  ``protective_dose_min``) and first seen within ``late_min`` of the planned
  arrival; ``late``: the dose, first seen later; ``short``: present at least
  ``pass_by_min`` (less is a unit passing) but below the dose; ``missed``: the
  pings cover the planned stop and the unit was not there; ``no_data``: below
  the dose while a gap longer than ``max_gap_min`` (or no pings at all)
  covers part of the planned stop, or when nothing was seen and the pings
  around the stop are further apart than its planned dwell (they could not
  have seen it). A gap is never a miss.

The core is pure: pings and a plan in, statuses and totals out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from patrols.area import VisitRule
from patrols.delivered.tracks import Pings
from patrols.plan import Plan, Route, Stop

STATUSES = ("done", "late", "short", "missed", "no_data")
_EARTH_M = 6_371_000.0


@dataclass(frozen=True)
class StopResult:
    """What was delivered at one planned stop."""

    route: Route
    stop: Stop
    status: str
    first_seen: datetime | None
    minutes_present: float


@dataclass(frozen=True)
class _Owned:
    """Each ping's stretch of time: from ``lo`` to ``hi`` (halfway to its neighbours, not across gaps)."""

    t: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    x: np.ndarray
    y: np.ndarray
    """Positions in metres on a plane through the pings' mean latitude (see :meth:`plane`)."""
    cos_lat: float

    def plane(self, lat: float, lon: float) -> tuple[float, float]:
        """A place on the pings' plane, in metres."""
        return math.radians(lon) * _EARTH_M * self.cos_lat, math.radians(lat) * _EARTH_M


def _own(p: Pings, max_gap_s: float) -> _Owned:
    t = p.t
    gap = np.diff(t)
    half = np.where(gap <= max_gap_s, gap / 2.0, 0.0)
    lo = t - np.concatenate([[0.0], half])
    hi = t + np.concatenate([half, [0.0]])
    cos_lat = math.cos(math.radians(float(np.mean(p.lat)))) if len(t) else 1.0
    x = np.radians(p.lon) * _EARTH_M * cos_lat
    y = np.radians(p.lat) * _EARTH_M
    return _Owned(t, lo, hi, x, y, cos_lat)


def _widest_gap(o: _Owned, a: float, b: float, max_gap_s: float) -> float:
    """The longest stretch of ``[a, b]`` between pings (``inf`` when no ping lies on one side)."""
    i, j = np.searchsorted(o.t, [a - max_gap_s, b + max_gap_s])
    near = o.t[i:j]
    if len(near) == 0 or near[0] > a or near[-1] < b:
        return float("inf")
    k, m = np.searchsorted(near, [a, b])
    span = near[max(0, k - 1): min(len(near), m + 1)]
    return float(np.max(np.diff(span))) if len(span) > 1 else 0.0


def measure_route(route: Route, pings: Pings | None, rule: VisitRule) -> list[StopResult]:
    """The status of every planned stop of one unit-shift (stations left out).

    Parameters
    ----------
    route
        The planned unit-shift.
    pings
        The unit's pings (any span; only those around each stop are used), or ``None``.
    rule
        What counts as a visit.

    Returns
    -------
    list of StopResult
        In the route's order.
    """
    return _measure(route, _owned(pings, rule), rule)


def _owned(pings: Pings | None, rule: VisitRule) -> _Owned | None:
    return _own(pings, rule.max_gap_min * 60.0) if pings is not None and len(pings.t) else None


def _measure(route: Route, owned: _Owned | None, rule: VisitRule) -> list[StopResult]:
    max_gap = rule.max_gap_min * 60.0
    stops = route.stops
    out = []
    for k in range(1, len(stops) - 1):
        s = stops[k]
        a, d = s.arrive.timestamp(), s.depart.timestamp()
        prev_d = stops[k - 1].depart.timestamp() if stops[k - 1].depart else route.start.timestamp()
        next_a = stops[k + 1].arrive.timestamp() if stops[k + 1].arrive else route.end.timestamp()
        lo = max(a - rule.search_min * 60.0, prev_d)
        hi = min(d + rule.search_min * 60.0, next_a)
        hotspot = s.kind == "hotspot"
        dose = (rule.hotspot_dose_min if hotspot else rule.protective_dose_min) * 60.0
        radius = rule.hotspot_radius_m if hotspot else rule.site_radius_m
        present, first = 0.0, None
        if owned is not None:
            i, j = np.searchsorted(owned.t, [lo - max_gap, hi + max_gap])
            if j > i:
                cx, cy = owned.plane(s.lat, s.lon)
                near = np.hypot(owned.x[i:j] - cx, owned.y[i:j] - cy) <= radius
                span = np.clip(owned.hi[i:j], lo, hi) - np.clip(owned.lo[i:j], lo, hi)
                present = float(np.sum(span[near]))
                seen = owned.t[i:j][near & (span > 0)]
                if len(seen):
                    first = float(seen[0])
        if present >= dose and first is not None:
            status = "late" if first > a + rule.late_min * 60.0 else "done"
        else:
            gap = _widest_gap(owned, a, d, max_gap) if owned is not None else float("inf")
            if gap > max_gap:
                status = "no_data"
            elif present >= rule.pass_by_min * 60.0:
                status = "short"
            else:
                # Missed only when the pings were dense enough to have seen the stop.
                status = "missed" if gap <= d - a else "no_data"
        out.append(StopResult(route, s, status,
                              datetime.fromtimestamp(first, s.arrive.tzinfo) if first is not None else None,
                              round(present / 60.0, 2)))
    return out


def measure_plan(plan: Plan, tracks: Mapping[str, Pings], rule: VisitRule) -> list[StopResult]:
    """The status of every planned stop of the plan, from each unit's pings."""
    owned = {unit: _owned(p, rule) for unit, p in tracks.items()}  # once per unit, not per unit-shift
    out = []
    for route in sorted(plan.routes, key=lambda r: (r.start, r.unit_id)):
        out.extend(_measure(route, owned.get(route.unit_id), rule))
    return out


def unplanned_minutes(plan: Plan, tracks: Mapping[str, Pings], rule: VisitRule) -> dict[str, float]:
    """Minutes units spent within a hotspot's radius outside the search windows of their planned
    visits to it, per hotspot: patrol the plan did not ask for (or asked of another unit)."""
    max_gap = rule.max_gap_min * 60.0
    planned: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in plan.routes:
        for s in r.stops[1:-1]:
            if s.kind == "hotspot":
                planned[(r.unit_id, s.ref)].append((s.arrive.timestamp() - rule.search_min * 60.0,
                                                    s.depart.timestamp() + rule.search_min * 60.0))
    out: dict[str, float] = {}
    for unit, p in tracks.items():
        if not len(p.t):
            continue
        o = _own(p, max_gap)
        for h in plan.hotspots:
            cx, cy = o.plane(h.lat, h.lon)
            near = np.hypot(o.x - cx, o.y - cy) <= rule.hotspot_radius_m
            if not near.any():
                continue
            span = o.hi - o.lo
            for lo, hi in planned.get((unit, h.hotspot_id), []):
                span = span - (np.clip(o.hi, lo, hi) - np.clip(o.lo, lo, hi))
            minutes = float(np.sum(np.clip(span, 0.0, None)[near])) / 60.0
            if minutes > 0:
                out[h.hotspot_id] = round(out.get(h.hotspot_id, 0.0) + minutes, 2)
    return dict(sorted(out.items()))


def totals(plan: Plan, results: list[StopResult], unplanned: dict[str, float]) -> dict[str, Any]:
    """The figures of ``delivered.json``: protective visits, hotspot minutes, per unit."""
    counts = {k: 0 for k in STATUSES}
    per_site: dict[str, dict[str, int]] = defaultdict(lambda: {"planned": 0, "done": 0})
    per_hot: dict[str, dict[str, float]] = defaultdict(lambda: {"planned_min": 0.0, "delivered_min": 0.0})
    per_day: dict[str, dict[str, float]] = defaultdict(lambda: {"planned_min": 0.0, "delivered_min": 0.0})
    per_unit: dict[str, dict[str, Any]] = defaultdict(lambda: {k: 0 for k in STATUSES})
    missed_protective = []
    for r in results:
        counts[r.status] += 1
        per_unit[r.route.unit_id][r.status] += 1
        if r.stop.kind == "protective":
            site = per_site[r.stop.ref]
            site["planned"] += 1
            site["done"] += r.status in ("done", "late")
            if r.status in ("missed", "short", "no_data"):
                missed_protective.append({"site_id": r.stop.ref, "unit": r.route.unit_id,
                                          "date": r.route.date.isoformat(), "shift": r.route.shift,
                                          "planned_arrive": r.stop.arrive.isoformat(), "status": r.status})
        else:
            planned_min = r.stop.dwell_min
            got = min(r.minutes_present, planned_min)
            for table, key in ((per_hot, r.stop.ref), (per_day, r.route.date.isoformat())):
                table[key]["planned_min"] += planned_min
                table[key]["delivered_min"] += got
    protective = [r for r in results if r.stop.kind == "protective"]
    hot = [r for r in results if r.stop.kind == "hotspot"]
    # Where each hotspot is, so next week's plan can find the same streets (ids change weekly).
    where = {h.hotspot_id: {"lat": h.lat, "lon": h.lon} for h in plan.hotspots}
    return {
        "stops": len(results),
        "status": counts,
        "protective": {
            "planned": len(protective),
            "done": sum(1 for r in protective if r.status in ("done", "late")),
            "per_site": dict(sorted(per_site.items())),
            "not_done": missed_protective,
        },
        "hotspots": {
            "planned_min": round(sum(r.stop.dwell_min for r in hot), 1),
            "delivered_min": round(sum(min(r.minutes_present, r.stop.dwell_min) for r in hot), 1),
            "per_hotspot": {k: {**{n: round(v, 1) for n, v in d.items()}, **where.get(k, {})}
                            for k, d in sorted(per_hot.items())},
            "per_day": {k: {n: round(v, 1) for n, v in d.items()} for k, d in sorted(per_day.items())},
            "unplanned_min": unplanned,
        },
        "per_unit": dict(sorted(per_unit.items())),
    }
