"""Planning a week: from an area's data to a :class:`~patrols.plan.Plan`.

This is the core's one entry point. It takes loaded data (area, network,
incidents, tension, events) and returns a Plan; it reads and writes no files.

The week is planned as a whole:
- protective visits are allocated over the week first (see :mod:`patrols.demand`);
- each day's shifts are solved in order, so the hotspot dosage of a day is
  known shift by shift (a repeat visit the same day is worth less, up to a
  daily cap); different days are independent and are solved in parallel, one
  process per core;
- a naive planner is run on the same shifts for comparison
  (:mod:`patrols.baseline`);
- when visits go unserved, it works out how many more unit-shifts, of which
  kind, where and when, would serve them.
"""

from __future__ import annotations

import multiprocessing as mp
import time as clock
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patrols import defaults
from patrols.area import Area, Settings
from patrols.baseline import busy_seconds, hotspot_seconds, naive_routes
from patrols.delivered.feedback import apply_last_week
from patrols.demand import (
    HALF_WINDOW_S,
    EventAtSite,
    Slot,
    Visit,
    match_events,
    naive_visits,
    protective_visits,
    site_window,
    week_slots,
    window_holding,
)
from patrols.errors import InputError, PlanningError
from patrols.escalation import Escalation, escalation_report, find_escalations, merged_watches
from patrols.hotspots import Hotspot, choose_patrol_points, score_segments
from patrols.network import Network
from patrols.people import election_report, people_report, protected_days
from patrols.places import Places, street_labels
from patrols.plan import Plan, PlannedHotspot, PlannedSite, Route, Stop, Unserved
from patrols.predictability import site_spread, summarize_spread
from patrols.solver import ShiftProblem, ShiftSolution, Vehicle, solve
from patrols.week import UnitShift, unit_shifts

# How many top-scoring street segments the plan keeps for the map's hotspot surface.
HOT_SEGMENTS_KEPT = 400
# Extra unit-shifts tried per shift when working out what would serve unserved visits.
MAX_EXTRA_UNITS = 4
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PlanPoint:
    kind: str  # station | protective | hotspot
    ref: str
    lat: float
    lon: float
    dwell_s: float
    prize: float
    open_s: float
    close_s: float
    hotspot: int = -1
    """Index into the week's hotspots, or -1."""
    note: str = ""
    """A protective visit's reason beyond the weekly quota (see ``Stop.note``)."""


@dataclass(frozen=True)
class SlotTask:
    """One shift's problem as a worker process receives it (pure data)."""

    problem: ShiftProblem
    hotspot_of_point: tuple[int, ...]
    naive_problem: ShiftProblem
    """The same shift with the naive planner's own protective visits."""
    naive_hotspot_of_point: tuple[int, ...]
    fixed_open: np.ndarray
    """For the naive baseline: when it aims to be at each of its protective visits."""
    min_prize: float = 0.0
    """A hotspot visit worth less than this (after dosage) is not offered."""
    time_limit: float | None = None
    """Solver time for this problem; the day's when ``None``."""


@dataclass(frozen=True)
class SlotResult:
    """A solved shift, with the naive baseline's routes on the same problem."""

    solution: ShiftSolution
    value: tuple[tuple[float, ...], ...]
    """Dosage-adjusted worth of each visit on each route (0 for protective visits)."""
    baseline: list[list[tuple[int, float]]]
    baseline_value: float
    baseline_busy_s: float
    hotspot_s: float
    """Our hotspot patrol time: the leg into each hotspot visit plus its dwell."""
    baseline_hotspot_s: float
    seconds: float


@dataclass(frozen=True)
class TravelTable:
    """Travel times between every place of the week, computed once per mode.

    A place is a station, a protected site or a hotspot, keyed ``(kind, ref)``
    with kind ``station``, ``protective`` or ``hotspot``. Each mode stands at
    its own network point: the nearest street that mode can use (a car at the
    kerb of the nearest road, a foot patrol on the nearest footway). A place
    farther than the snapping limit from every street of a mode cannot be
    reached by it (``inf``). Shift problems take slices of these matrices, so
    the week costs one Dijkstra search per place and mode, not per shift.
    """

    index: dict[tuple[str, str], int]
    node: dict[str, np.ndarray]
    """Network node per place and mode (-1: the mode cannot reach it)."""
    travel: dict[str, np.ndarray]

    def rows(self, points: list[PlanPoint]) -> np.ndarray:
        """Rows of the table for a shift's points."""
        return np.array([self.index[(p.kind, p.ref)] for p in points], dtype=np.int64)


def snap_places(area: Area, network: Network, hotspots: list[Hotspot], modes: list[str]
                ) -> tuple[list[tuple[str, str]], dict[str, np.ndarray]]:
    """The week's places (stations, sites, hotspots) and the network node of each per mode.

    Returns
    -------
    (keys, node)
        ``(kind, ref)`` of each place, and per mode its node (-1 where the
        mode's streets are farther than ``max_snap_m``).

    Raises
    ------
    patrols.errors.InputError
        For a station or site farther than ``max_snap_m`` from every street of
        every mode (off the network).
    """
    limit = area.settings.max_snap_m
    places: list[tuple[str, str, float, float, Path | None, int]] = []
    places += [("station", s.station_id, s.lat, s.lon, area.stations_path, s.line)
               for s in area.stations.values()]
    places += [("protective", s.site_id, s.lat, s.lon, area.sites_path, s.line) for s in area.sites]
    places += [("hotspot", h.hotspot_id, h.lat, h.lon, None, 0) for h in hotspots]
    lat = [p[2] for p in places]
    lon = [p[3] for p in places]
    node: dict[str, np.ndarray] = {}
    near = np.zeros(len(places), dtype=bool)
    best = np.full(len(places), np.inf)
    for mode in modes:
        snap = network.snap(lat, lon, mode)
        ok = snap.distance_m <= limit
        node[mode] = np.where(ok, snap.node, -1)
        near |= ok
        best = np.minimum(best, snap.distance_m)
    for i, (kind, _ref, _, _, path, line) in enumerate(places):
        if not near[i] and path is not None:
            what = "station" if kind == "station" else "site"
            raise InputError(path, f"{what} is {best[i]:.0f} m from the nearest street "
                             f"(limit {limit:.0f} m): off the network", row=line, field="lat")
    return [(p[0], p[1]) for p in places], node


