"""Which shifts a re-plan touches, and each touched district as a problem to solve again.

A shift is touched when its unit-shifts, its protective visits or its hotspot
offers differ between the parent's week and the changed one
(:func:`slot_signature`). Its problem carries the parent's routes as a warm
start and a :class:`~patrols.solver.problem.Stability` (each stop's unit and
time), and locks the stops already made before the re-plan's start.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from patrols import defaults
from patrols.area import Area
from patrols.demand import (
    Slot,
    Visit,
)
from patrols.hotspots import Hotspot
from patrols.plan import Route, Stop
from patrols.planning import (
    PlanPoint,
    TravelTable,
    shift_problem,
    slot_points,
    split_districts,
)
from patrols.replan.week import WeekState, free_part
from patrols.solver.problem import ShiftProblem, Stability
from patrols.tension import PlannedEvent
from patrols.week import UnitShift

PASSED = "its window closed before the re-plan's start, unserved"


# A stop within this of its old time, on the same unit, is kept.
RETIME_TOLERANCE_S = 15 * 60


# Moving a stop costs this many of the shift's best prize: more than any swap of one stop for another gains.
MOVE_COST_PRIZES = 2.0


@dataclass(frozen=True)
class ResolveTask:
    """One district of a touched shift, as a worker receives it (pure data)."""

    problem: ShiftProblem
    hotspot_of_point: tuple[int, ...]
    locked: tuple[bool, ...]
    """Points that stand for stops already made (before ``from``): kept as they are."""
    kept_counts: dict[int, int]
    """Visits to each hotspot earlier that day on shifts that are not solved again."""
    stability: Stability
    initial: tuple[tuple[int, ...], ...]
    time_limit: float
    min_prize: float


def slot_signature(slot: Slot, week: WeekState, hotspots: list[Hotspot]) -> tuple:
    units = tuple(sorted((us.unit_id, us.mode, us.station_id, us.start.timestamp(), us.end.timestamp())
                         for us in week.shifts if us.date == slot.date and us.shift == slot.shift))
    visits = tuple(sorted((v.site_id, v.window_open.timestamp(), v.window_close.timestamp(), v.dwell_min,
                           week.pinned.get(v.visit_id, "")) for v in week.visits if v.slot == slot))
    lo, hi = slot.start.timestamp(), slot.end.timestamp()
    bans = tuple(sorted((ref, a, b) for ref, rules in week.hotspot_bans.items() for a, b in rules
                        if a < hi and b > lo))
    events = tuple(sorted(ev.event_id for ev in week.events if event_span(ev, slot) is not None))
    return units, visits, bans, events


def event_span(ev: PlannedEvent, slot: Slot) -> tuple[float, float] | None:
    zone = slot.start.tzinfo
    start = ev.start if ev.start.tzinfo else ev.start.replace(tzinfo=zone)
    end = ev.end if ev.end.tzinfo else ev.end.replace(tzinfo=zone)
    lo, hi = max(start.timestamp(), slot.start.timestamp()), min(end.timestamp(), slot.end.timestamp())
    return (lo, hi) if hi > lo else None


def day_counts(slot: Slot, slots: list[Slot], routes_of: dict[tuple[date, str], list[Route]],
                 touched: set[tuple[date, str]], hot_index: dict[str, int]) -> dict[int, int]:
    """Hotspot visits earlier the same day on shifts kept as they were (the dosage so far)."""
    counts: Counter[int] = Counter()
    for other in slots:
        if other.date != slot.date or other.start >= slot.start or (other.date, other.shift) in touched:
            continue
        for r in routes_of.get((other.date, other.shift), []):
            for s in r.stops:
                if s.kind == "hotspot" and s.ref in hot_index:
                    counts[hot_index[s.ref]] += 1
    return dict(counts)


def slot_tasks(slot: Slot, on_duty: list[UnitShift], slot_visits: list[Visit], week: WeekState,
                hotspots: list[Hotspot], event_points: list[Hotspot], table: TravelTable, area: Area,
                old_routes: list[Route], ts: float, top_prize: float, limit: float,
                kept_counts: dict[int, int], hot_index: dict[str, int], passed: list[Visit]):
    """The districts of a touched shift as re-solve tasks: (units, visits, points, task) each."""
    settings = area.settings
    t0 = slot.start.timestamp()
    length = slot.end.timestamp() - t0
    cut = max(0.0, ts - t0)
    parts = split_districts(on_duty, slot_visits, [], hotspots, table, area)
    # A pinned visit goes with its unit's district.
    home = {us.unit_id: g for g, part in enumerate(parts) for us in part[0]}
    pinned = [v for v in slot_visits if v.visit_id in week.pinned]
    parts = [(units, [v for v in vis if v.visit_id not in week.pinned]
              + [v for v in pinned if home[week.pinned[v.visit_id]] == g], hot)
             for g, (units, vis, _naive, hot) in enumerate(parts)]
    # An event's patrol point goes to the district whose station is nearest by car.
    ev_home: dict[str, int] = {}
    for ev in event_points:
        col = table.index[("hotspot", ev.hotspot_id)]
        best = min(range(len(parts)), key=lambda g: min(
            float(table.travel["car"][table.index[("station", us.station_id)], col]) for us in parts[g][0]))
        ev_home[ev.hotspot_id] = best
    slot_top = max((h.prize_for(slot.shift, slot.date.weekday()) for h in hotspots), default=top_prize)
    dwell_hot = settings.hotspot_dwell_min * 60.0
    events = {ev.event_id: ev for ev in week.events}
    for g, (group, group_visits, group_hot) in enumerate(parts):
        units = [us.unit_id for us in group]
        points = slot_points(slot, group, group_visits, hotspots, area, group_hot)
        # Hotspot bans, then the events' own patrol points.
        keep_pts: list[PlanPoint] = []
        visit_of: dict[int, Visit] = {}
        vi = iter(group_visits)
        for p in points:
            visit = next(vi) if p.kind == "protective" else None
            if p.kind == "hotspot" and p.ref in week.hotspot_bans:
                part = free_part(t0 + p.open_s, t0 + p.close_s, p.dwell_s, week.hotspot_bans[p.ref])
                if part is None:
                    continue
                p = replace(p, open_s=part[0] - t0, close_s=part[1] - t0)
            if visit is not None:
                visit_of[len(keep_pts)] = visit
            keep_pts.append(p)
        points = keep_pts
        for ev_id, g_home in ev_home.items():
            ev = events[ev_id]
            span = event_span(ev, slot)
            if g_home != g or span is None or span[1] - span[0] < dwell_hot:
                continue
            points.append(PlanPoint("hotspot", ev_id, ev.lat, ev.lon, dwell_hot, slot_top * ev.level / 6.0,
                                    span[0] - t0, span[1] - t0 - dwell_hot, hotspot=hot_index[ev_id]))
        # Stops already made (arriving before the start) are locked to their unit and time.
        locked: list[bool] = [False] * len(points)
        only: dict[int, int] = {}
        initial: dict[str, list[int]] = defaultdict(list)
        pref_vehicle = np.full(len(points), -1, dtype=np.int64)
        pref_start = np.full(len(points), np.nan)
        used: set[int] = set()
        for r in old_routes:
            if r.unit_id not in units:
                continue
            for s in r.stops[1:-1]:
                if s.arrive.timestamp() >= ts:
                    continue
                if s.kind == "protective":
                    i = match_point(points, s, t0, used, visit_of)
                    if i is not None:
                        used.add(i)
                # A second either side: plan times are whole seconds, the solver's are not.
                at = s.arrive.timestamp() - t0
                hot = hot_index.get(s.ref, -1) if s.kind == "hotspot" else -1
                points.append(PlanPoint(s.kind, s.ref, s.lat, s.lon, s.dwell_min * 60.0, 0.0, at - 1.0,
                                        at + 1.0, hotspot=hot, note=s.note))
                locked.append(True)
                pref_vehicle = np.append(pref_vehicle, units.index(r.unit_id))
                pref_start = np.append(pref_start, s.arrive.timestamp() - t0)
                only[len(points) - 1] = units.index(r.unit_id)
                initial[r.unit_id].append(len(points) - 1)
        # Visits already served by a locked stop leave the problem; so do those whose window passed.
        drop = set(used)
        for i, p in enumerate(points):
            if locked[i] or p.kind == "station" or i in drop:
                continue
            if cut > 0 and p.close_s < cut:
                drop.add(i)
                if i in visit_of:
                    passed.append(visit_of[i])
        index = [i for i in range(len(points)) if i not in drop]
        points = [points[i] for i in index]
        locked = [locked[i] for i in index]
        remap = {old: new for new, old in enumerate(index)}
        pref_vehicle, pref_start = pref_vehicle[index], pref_start[index]
        only = {remap[i]: k for i, k in only.items()}
        initial = defaultdict(list, {u: [remap[i] for i in seq] for u, seq in initial.items()})
        visit_of = {remap[i]: v for i, v in visit_of.items() if i in remap}
        if cut > 0:
            points = [p if locked[i] or p.kind == "station" else replace(p, open_s=max(p.open_s, cut))
                      for i, p in enumerate(points)]
        for i, v in visit_of.items():
            if v.visit_id in week.pinned:
                only[i] = units.index(week.pinned[v.visit_id])
        # Where each remaining stop stood: its unit and time, and the warm start in order.
        taken: set[int] = set()
        for r in sorted(old_routes, key=lambda r: r.unit_id not in units):
            k = units.index(r.unit_id) if r.unit_id in units else -1
            for s in r.stops[1:-1]:
                if s.arrive.timestamp() < ts:
                    continue
                i = match_point(points, s, t0, taken, None, locked)
                if i is None:
                    continue
                taken.add(i)
                pref_vehicle[i] = k
                pref_start[i] = s.arrive.timestamp() - t0
                if k >= 0:
                    initial[r.unit_id].append(i)
        problem = shift_problem(slot, group, points, table, settings.reserve_share)
        required = problem.required | np.array(locked, dtype=bool)
        visits_all = set(problem.visits)
        vehicles = []
        for k, veh in enumerate(problem.vehicles):
            banned = {i for i, owner in only.items() if owner != k}
            if banned:
                veh = replace(veh, allowed=frozenset(visits_all - banned))
            # A unit going off while it makes a stop finishes that stop and comes back first.
            done = [i for i, owner in only.items() if owner == k and locked[i]]
            if done:
                last = max(done, key=lambda i: problem.window_close[i])
                back = (problem.window_close[last] + problem.service[last]
                        + problem.travel[veh.profile][last, veh.end])
                if np.isfinite(back) and back > veh.latest:
                    veh = replace(veh, latest=float(back))
            vehicles.append(veh)
        problem = replace(problem, required=required, vehicles=tuple(vehicles),
                          window_open=np.minimum(problem.window_open, length),
                          name=f"{slot.date.isoformat()}/{slot.shift}/replan")
        group_visits_out = [visit_of[i] for i, p in enumerate(points) if p.kind == "protective"
                            and not locked[i]]
        task_limit = limit * max(1.0, len(group) / defaults.REFERENCE_UNITS)
        task = ResolveTask(
            problem=problem, hotspot_of_point=tuple(p.hotspot for p in points), locked=tuple(locked),
            kept_counts=kept_counts,
            stability=Stability(pref_vehicle, pref_start, MOVE_COST_PRIZES, RETIME_TOLERANCE_S),
            initial=tuple(tuple(sorted(initial.get(u, []),
                                       key=lambda i: (pref_start[i] if np.isfinite(pref_start[i]) else 0.0)))
                          for u in units),
            time_limit=task_limit, min_prize=settings.hotspot_min_share * top_prize)
        yield group, group_visits_out, points, task


def match_point(points: list[PlanPoint], s: Stop, t0: float, used: set[int],
                 visit_of: dict[int, Visit] | None, locked: list[bool] | None = None) -> int | None:
    """The point a parent stop stands for: same kind and place, its window nearest the stop's time."""
    at = s.arrive.timestamp() - t0
    best, gap = None, float("inf")
    for i, p in enumerate(points):
        if i in used or p.kind != s.kind or p.ref != s.ref or (locked is not None and locked[i]):
            continue
        if visit_of is not None and i not in visit_of:
            continue
        d = 0.0 if p.open_s <= at <= p.close_s else min(abs(at - p.open_s), abs(at - p.close_s))
        if d < gap:
            best, gap = i, d
    return best
