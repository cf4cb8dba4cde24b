"""One redaction for everything anyone but a planner sees: ``--redact`` bundles and the service's viewers.

A redacted plan must not let its reader count or place a protective visit, from
any file or any figure. So it is not enough to hide the site's name:

- **Stops.** Protective stops go altogether, and so does any other stop within
  ``clearance_m`` of a protected site (a hotspot visit at a representative's
  door would point at it), and every hotspot candidate that close.
- **Geometry and figures.** Each route's street path, ``km`` and ``busy_min``
  are made again from the stops left, as the fastest path between consecutive
  visible stops for the unit's mode, with the visible stops' own dwell. The
  planned path and time went to the hidden visits too: kept, they would give
  the visits away by subtraction (the count was exact on every foot route of
  the demo) and by the detour on the map.
- **Timetable.** Stops carry no times: the gap between two visible stops,
  less the travel between them, would place a hidden visit in time. A route
  keeps its shift's start and end and the order of its stops.
- **Summary.** No protective block, no per-site or site-derived figure (the
  week's required visits, unserved visits, the shortfall in units, the
  predictability of visit times, the naive baseline, per-district counts);
  the hotspot and route figures are those of the redacted routes.
- **Re-plans.** No stop keeps its change against the parent plan or its time
  there (``Stop.change``, ``Stop.was``), and neither the re-plan's record
  (``extra["replan"]``: the parent's dropped stops with their sites and
  times, the counts per unit-shift) nor its warnings (which name sites) is
  kept: a hotspot visit moved or retimed would point at the protective visit
  put in its place, and its old time at the gap. A redacted re-plan's map and
  briefings show no change.

What a redacted plan still shows is listed in ``docs/outputs.md`` ("What a
redacted bundle reveals").

The shortest paths need the road network, so redaction happens where the plan
is made (``patrols plan --redact`` and the service's plan jobs), not on a saved
plan alone.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np

from patrols import defaults
from patrols.network import Network
from patrols.plan import Plan, Route, Stop

# Keys of ``Plan.extra`` a redacted plan keeps: settings, not results (never ``replan`` or ``warnings``).
_KEPT_EXTRA = ("dosage",)
# Slack on the search bound of a leg between visible stops, in seconds.
_BOUND_SLACK_S = 60.0


def _near_sites(plan: Plan, network: Network, lat: list[float], lon: list[float],
                clearance_m: float) -> np.ndarray:
    """Whether each point lies within ``clearance_m`` of a protected site (metres, projected)."""
    if not plan.sites or not lat:
        return np.zeros(len(lat), dtype=bool)
    sx, sy = network.project([s.lat for s in plan.sites], [s.lon for s in plan.sites])
    px, py = network.project(lat, lon)
    near = np.zeros(len(lat), dtype=bool)
    # Sites are few (hundreds); points are a week's stops: a loop over sites keeps memory flat.
    for x, y in zip(sx.tolist(), sy.tolist(), strict=True):
        near |= np.hypot(px - x, py - y) <= clearance_m
    return near


def _visible(route: Route, near: dict[tuple[float, float], bool]) -> list[Stop]:
    """The stops of a route a redacted plan shows, in order, stations first and last."""
    stops = list(route.stops)
    middle = [s for s in stops[1:-1] if s.kind == "hotspot" and not near[(s.lat, s.lon)]]
    return [stops[0], *middle, stops[-1]]


def redact(plan: Plan, network: Network, clearance_m: float = defaults.REDACTION_CLEARANCE_M) -> Plan:
    """The plan as anyone but a planner may see it (see the module's notes for what goes and why).

    Parameters
    ----------
    plan
        The full plan, as made on ``network``.
    network
        The area's road network (each route's visible legs are routed on it again).
    clearance_m
        No stop or hotspot candidate within this distance of a protected site is shown.

    Returns
    -------
    Plan
        The redacted plan (``redacted`` is true; no site, no protective stop, no unserved visit).
    """
    if plan.redacted:
        return plan
    points = sorted({(s.lat, s.lon) for r in plan.routes for s in r.stops if s.kind == "hotspot"})
    flags = _near_sites(plan, network, [p[0] for p in points], [p[1] for p in points], clearance_m)
    near = dict(zip(points, flags.tolist(), strict=True))
    visible = [_visible(r, near) for r in plan.routes]

    # Every leg between consecutive visible stops, routed again per mode in one batch.
    # The planned time between them (with the hidden visits) bounds the fastest way.
    legs: dict[str, list[tuple[int, int, float]]] = {}
    where: list[list[tuple[str, int]]] = []
    for route, stops in zip(plan.routes, visible, strict=True):
        nodes = network.snap([s.lat for s in stops], [s.lon for s in stops], route.mode).node.tolist()
        times = _planned_times(route, stops)
        mine = []
        for k, (a, b) in enumerate(pairwise(nodes)):
            t0, t1 = times[k], times[k + 1]
            bound = np.inf if t0 is None or t1 is None else t1 - t0 + _BOUND_SLACK_S
            legs.setdefault(route.mode, []).append((int(a), int(b), float(bound)))
            mine.append((route.mode, len(legs[route.mode]) - 1))
        where.append(mine)
    routed = {mode: network.fastest(mode, [(a, b) for a, b, _ in ls], [t for _, _, t in ls])
              for mode, ls in legs.items()}

    routes = []
    hot_s = 0.0
    covered = 0.0
    dwell_hot_s = 0.0
    for route, stops, mine in zip(plan.routes, visible, where, strict=True):
        path: list[tuple[float, float]] = []
        travel = 0.0
        for n, (mode, k) in enumerate(mine):
            seconds, coords = routed[mode][k]
            travel += seconds
            path.extend(coords[1:] if path else coords)
            if n + 1 < len(stops) - 1:  # the leg into a hotspot visit is hotspot patrol time
                hot_s += seconds
        dwell = sum(s.dwell_min * 60.0 for s in stops[1:-1])
        hot_s += dwell
        dwell_hot_s += dwell
        covered += sum(s.value for s in stops[1:-1])
        # Stops are rebuilt field by field (not copied), so a field added to Stop later starts
        # at its default here instead of leaking; no stop keeps a time, nor a re-plan's change or `was`.
        shown = tuple(Stop(n, s.kind, s.ref, s.lat, s.lon, None, None,
                           s.value if s.kind == "hotspot" else 0.0, s.place) for n, s in enumerate(stops))
        path = [(round(x, 6), round(y, 6)) for x, y in path] if len(stops) > 2 else []
        routes.append(replace(route, stops=shown, path=tuple(path),
                              km=round(network.path_length_m(path) / 1000.0, 3),
                              busy_min=round((travel + dwell) / 60.0, 1)))

    hs_lat = [h.lat for h in plan.hotspots]
    hs_far = ~_near_sites(plan, network, hs_lat, [h.lon for h in plan.hotspots], clearance_m)
    hotspots = tuple(h for h, ok in zip(plan.hotspots, hs_far.tolist(), strict=True) if ok)
    extra: dict[str, Any] = {k: plan.extra[k] for k in _KEPT_EXTRA if k in plan.extra}
    extra["hotspot_patrol_minutes"] = round(hot_s / 60.0, 1)
    extra["harm_per_patrol_hour"] = round(covered / (hot_s / 3600.0), 3) if hot_s else 0.0
    extra["hotspot_dwell_minutes"] = round(dwell_hot_s / 60.0, 1)
    return replace(plan, routes=tuple(routes), sites=(), hotspots=hotspots,
                   unserved=(), required_visits=0, redacted=True, extra=extra)


def _planned_times(route: Route, stops: list[Stop]) -> list[float | None]:
    """Seconds from the shift's start at which the unit leaves the station or reaches each later stop."""
    out: list[float | None] = []
    for s in stops:
        t = s.arrive or s.depart
        out.append(None if t is None else (t - route.start).total_seconds())
    return out