def travel_table(area: Area, network: Network, hotspots: list[Hotspot], modes: list[str]) -> TravelTable:
    """Snap the week's stations, sites and hotspots per mode and time every pair.

    Places are snapped by :func:`snap_places` (which refuses a station or site
    off every network). Legs between two stops longer than the mode's
    ``max_leg`` are left out (``inf``), which bounds every search: the cost
    grows with places x (the network within a leg's reach), not with places x
    the whole network. Legs from and to stations are searched whole (stations
    are few).
    """
    settings = area.settings
    keys, node = snap_places(area, network, hotspots, modes)
    travel = {}
    is_station = np.array([k[0] == "station" for k in keys])
    for mode in modes:
        reach = np.flatnonzero(node[mode] >= 0)
        st = reach[is_station[reach]]
        full = np.full((len(keys), len(keys)), np.inf)
        # Between stops: searches bounded by the longest leg; from and to stations: whole.
        full[np.ix_(reach, reach)] = network.travel_times(mode, node[mode][reach],
                                                          limit_s=settings.max_leg_s(mode))
        if len(st):
            full[np.ix_(st, reach)] = network.travel_times(mode, node[mode][st], node[mode][reach])
            full[np.ix_(reach, st)] = network.travel_times(mode, node[mode][st], node[mode][reach],
                                                           reverse=True).T
        np.fill_diagonal(full, 0.0)
        travel[mode] = full
    return TravelTable(index={k: i for i, k in enumerate(keys)}, node=node, travel=travel)


# ---------------------------------------------------------------- problems
def shift_problem(slot: Slot, shifts: list[UnitShift], points: list[PlanPoint], table: TravelTable,
             reserve: float) -> ShiftProblem:
    rows = table.rows(points)
    modes = sorted({us.mode for us in shifts})
    travel = {m: table.travel[m][np.ix_(rows, rows)] for m in modes}
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


def slot_points(slot: Slot, shifts: list[UnitShift], visits: list[Visit], hotspots: list[Hotspot],
                 area: Area, only: set[int] | None = None) -> list[PlanPoint]:
    t0 = slot.start.timestamp()
    length = slot.end.timestamp() - t0
    points: list[PlanPoint] = []
    for sid in sorted({us.station_id for us in shifts}):
        st = area.stations[sid]
        points.append(PlanPoint("station", sid, st.lat, st.lon, 0.0, 0.0, 0.0, length))
    sites = {s.site_id: s for s in area.sites}
    for v in visits:
        site = sites[v.site_id]
        points.append(PlanPoint("protective", v.site_id, site.lat, site.lon,
                             v.dwell_min * 60.0, 0.0, v.window_open.timestamp() - t0,
                             v.window_close.timestamp() - t0, note=v.note))
    dwell = area.settings.hotspot_dwell_min * 60.0
    weekday = slot.date.weekday()
    for k, h in enumerate(hotspots):
        if only is not None and k not in only:
            continue
        points.append(PlanPoint("hotspot", h.hotspot_id, h.lat, h.lon, dwell,
                             h.prize_for(slot.shift, weekday), 0.0, length - dwell, hotspot=k))
    return points


def split_districts(on_duty: list[UnitShift], visits: list[Visit], naive: list[Visit],
                    hotspots: list[Hotspot], table: TravelTable, area: Area
                    ) -> list[tuple[list[UnitShift], list[Visit], list[Visit], set[int] | None]]:
    """Split a large shift into districts of at most ``district_units`` units each.

    A shift with at most ``settings.district_units`` units is one problem
    (``None`` for the hotspots: all of them). A larger one is cut so the solver
    works on problems of a bounded size: the stations with units on duty are
    split in two along the longer side of their spread, at the middle of their
    units, again and again until each part holds few enough units; then every
    protective visit and hotspot goes to the station that reaches it soonest
    with a mode it has on duty, and so to that station's district. Solving time
    then grows with the number of units instead of with the square of the
    shift's points, and units still share work with their neighbours.

    Returns
    -------
    list of (units, visits, naive visits, hotspot indices)
    """
    cap = max(1, area.settings.district_units)
    if len(on_duty) <= cap:
        return [(on_duty, visits, naive, None)]
    stations = sorted({us.station_id for us in on_duty})
    units_at = Counter(us.station_id for us in on_duty)
    groups = _bisect(stations, units_at, area, cap)
    group_of = {s: g for g, members in enumerate(groups) for s in members}
    rows = np.array([table.index[("station", s)] for s in stations])
    site_ids = sorted({v.site_id for v in visits + naive})
    keys = [("protective", sid) for sid in site_ids] + [("hotspot", h.hotspot_id) for h in hotspots]
    cols = np.array([table.index[k] for k in keys], dtype=np.int64)
    # Time from each station to each place by the fastest mode it has on duty.
    times = np.full((len(stations), len(cols)), np.inf)
    for mode in sorted({us.mode for us in on_duty}):
        has = np.array([any(us.station_id == s and us.mode == mode for us in on_duty) for s in stations])
        times[has] = np.minimum(times[has], table.travel[mode][np.ix_(rows[has], cols)])
    group = np.array([group_of[s] for s in stations])[np.argmin(times, axis=0)]
    site_home = dict(zip(site_ids, group[:len(site_ids)].tolist(), strict=True))
    hot_home = group[len(site_ids):].tolist()
    return [([us for us in on_duty if group_of[us.station_id] == g],
             [v for v in visits if site_home[v.site_id] == g],
             [v for v in naive if site_home[v.site_id] == g],
             {k for k, h in enumerate(hot_home) if h == g})
            for g in range(len(groups))]


