"""Planning a week: from an area's data to a :class:`~patrols.plan.Plan`.

This is the core's one entry point. It takes loaded data (area, network,
incidents) and returns a Plan; it reads and writes no files.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

import numpy as np
import pandas as pd

from patrols import defaults
from patrols.area import Area
from patrols.demand import Slot, Visit, protective_visits, week_slots
from patrols.errors import InputError, PlanningError
from patrols.hotspots import Hotspot, choose_patrol_points, score_segments
from patrols.network import Network
from patrols.plan import Plan, PlannedHotspot, PlannedSite, Route, Stop, Unserved
from patrols.solver import ShiftProblem, ShiftSolution, Vehicle, solve
from patrols.week import UnitShift, unit_shifts

# How many top-scoring street segments the plan keeps for the map's hotspot surface.
HOT_SEGMENTS_KEPT = 400
Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Point:
    kind: str  # station | protective | hotspot
    ref: str
    node: int
    lat: float
    lon: float
    dwell_s: float
    prize: float
    open_s: float
    close_s: float


def snap_inputs(area: Area, network: Network) -> tuple[dict[str, int], dict[str, int]]:
    """Network nodes of the stations and sites; a point too far from any street is refused.

    Returns
    -------
    (station_nodes, site_nodes)
        Node index by station id and by site id.
    """
    limit = area.settings.max_snap_m
    out = []
    for items, path, kind in (
        (list(area.stations.values()), area.stations_path, "station"),
        (area.sites, area.sites_path, "site"),
    ):
        snap = network.snap([i.lat for i in items], [i.lon for i in items])
        nodes = {}
        for item, node, dist in zip(items, snap.node, snap.distance_m, strict=True):
            if dist > limit:
                raise InputError(path, f"{kind} is {dist:.0f} m from the nearest street "
                                 f"(limit {limit:.0f} m): off the network", row=item.line, field="lat")
            ident = item.station_id if kind == "station" else item.site_id
            nodes[ident] = int(node)
        out.append(nodes)
    return out[0], out[1]


def _problem(slot: Slot, shifts: list[UnitShift], points: list[_Point], network: Network,
             reserve: float) -> ShiftProblem:
    nodes = [p.node for p in points]
    modes = sorted({us.mode for us in shifts})
    travel = {m: network.travel_times(m, nodes) for m in modes}
    index = {(p.kind, p.ref): i for i, p in enumerate(points)}
    length = slot.end.timestamp() - slot.start.timestamp()
    vehicles = tuple(
        Vehicle(
            start=index[("station", us.station_id)], end=index[("station", us.station_id)],
            earliest=us.start.timestamp() - slot.start.timestamp(),
            latest=us.end.timestamp() - slot.start.timestamp(),
            profile=us.mode,
            max_busy=(1.0 - reserve) * (us.end.timestamp() - us.start.timestamp()),
        )
        for us in shifts
    )
    return ShiftProblem(
        travel=travel,
        service=np.array([p.dwell_s for p in points]),
        prize=np.array([p.prize for p in points]),
        required=np.array([p.kind == "protective" for p in points]),
        window_open=np.array([max(0.0, p.open_s) for p in points]),
        window_close=np.array([min(length, p.close_s) for p in points]),
        vehicles=vehicles,
        name=f"{slot.date.isoformat()}/{slot.shift}",
    )


def _slot_points(slot: Slot, shifts: list[UnitShift], visits: list[Visit], hotspots: list[Hotspot],
                 area: Area, station_nodes: dict[str, int], site_nodes: dict[str, int]) -> list[_Point]:
    t0 = slot.start.timestamp()
    length = slot.end.timestamp() - t0
    points: list[_Point] = []
    for sid in sorted({us.station_id for us in shifts}):
        st = area.stations[sid]
        points.append(_Point("station", sid, station_nodes[sid], st.lat, st.lon, 0.0, 0.0, 0.0, length))
    sites = {s.site_id: s for s in area.sites}
    for v in visits:
        site = sites[v.site_id]
        points.append(_Point("protective", v.site_id, site_nodes[v.site_id], site.lat, site.lon,
                             v.dwell_min * 60.0, 0.0, v.window_open.timestamp() - t0,
                             v.window_close.timestamp() - t0))
    dwell = area.settings.hotspot_dwell_min * 60.0
    for h in hotspots:
        points.append(_Point("hotspot", h.hotspot_id, h.node, h.lat, h.lon, dwell, h.prize,
                             0.0, length - dwell))
    return points


def _routes(slot: Slot, shifts: list[UnitShift], points: list[_Point], sol: ShiftSolution,
            network: Network) -> list[Route]:
    t0 = slot.start.timestamp()
    zone = slot.start.tzinfo
    routes = []
    for k, us in enumerate(shifts):
        home = next(p for p in points if p.kind == "station" and p.ref == us.station_id)
        seq = [home, *(points[i] for i in sol.routes[k]), home]
        times = sol.starts[k]
        stops = [Stop(0, "station", home.ref, home.lat, home.lon, None,
                      datetime.fromtimestamp(round(t0 + sol.depart[k]), zone))]
        for n, (i, t) in enumerate(zip(sol.routes[k], times, strict=True), start=1):
            p = points[i]
            arrive = datetime.fromtimestamp(round(t0 + t), zone)
            depart = datetime.fromtimestamp(round(t0 + t + p.dwell_s), zone)
            stops.append(Stop(n, p.kind, p.ref, p.lat, p.lon, arrive, depart))
        stops.append(Stop(len(stops), "station", home.ref, home.lat, home.lon,
                          datetime.fromtimestamp(round(t0 + sol.arrive_end[k]), zone), None))
        legs = [(a.node, b.node) for a, b in pairwise(seq)]
        path: list[tuple[float, float]] = []
        for leg in network.paths(us.mode, legs) if len(seq) > 2 else []:
            path.extend(leg[1:] if path else leg)
        path = [(round(x, 6), round(y, 6)) for x, y in path]
        travel = network.travel_times(us.mode, [p.node for p in seq])
        busy = sum(travel[i, i + 1] for i in range(len(seq) - 1)) + sum(p.dwell_s for p in seq)
        routes.append(Route(
            unit_id=us.unit_id, mode=us.mode, station_id=us.station_id, date=us.date,
            shift=us.shift, start=us.start, end=us.end, stops=tuple(stops), path=tuple(path),
            km=round(network.path_length_m(path) / 1000.0, 3), busy_min=round(float(busy) / 60.0, 1),
        ))
    return routes


def plan_week(area: Area, network: Network, incidents: pd.DataFrame, week_start: date, seed: int = 0,
              time_limit_s: float | None = None, progress: Progress | None = None) -> Plan:
    """Plan the week from ``week_start`` for an area.

    Parameters
    ----------
    area
        The loaded area.
    network
        Its street network.
    incidents
        Its incidents; those on or after ``week_start`` are ignored.
    week_start
        First day of the week (any weekday; Mondays are usual).
    seed
        Seed of every random choice; same inputs and seed give the same plan.
    time_limit_s
        Solver time per shift; the area's default when ``None``.
    progress
        Called with a short message as each shift is solved.

    Returns
    -------
    Plan
    """
    say = progress or (lambda _msg: None)
    settings = area.settings
    limit = settings.time_limit_s if time_limit_s is None else time_limit_s
    station_nodes, site_nodes = snap_inputs(area, network)
    shifts_all = unit_shifts(area.units, week_start, area.shifts, settings.timezone,
                             source=str(area.units_path))
    segments = score_segments(network, incidents, week_start, settings)
    hotspots = choose_patrol_points(segments, network, settings.hotspot_candidates,
                                    settings.hotspot_min_separation_m)
    slots = week_slots(week_start, area.shifts, settings.timezone)
    visits, unserved_demand = protective_visits(
        area.sites, slots, shifts_all, settings, defaults.SITE_WINDOWS, seed)
    unserved = [Unserved(u.site_id, u.date, u.shift, u.reason) for u in unserved_demand]

    routes: list[Route] = []
    solve_seconds = 0.0
    offers = 0
    staffed = [s for s in slots if any(us.date == s.date and us.shift == s.shift for us in shifts_all)]
    for n, slot in enumerate(staffed):
        on_duty = [us for us in shifts_all if us.date == slot.date and us.shift == slot.shift]
        slot_visits = [v for v in visits if v.slot == slot]
        points = _slot_points(slot, on_duty, slot_visits, hotspots, area, station_nodes, site_nodes)
        problem = _problem(slot, on_duty, points, network, settings.reserve_share)
        began = clock.perf_counter()
        sol = solve(problem, time_limit=limit, seed=seed + n)
        solve_seconds += clock.perf_counter() - began
        offers += len(hotspots)
        for miss in sol.unserved:
            p = points[miss.point]
            unserved.append(Unserved(p.ref, slot.date, slot.shift, miss.reason))
        routes.extend(_routes(slot, on_duty, points, sol, network))
        say(f"{slot.date.isoformat()} {slot.shift:<5} {len(on_duty)} units, "
            f"{len(slot_visits)} protective, {sum(len(r) for r in sol.routes)} stops")
    if not routes:
        raise PlanningError("no unit-shift in the week")

    top = segments[segments["score"] > 0].nlargest(HOT_SEGMENTS_KEPT, "score")
    hot = tuple((round(float(s), 3), tuple((round(x, 6), round(y, 6)) for x, y in g.coords))
                for s, g in zip(top["score"], top.geometry, strict=True))
    streets = tuple(tuple((round(x, 5), round(y, 5)) for x, y in g.coords) for g in segments.geometry)
    return Plan(
        area=area.name, week_start=week_start, seed=seed, time_limit_s=limit,
        routes=tuple(routes),
        sites=tuple(PlannedSite(s.site_id, s.kind, s.tier, s.lat, s.lon, s.label)
                    for s in sorted(area.sites, key=lambda s: s.site_id)),
        hotspots=tuple(PlannedHotspot(h.hotspot_id, h.lat, h.lon, round(h.score, 3)) for h in hotspots),
        unserved=tuple(sorted(unserved, key=lambda u: (u.date, u.shift, u.site_id))),
        required_visits=len(visits) + len(unserved_demand),
        hotspot_offers=offers,
        harm_offered=round(sum(h.prize for h in hotspots) * len(staffed), 3),
        streets=streets, hot_segments=hot, solve_seconds=round(solve_seconds, 2),
        bbox=network.bbox,
    )