def _bisect(stations: list[str], units_at: Counter[str], area: Area, cap: int) -> list[list[str]]:
    """Stations split in two along their longer spread, at the middle of their units, until each
    part has at most ``cap`` units (a station is never split)."""
    if sum(units_at[s] for s in stations) <= cap or len(stations) == 1:
        return [stations]
    lat = np.array([area.stations[s].lat for s in stations])
    lon = np.array([area.stations[s].lon for s in stations])
    kx = np.cos(np.radians(lat.mean()))
    key = lon * kx if np.ptp(lon) * kx >= np.ptp(lat) else lat
    order = [stations[i] for i in np.lexsort((np.arange(len(stations)), key))]
    weights = np.cumsum([units_at[s] for s in order])
    cut = int(np.searchsorted(weights, weights[-1] / 2.0)) + 1
    cut = min(max(cut, 1), len(order) - 1)
    return _bisect(order[:cut], units_at, area, cap) + _bisect(order[cut:], units_at, area, cap)


def restrict(problem: ShiftProblem, keep: list[int]) -> ShiftProblem:
    """The problem restricted to the points in ``keep`` (depots must be kept)."""
    pos = {p: i for i, p in enumerate(keep)}
    idx = np.array(keep)
    return replace(
        problem,
        travel={m: t[np.ix_(idx, idx)] for m, t in problem.travel.items()},
        service=problem.service[idx], prize=problem.prize[idx], required=problem.required[idx],
        window_open=problem.window_open[idx], window_close=problem.window_close[idx],
        # A vehicle's allowed points are indices too: renumbered with the rest (a re-plan's locked
        # stops are allowed to their own unit only; left as they were, they pointed at other points).
        vehicles=tuple(replace(v, start=pos[v.start], end=pos[v.end],
                               allowed=None if v.allowed is None
                               else frozenset(pos[i] for i in v.allowed if i in pos))
                       for v in problem.vehicles),
    )


# ------------------------------------------------------------------ solving
@dataclass(frozen=True)
class DayDosage:
    """What a day's shifts pass on to the next: each hotspot's visits so far that day, in our plan and
    in the naive planner's (hotspot index -> visits)."""

    ours: Counter[int] = field(default_factory=Counter)
    naive: Counter[int] = field(default_factory=Counter)


def solve_day(tasks: list[SlotTask], repeat_value: float, daily_cap: int, time_limit: float,
              seed: int, workers: int, min_share: float = defaults.HOTSPOT_MIN_SHARE) -> list[SlotResult]:
    """Solve one day's shifts in order, the hotspot dosage carried from shift to shift.

    The k-th visit of the day to a hotspot is worth ``repeat_value ** (k-1)`` of
    its prize; at ``daily_cap`` visits the hotspot is no longer offered that
    day. The naive baseline runs on the same problems with the same valuation
    (its own visit counts), so the two are compared like for like. Each shift is
    :func:`solve_shift`, the ``n``-th of the day seeded ``seed + n``.

    Returns
    -------
    list of SlotResult
        One per task, in order.
    """
    dosage = DayDosage()
    out = []
    for n, task in enumerate(tasks):
        result, dosage = solve_shift(task, n, dosage, repeat_value, daily_cap, time_limit, seed, workers,
                                     min_share)
        out.append(result)
    return out


def solve_shift(task: SlotTask, n: int, dosage: DayDosage, repeat_value: float, daily_cap: int,
                time_limit: float, seed: int, workers: int,
                min_share: float = defaults.HOTSPOT_MIN_SHARE) -> tuple[SlotResult, DayDosage]:
    """Solve the ``n``-th shift of a day (seeded ``seed + n``) after the day's earlier shifts' ``dosage``.

    One step of :func:`solve_day`, which it is exactly: ``dosage`` is left as it is, and the day's
    dosage after this shift is returned beside its result, for the next shift.
    """
    ours, naive = Counter(dosage.ours), Counter(dosage.naive)
    problem = task.problem
    began = clock.perf_counter()
    prize = problem.prize.copy()
    for i, h in enumerate(task.hotspot_of_point):
        if h >= 0:
            prize[i] = 0.0 if ours[h] >= daily_cap else prize[i] * repeat_value ** ours[h]
            if prize[i] < task.min_prize:
                prize[i] = 0.0
    keep = [i for i in range(problem.n_points) if task.hotspot_of_point[i] < 0 or prize[i] > 0]
    sub = restrict(replace(problem, prize=prize), keep)
    # Work budgets, not the clock: the same seed gives the same plan under any load.
    task_limit = time_limit if task.time_limit is None else task.time_limit
    sol = solve(sub, time_limit=task_limit, seed=seed + n, workers=workers, deterministic=True)
    sol = replace(
        sol,
        routes=tuple(tuple(keep[i] for i in r) for r in sol.routes),
        unserved=tuple(replace(u, point=keep[u.point]) for u in sol.unserved),
    )
    value = tuple(tuple(float(prize[i]) for i in r) for r in sol.routes)
    for r in sol.routes:
        for i in r:
            if task.hotspot_of_point[i] >= 0:
                ours[task.hotspot_of_point[i]] += 1
    sol, value = fill_empty(problem, task.hotspot_of_point, sol, value, ours, repeat_value,
                             min_share, task_limit, seed + n)
    # The naive planner on the same shift, valued with its own dosage.
    nproblem = task.naive_problem
    base = naive_routes(nproblem, task.fixed_open)
    base_value = 0.0
    for r in base:
        for i, _ in r:
            h = task.naive_hotspot_of_point[i]
            if h >= 0 and naive[h] < daily_cap:
                base_value += float(nproblem.prize[i]) * repeat_value ** naive[h]
                naive[h] += 1
    base_busy = sum(busy_seconds(nproblem, k, [i for i, _ in r]) for k, r in enumerate(base))
    base_hot = sum(hotspot_seconds(nproblem, k, [i for i, _ in r]) for k, r in enumerate(base))
    hot = sum(hotspot_seconds(problem, k, list(r)) for k, r in enumerate(sol.routes))
    result = SlotResult(sol, value, base, base_value, base_busy, hot, base_hot, clock.perf_counter() - began)
    return result, DayDosage(ours, naive)


def fill_empty(problem: ShiftProblem, hotspot_of_point: tuple[int, ...], sol: ShiftSolution,
                value: tuple[tuple[float, ...], ...], visits: Counter[int], repeat_value: float,
                min_share: float, time_limit: float,
                seed: int) -> tuple[ShiftSolution, tuple[tuple[float, ...], ...]]:
    """Send every unit-shift left without a stop to the best hotspots within its reach.

    The week's threshold and the daily cap keep patrol time on the hottest
    streets and leave the rest for calls; but a unit on duty with nothing
    planned wastes the dose it could give (a foot patrol far from the week's
    top hotspots, or whose nearby hotspots were dosed earlier in the day). So a
    unit left empty is offered the hotspots no other unit visits in this shift
    that it can reach and return from within its busy-time cap, each worth its
    prize decayed by the day's visits so far (``repeat_value ** visits``, past
    the cap too), and of those only the ones worth at least ``min_share`` of the
    best within its own reach: the same rule as the week's, relative to what
    this unit can do. ``visits`` is updated in place.
    """
    empty = [k for k, r in enumerate(sol.routes) if not r]
    if not empty:
        return sol, value
    taken = {i for r in sol.routes for i in r}
    prize = np.zeros(problem.n_points)
    for i, h in enumerate(hotspot_of_point):
        if h >= 0 and i not in taken:
            prize[i] = float(problem.prize[i]) * repeat_value ** visits[h]
    # Deal the hotspots out, best first, each to the empty unit that can reach it, for
    # which it is worth a dose, and that has the fewest so far: every unit gets a share
    # of the best within its reach instead of the first unit taking them all.
    reach, best = [], []
    for k in empty:
        v = problem.vehicles[k]
        m = problem.travel[v.profile]
        cost = m[v.start] + problem.service + m[:, v.end]
        ok = (prize > 0) & np.isfinite(cost) & (cost <= v.max_busy)
        reach.append(ok)
        best.append(float(prize[ok].max()) if ok.any() else 0.0)
    dealt: list[list[int]] = [[] for _ in empty]
    for i in sorted(np.flatnonzero(prize > 0).tolist(), key=lambda i: (-prize[i], i)):
        takers = [j for j in range(len(empty)) if reach[j][i] and prize[i] >= min_share * best[j]]
        if takers:
            dealt[min(takers, key=lambda j: (len(dealt[j]), j))].append(i)
    vehicles = [replace(problem.vehicles[k], allowed=frozenset(dealt[j])) for j, k in enumerate(empty)]
    offered = sorted(set().union(*(v.allowed for v in vehicles)))
    if not offered:
        return sol, value
    depots = sorted({i for v in vehicles for i in (v.start, v.end)})
    keep = sorted(set(depots) | set(offered))
    pos = {p: j for j, p in enumerate(keep)}
    vehicles = [replace(v, allowed=frozenset(pos[i] for i in v.allowed)) for v in vehicles]
    sub = restrict(replace(problem, prize=prize, required=np.zeros(problem.n_points, dtype=bool),
                        vehicles=tuple(vehicles)), keep)
    extra = solve(sub, time_limit=time_limit * 0.5, seed=seed, workers=1, deterministic=True)
    routes, starts = list(sol.routes), list(sol.starts)
    depart, arrive = list(sol.depart), list(sol.arrive_end)
    worth = list(value)
    added = 0.0
    for j, k in enumerate(empty):
        route = tuple(keep[i] for i in extra.routes[j])
        if not route:
            continue
        routes[k], starts[k] = route, extra.starts[j]
        depart[k], arrive[k] = extra.depart[j], extra.arrive_end[j]
        worth[k] = tuple(float(prize[i]) for i in route)
        added += sum(worth[k])
        for i in route:
            visits[hotspot_of_point[i]] += 1
    filled = replace(sol, routes=tuple(routes), starts=tuple(starts), depart=tuple(depart),
                     arrive_end=tuple(arrive), prize=sol.prize + added)
    return filled, tuple(worth)


def _solve_days(week: WeekProblem, settings: Settings, workers: int) -> list[list[SlotResult]]:
    """Solve every day of a prepared week, in parallel processes when ``workers`` > 1."""
    args = [day_args(week, settings, d) for d in range(len(week.days))]
    if workers <= 1 or len(args) <= 1:
        return [solve_day(*a) for a in args]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(solve_day, *a) for a in args]
        return [f.result() for f in futures]


# ------------------------------------------------------------------- routes
def build_routes(slot: Slot, shifts: list[UnitShift], points: list[PlanPoint], problem: ShiftProblem,
            sol: ShiftSolution, value: tuple[tuple[float, ...], ...], network: Network,
            table: TravelTable, places: Places, station_names: dict[str, str]) -> list[Route]:
    t0 = slot.start.timestamp()
    zone = slot.start.tzinfo
    rows = table.rows(points)
    routes = []
    for k, us in enumerate(shifts):
        veh = problem.vehicles[k]
        home = points[veh.start]
        node_of = table.node[us.mode]
        index = [veh.start, *sol.routes[k], veh.end]
        station = station_names.get(home.ref, "") or f"station {home.ref}"
        stops = [Stop(0, "station", home.ref, home.lat, home.lon, None,
                      datetime.fromtimestamp(round(t0 + sol.depart[k]), zone), place=station)]
        for n, (i, t, worth) in enumerate(zip(sol.routes[k], sol.starts[k], value[k], strict=True), start=1):
            p = points[i]
            # The stop is the network point the unit stands on (its mode's nearest street).
            node = int(node_of[rows[i]])
            arrive = datetime.fromtimestamp(round(t0 + t), zone)
            depart = datetime.fromtimestamp(round(t0 + t + p.dwell_s), zone)
            stops.append(Stop(n, p.kind, p.ref, round(float(network.lat[node]), 6),
                              round(float(network.lon[node]), 6), arrive, depart, round(worth, 3),
                              places.name(node), note=p.note))
        stops.append(Stop(len(stops), "station", home.ref, home.lat, home.lon,
                          datetime.fromtimestamp(round(t0 + sol.arrive_end[k]), zone), None, place=station))
        travel = problem.travel[us.mode]
        path: list[tuple[float, float]] = []
        if len(index) > 2:
            legs = [(int(node_of[rows[a]]), int(node_of[rows[b]])) for a, b in pairwise(index)]
            limits = [float(travel[a, b]) for a, b in pairwise(index)]
            for leg in network.paths(us.mode, legs, limits):
                path.extend(leg[1:] if path else leg)
        path = [(round(x, 6), round(y, 6)) for x, y in path]
        # Busy time from the shift's own travel matrix (already computed for the solver).
        busy = sum(travel[a, b] for a, b in pairwise(index)) + sum(points[i].dwell_s for i in index)
        routes.append(Route(
            unit_id=us.unit_id, mode=us.mode, station_id=us.station_id, date=us.date,
            shift=us.shift, start=us.start, end=us.end, stops=tuple(stops), path=tuple(path),
            km=round(network.path_length_m(path) / 1000.0, 3), busy_min=round(float(busy) / 60.0, 1),
        ))
    return routes


# --------------------------------------------------------------- shortfall
def extra_units_needed(missing: dict[tuple[date, str], list[Visit]], slots: dict[tuple[date, str], Slot],
               area: Area, table: TravelTable, time_limit: float, seed: int) -> list[dict[str, Any]]:
    """How many more car unit-shifts, from which station, would serve the unserved visits of each shift.

    For each shift with unserved visits, extra car units based at the station
    nearest (by car) to those visits are added one at a time, and the visits
    alone are solved, until every one is served or ``MAX_EXTRA_UNITS`` is reached.
    """
    out = []
    templates = area.shifts
    for key in sorted(missing):
        slot, visits = slots[key], missing[key]
        sids = sorted(area.stations)
        rows = [table.index[("station", s)] for s in sids]
        cols = [table.index[("protective", v.site_id)] for v in visits]
        nearest = sids[int(np.argmin(table.travel["car"][np.ix_(rows, cols)].sum(axis=1)))]
        served, extra = 0, 0
        for extra in range(1, MAX_EXTRA_UNITS + 1):
            units = [UnitShift(f"extra-{i + 1}", "car", nearest, slot.shift, slot.date, slot.start, slot.end)
                     for i in range(extra)]
            points = slot_points(slot, units, visits, [], area)
            problem = shift_problem(slot, units, points, table, area.settings.reserve_share)
            sol = solve(problem, time_limit=time_limit, seed=seed, workers=1, deterministic=True)
            served = sum(len(r) for r in sol.routes)
            if served == len(visits):
                break
        start, end = templates[slot.shift]
        out.append({
            "date": slot.date.isoformat(), "shift": slot.shift,
            "hours": f"{start:%H:%M}-{end:%H:%M}", "mode": "car", "station_id": nearest,
            "extra_unit_shifts": extra, "unserved_visits": len(visits), "would_serve": served,
        })
    return out


# ---------------------------------------------------------------- the week
def plan_week(area: Area, network: Network, incidents: pd.DataFrame, week_start: date, seed: int = 0,
              time_limit_s: float | None = None, progress: Progress | None = None,
              tension: list | tuple = (), events: list | tuple = (), workers: int = 2,
              last_week: dict[str, Any] | None = None) -> Plan:
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
        Called with a short message as the work goes on.
    tension, events
        Tension areas and planned events (see :mod:`patrols.tension`).
    workers
        Processes solving days at once (one per core is best).
    last_week
        Last week's ``delivered.json`` (parsed): its under-dosed streets are
        raised and its protective visits not made are reported (see
        :mod:`patrols.delivered.feedback`).

    Returns
    -------
    Plan
    """
    say = progress or (lambda _msg: None)
    week = prepare_week(area, network, incidents, week_start, seed=seed, time_limit_s=time_limit_s,
                        progress=progress, tension=tension, events=events, last_week=last_week)
    solve_began = clock.perf_counter()
    results_by_day = _solve_days(week, area.settings, workers)
    solve_wall = clock.perf_counter() - solve_began
    say(f"solved {sum(len(d) for d in results_by_day)} shifts on {workers} worker(s) in {solve_wall:.1f} s")
    return finish_week(area, network, week, results_by_day, workers=workers, solve_wall_s=solve_wall)


@dataclass(frozen=True)
class WeekProblem:
    """A week made ready to solve: every shift's problem, and what turning solutions into routes needs.

    Plain data (no network, no solver state), so it crosses process and cluster
    boundaries: :func:`prepare_week` makes it, each day is solved on its own
    (:func:`day_args`, :func:`solve_day`), and :func:`finish_week` makes the plan.
    """

    week_start: date
    seed: int
    limit: float
    hotspots: list[Hotspot]
    table: TravelTable
    visits: list[Visit]
    unserved_demand: list
    staffed: list[Slot]
    built: list[tuple[Slot, list[UnitShift], list[Visit], list[PlanPoint], ShiftProblem, list[PlanPoint]]]
    days: list[list[SlotTask]]
    """Each day's shift problems in order (the order of ``built``, day by day)."""
    districts: int
    at_sites: list[EventAtSite]
    escalations: list[Escalation]
    feedback: dict[str, Any] | None
    hot_segments: tuple
    streets: tuple
    focus: dict[str, Any]
    timing: dict[str, float]
    spread_reference: dict = field(default_factory=dict)
    """Uniform references of the visits' spread drawn before solving (:func:`spread_reference`)."""


def day_args(week: WeekProblem, settings: Settings, day: int, workers: int = 1) -> tuple:
    """The arguments of :func:`solve_day` for the week's ``day``-th day, seeded as :func:`plan_week` does."""
    return (week.days[day], settings.hotspot_repeat_value, settings.hotspot_daily_cap, week.limit,
            week.seed + 100 * day, workers, settings.hotspot_min_share)


def prepare_week(area: Area, network: Network, incidents: pd.DataFrame, week_start: date, seed: int = 0,
                 time_limit_s: float | None = None, progress: Progress | None = None,
                 tension: list | tuple = (), events: list | tuple = (),
                 last_week: dict[str, Any] | None = None) -> WeekProblem:
    """Everything before solving: hotspots, travel times, protective visits, each shift's problem.

    Parameters are those of :func:`plan_week`.
    """
    say = progress or (lambda _msg: None)
    settings = area.settings
    limit = settings.time_limit_s if time_limit_s is None else time_limit_s
    began = clock.perf_counter()
    shifts_all = unit_shifts(area.units, week_start, area.shifts, settings.timezone,
                             source=str(area.units_path))
    modes = sorted({us.mode for us in shifts_all} | {"car"})
    snap_places(area, network, [], modes)  # refuse a station or site off the network before any work
    segments = score_segments(network, incidents, week_start, settings, tension=list(tension),
                              events=list(events), shifts=area.shifts)
    street_km = float(segments["length_m"].sum()) / 1000.0
    hotspots = choose_patrol_points(segments, network, settings.candidate_count(street_km),
                                    settings.hotspot_min_separation_m)
    feedback = None
    if last_week is not None:
        hotspots, feedback = apply_last_week(hotspots, last_week)
    scored = clock.perf_counter()
    table = travel_table(area, network, hotspots, modes)
    timed = clock.perf_counter()
    slots = week_slots(week_start, area.shifts, settings.timezone)
    at_sites: list[EventAtSite] = match_events(list(events), area.sites, week_start, settings.timezone)
    protected = protected_days(area.sites, area.people, area.election, week_start)
    escalations = find_escalations(list(events), area.sites, area.escalation, week_start, settings.timezone,
                                   protected)
    visits, unserved_demand = protective_visits(
        area.sites, slots, shifts_all, settings, defaults.SITE_WINDOWS, seed, at_sites, protected,
        merged_watches(escalations))
    naive = naive_visits(area.sites, slots, shifts_all, settings, defaults.SITE_WINDOWS, protected)
    say(f"{len(hotspots)} hotspots, {len(visits)} protective visits, "
        f"{len(unserved_demand)} unplaceable ({clock.perf_counter() - began:.1f} s)")

    staffed = [s for s in slots if any(us.date == s.date and us.shift == s.shift for us in shifts_all)]
    if not staffed:
        raise PlanningError("no unit-shift in the week")
    built: list[tuple[Slot, list[UnitShift], list[Visit], list[PlanPoint], ShiftProblem,
                      list[PlanPoint]]] = []
    by_day: dict[date, list[SlotTask]] = defaultdict(list)
    districts = 0
    for slot in staffed:
        on_duty = [us for us in shifts_all if us.date == slot.date and us.shift == slot.shift]
        slot_visits = [v for v in visits if v.slot == slot]
        slot_naive = [v for v in naive if v.slot == slot]
        parts = split_districts(on_duty, slot_visits, slot_naive, hotspots, table, area)
        districts += len(parts)
        for group, group_visits, group_naive, group_hot in parts:
            points = slot_points(slot, group, group_visits, hotspots, area, group_hot)
            problem = shift_problem(slot, group, points, table, settings.reserve_share)
            naive_points = slot_points(slot, group, group_naive, hotspots, area, group_hot)
            naive_problem = shift_problem(slot, group, naive_points, table, settings.reserve_share)
            fixed = np.array([p.open_s + HALF_WINDOW_S if p.kind == "protective" else 0.0
                              for p in naive_points])
            # Solver time grows with the units: REFERENCE_UNITS get the time limit.
            task_limit = limit * max(1.0, len(group) / defaults.REFERENCE_UNITS)
            built.append((slot, group, group_visits, points, problem, naive_points))
            by_day[slot.date].append(SlotTask(problem, tuple(p.hotspot for p in points), naive_problem,
                                              tuple(p.hotspot for p in naive_points), fixed,
                                              time_limit=task_limit))
    # The week's top prize sets the bar below which a visit is not worth the time.
    top_prize = max((float(t.problem.prize.max()) for tasks in by_day.values() for t in tasks), default=0.0)
    by_day = {d: [replace(t, min_prize=settings.hotspot_min_share * top_prize) for t in tasks]
              for d, tasks in by_day.items()}
    top = segments[segments["score"] > 0].nlargest(HOT_SEGMENTS_KEPT, "score")
    hot = tuple((round(float(s), 3), tuple((round(x, 6), round(y, 6)) for x, y in g.coords))
                for s, g in zip(top["score"], top.geometry, strict=True))
    streets = tuple(tuple((round(x, 5), round(y, 5)) for x, y in g.coords) for g in segments.geometry)
    return WeekProblem(
        week_start=week_start, seed=seed, limit=limit, hotspots=hotspots, table=table, visits=visits,
        unserved_demand=unserved_demand, staffed=staffed, built=built,
        days=[by_day[d] for d in sorted(by_day)], districts=districts, at_sites=at_sites,
        escalations=escalations, feedback=feedback, hot_segments=hot, streets=streets,
        focus=segments.attrs.get("hotspots", {}),
        timing={"hotspots_s": round(scored - began, 2), "travel_times_s": round(timed - scored, 2)},
        spread_reference=spread_reference(area, visits, seed))


def finish_week(area: Area, network: Network, week: WeekProblem, results_by_day: list[list[SlotResult]],
                workers: int = 1, solve_wall_s: float = 0.0) -> Plan:
    """The plan from a prepared week and each day's solved shifts (in the order of ``week.days``).

    Parameters
    ----------
    area, network
        As given to :func:`prepare_week`.
    week
        The prepared week.
    results_by_day
        :func:`solve_day`'s results for each day of ``week.days``.
    workers, solve_wall_s
        How the days were solved, for the plan's timing figures.
    """
    settings = area.settings
    week_start, seed, limit = week.week_start, week.seed, week.limit
    hotspots, table = week.hotspots, week.table
    visits, staffed, built, at_sites = week.visits, week.staffed, week.built, week.at_sites
    unserved_demand, escalations, feedback = week.unserved_demand, week.escalations, week.feedback
    unserved = [Unserved(u.site_id, u.date, u.shift, u.reason) for u in unserved_demand]
    results = [r for day in results_by_day for r in day]
    solve_wall = solve_wall_s
    routes_began = clock.perf_counter()
    routes: list[Route] = []
    places = Places(network)
    station_names = {sid: st.name for sid, st in area.stations.items()}
    missing: dict[tuple[date, str], list[Visit]] = defaultdict(list)
    base_value = base_busy = base_hot = hot_s = 0.0
    base_times: dict[str, list[datetime]] = defaultdict(list)
    for (slot, on_duty, slot_visits, points, problem, naive_points), res in zip(built, results, strict=True):
        visit_at = {i: v for i, v in zip(
            [i for i, p in enumerate(points) if p.kind == "protective"], slot_visits, strict=True)}
        for miss in res.solution.unserved:
            p = points[miss.point]
            unserved.append(Unserved(p.ref, slot.date, slot.shift, miss.reason))
            if miss.point in visit_at:
                missing[(slot.date, slot.shift)].append(visit_at[miss.point])
        routes.extend(build_routes(slot, on_duty, points, problem, res.solution, res.value, network, table,
                              places, station_names))
        base_value += res.baseline_value
        base_busy += res.baseline_busy_s
        base_hot += res.baseline_hotspot_s
        hot_s += res.hotspot_s
        for r in res.baseline:
            for i, t in r:
                if naive_points[i].kind == "protective":
                    base_times[naive_points[i].ref].append(
                        datetime.fromtimestamp(slot.start.timestamp() + t, slot.start.tzinfo))

    routes_s = clock.perf_counter() - routes_began
    # Predictability of the weekly (tier) visits as planned, and of the naive plan's.
    planned_times: dict[str, list[datetime]] = defaultdict(list)
    tier_keys = {(v.site_id, v.slot.date, v.slot.shift) for v in visits if v.source == "tier"}
    for r in routes:
        for s in r.stops:
            if s.kind == "protective" and (s.ref, r.date, r.shift) in tier_keys and s.arrive:
                planned_times[s.ref].append(s.arrive)
    memo = dict(week.spread_reference)
    spread = visit_spread(area, visits, planned_times, seed, memo)
    base_spread = visit_spread(area, visits, base_times, seed, memo)

    shortfall = extra_units_needed(dict(missing), {(s.date, s.shift): s for s in staffed}, area, table,
                           min(limit, 2.0), seed) if missing else []
    for key, group in _unstaffed(unserved_demand).items():
        shortfall.append({"date": key[0].isoformat(), "shift": key[1], "mode": "any",
                          "station_id": "", "extra_unit_shifts": 1, "unserved_visits": group,
                          "would_serve": group, "note": "no unit on duty in the sites' windows"})

    hot, streets = week.hot_segments, week.streets
    harm_offered = sum(h.prize_for(s.shift, s.date.weekday()) for s in staffed for h in hotspots)
    base_hours = base_busy / 3600.0
    covered = sum(s.value for r in routes for s in r.stops if s.kind == "hotspot")
    extra = {
        "hotspot_patrol_minutes": round(hot_s / 60.0, 1),
        "harm_per_patrol_hour": round(covered / (hot_s / 3600.0), 3) if hot_s else 0.0,
        "predictability": spread,
        "baseline": {
            "planner": "naive: nearest unvisited hotspot; sites in fixed order at fixed times",
            "harm_covered": round(base_value, 3),
            "planned_minutes": round(base_busy / 60.0, 1),
            "harm_per_planned_hour": round(base_value / base_hours, 3) if base_hours else 0.0,
            "hotspot_patrol_minutes": round(base_hot / 60.0, 1),
            "harm_per_patrol_hour": round(base_value / (base_hot / 3600.0), 3) if base_hot else 0.0,
            "predictability": {k: v for k, v in base_spread.items() if k != "sites"},
        },
        "shortfall": shortfall,
        "districts": week.districts,
        "timing": {"workers": workers, **week.timing, "solve_wall_s": round(solve_wall, 2),
                   "solve_cpu_s": round(sum(r.seconds for r in results), 2), "routes_s": round(routes_s, 2)},
        "dosage": {"repeat_value": settings.hotspot_repeat_value, "daily_cap": settings.hotspot_daily_cap,
                   "min_share_of_top_prize": settings.hotspot_min_share},
        "events_at_sites": len(at_sites),
        # What the hotspot surface counted and the street count's share of it (patrols.hotspots.Focus).
        "hotspots": week.focus,
        # What counts as a delivered visit, so `patrols delivered` measures this plan by the area's rule.
        "delivered_rule": asdict(area.delivered),
    }
    if feedback is not None:
        extra["last_week"] = feedback
    extra.update(people_extra(area, week_start, at_sites, escalations, routes, unserved))
    return Plan(
        area=area.name, week_start=week_start, seed=seed, time_limit_s=limit,
        routes=tuple(routes),
        sites=tuple(PlannedSite(s.site_id, s.kind, s.tier, s.lat, s.lon, s.label, s.person_id)
                    for s in sorted(area.sites, key=lambda s: s.site_id)),
        hotspots=tuple(PlannedHotspot(h.hotspot_id, h.lat, h.lon, round(h.score, 3), h.prize,
                                      dict(h.shift_weights), tuple(h.day_weights)) for h in hotspots),
        unserved=tuple(sorted(unserved, key=lambda u: (u.date, u.shift, u.site_id))),
        required_visits=len(visits) + len(unserved_demand),
        hotspot_offers=len(hotspots) * len(staffed),
        harm_offered=round(harm_offered, 3),
        streets=streets, hot_segments=hot, street_labels=street_labels(network),
        solve_seconds=round(solve_wall, 2),
        bbox=network.bbox, extra=extra,
    )


def people_extra(area: Area, week_start: date, at_sites: list[EventAtSite], escalations: list[Escalation],
                 routes: list[Route], unserved: list) -> dict[str, Any]:
    """The plan's ``people``, ``election``, ``site_events`` and ``escalations`` (those that apply).

    Contact sheets (:mod:`patrols.outputs.contacts`) and the summary read them; a
    redacted plan drops them all.
    """
    out: dict[str, Any] = {}
    if area.people:
        names = {sid: st.name for sid, st in area.stations.items()}
        out["people"] = people_report(area.sites, area.people, area.contacts, names, area.election,
                                      week_start)
    if area.election is not None:
        out["election"] = election_report(area.election, area.people, week_start)
    escalated = {(e.event_id, e.site_id) for e in escalations}
    kinds = {e.event_id: (e.kind, e.level) for e in escalations}
    rows = [{"event_id": e.event_id, "kind": e.kind, "level": e.level, "site_id": e.site_id,
             "start": e.start.isoformat(), "end": e.end.isoformat(),
             "escalated": (e.event_id, e.site_id) in escalated} for e in at_sites]
    seen = {(r["event_id"], r["site_id"]) for r in rows}
    rows += [{"event_id": e.event_id, "kind": kinds[e.event_id][0], "level": kinds[e.event_id][1],
              "site_id": e.site_id, "start": e.event_start.isoformat(), "end": e.event_end.isoformat(),
              "escalated": True} for e in escalations if (e.event_id, e.site_id) not in seen]
    out["site_events"] = sorted(rows, key=lambda r: (r["start"], r["event_id"], r["site_id"]))
    out["escalations"] = escalation_report(escalations, routes, unserved)
    return out


def _unstaffed(unserved: list) -> dict[tuple[date, str], int]:
    groups: Counter[tuple[date, str]] = Counter()
    for u in unserved:
        if u.reason.startswith("no unit on duty"):
            groups[(u.date, u.shift)] += 1
    return dict(groups)


def visit_spread(area: Area, visits: list[Visit], times: dict[str, list[datetime]],
                 seed: int, memo: dict | None = None) -> dict[str, Any]:
    """Per-site spread of visit hours beside uniform random times in the same windows.

    ``memo``: uniform references already drawn (see :func:`patrols.predictability.site_spread`).
    """
    sites = {s.site_id: s for s in area.sites}
    tz = area.settings.timezone
    per_site = {}
    for site_id in sorted({v.site_id for v in visits if v.source == "tier"}):
        got = sorted(times.get(site_id, []))
        window = site_window(sites[site_id], defaults.SITE_WINDOWS)
        spans = [window_holding(window, t, tz) for t in got]
        per_site[site_id] = site_spread(got, spans, tz, seed, memo)
    return summarize_spread(per_site)


def spread_reference(area: Area, visits: list[Visit], seed: int) -> dict:
    """The uniform references of :func:`visit_spread` for the weekly visits as allocated, drawn before
    solving: when a plan makes every visit of a site on its day (as it mostly does), its spread needs
    no draws of its own (the naive plan's neither)."""
    memo: dict = {}
    allocated: dict[str, list[datetime]] = defaultdict(list)
    for v in visits:
        if v.source == "tier":
            allocated[v.site_id].append(v.target)
    visit_spread(area, visits, allocated, seed, memo)
    return memo
