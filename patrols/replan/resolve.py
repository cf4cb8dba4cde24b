"""Solving touched shifts again from the routes they had.

The warm routes are repaired (stops that no longer fit are taken out), the
required visits they lack are inserted where they eject the fewest stops
(:func:`patrols.solver.repair.insert_required`), and the optional visits left
over are added wherever they fit without moving anything. OR-Tools searches
from there, with the costs of moving stops, only when a required visit is
still out; its plan is kept if it serves more of them. Guided local search
from a warm start moves whole routes around to make room, which is what a
re-plan must not do; and it is deterministic only by its solution budget.
"""

from __future__ import annotations

import multiprocessing as mp
import time as clock
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from patrols import defaults
from patrols.area import Area
from patrols.planning import (
    fill_empty,
    restrict,
)
from patrols.replan.tasks import ResolveTask
from patrols.solver.feasibility import plan_violations, route_violations
from patrols.solver.ortools_engine import solve_ortools
from patrols.solver.problem import ShiftProblem, ShiftSolution
from patrols.solver.repair import insert_free, insert_required
from patrols.solver.schedule import anchored_schedule, build_solution
from patrols.solver.screening import servable_visits

# Share of a shift's solving budget a warm-started re-solve gets.
RESOLVE_BUDGET_SHARE = 0.5


# OR-Tools solutions (accepted moves) a second: the portfolio's figure.
_SOLUTIONS_PER_SECOND = 250


@dataclass(frozen=True)
class ResolveResult:
    solution: ShiftSolution
    value: tuple[tuple[float, ...], ...]
    seconds: float


def _repair(problem: ShiftProblem, routes: tuple[tuple[int, ...], ...]) -> list[list[int]]:
    """The warm-start routes made feasible: each stop kept, in order, while the route stays feasible."""
    out = []
    for k, route in enumerate(routes):
        seq: list[int] = []
        for i in route:
            if not route_violations(problem, k, [*seq, i]):
                seq.append(i)
        out.append(seq)
    return out


def _required_served(problem: ShiftProblem, routes: list[list[int]]) -> int:
    return sum(1 for r in routes for i in r if bool(problem.required[i]))


def resolve_day(tasks: list[ResolveTask], repeat_value: float, daily_cap: int, seed: int,
                min_share: float = defaults.HOTSPOT_MIN_SHARE) -> list[ResolveResult]:
    """Solve a day's touched districts again, in shift order, each from its current routes.

    Hotspot prizes are decayed by the day's visits so far (the shifts kept as
    they were, and those solved again before this one), as in
    :func:`patrols.planning.solve_day`. Points standing for stops already made
    are kept whatever their prize.
    """
    ours: Counter[int] = Counter()
    out = []
    for n, task in enumerate(tasks):
        began = clock.perf_counter()
        problem = task.problem
        prize = problem.prize.copy()
        had = task.stability.vehicle >= 0
        for i, h in enumerate(task.hotspot_of_point):
            if h >= 0 and not task.locked[i]:
                c = task.kept_counts.get(h, 0) + ours[h]
                decayed = prize[i] * repeat_value ** c
                prize[i] = 0.0 if c >= daily_cap or decayed < task.min_prize else decayed
                if had[i]:
                    # A stop the unit had stays on offer at its own worth: the week's bar and the daily
                    # cap were passed for it when an empty unit was sent out (``fill_empty``).
                    prize[i] = decayed
        keep = [i for i in range(problem.n_points)
                if task.hotspot_of_point[i] < 0 or prize[i] > 0 or task.locked[i] or had[i]]
        pos = {p: j for j, p in enumerate(keep)}
        sub = restrict(replace(problem, prize=prize), keep)
        idx = np.array(keep)
        stab = replace(task.stability, vehicle=task.stability.vehicle[idx], start=task.stability.start[idx])
        warm = _repair(sub, tuple(tuple(pos[i] for i in r if i in pos) for r in task.initial))
        served = {i for r in warm for i in r}
        locked = {pos[i] for i in range(problem.n_points) if task.locked[i] and i in pos}
        orphans = sorted((i for i in sub.visits if bool(sub.required[i]) and i not in served),
                         key=lambda i: (float(sub.window_close[i] - sub.window_open[i]),
                                        float(sub.window_open[i]), i))
        fixed = {i for i in sub.visits if bool(sub.required[i])} | locked
        warm = insert_required(sub, warm, orphans, fixed, stab)
        # Then what is left out, best prize first, wherever it fits without moving anything.
        served = {i for r in warm for i in r}
        spare = sorted((i for i in sub.visits if i not in served and not bool(sub.required[i])
                        and sub.prize[i] > 0), key=lambda i: (-float(sub.prize[i]), i))
        found = insert_free(sub, warm, spare)
        servable_required = [i for i in servable_visits(sub)[0] if bool(sub.required[i])]
        if _required_served(sub, found) < len(servable_required):
            # A required visit the insertion could not place: OR-Tools searches from these routes,
            # with the costs of moving stops, and is kept only if it serves more required visits.
            limit = task.time_limit * RESOLVE_BUDGET_SHARE
            other = solve_ortools(sub, time_limit=max(30.0, 20.0 * limit),
                                  solution_limit=max(50, int(_SOLUTIONS_PER_SECOND * limit)),
                                  initial_routes=found, stability=stab)
            if not plan_violations(sub, other) and _required_served(sub, other) > _required_served(sub,
                                                                                                   found):
                found = other
        sol = build_solution(sub, found, engine="replan", seconds=clock.perf_counter() - began)
        # A stop keeps its time on its own unit only: one taken from another unit starts as early as
        # its route allows (held to the other unit's time, it made the stops after it wait for it).
        starts = tuple(anchored_schedule(sub, k, r, [float(stab.start[i]) if int(stab.vehicle[i]) == k
                                                     else float("nan") for i in r])[0]
                       for k, r in enumerate(sol.routes))
        sol = replace(sol, starts=starts,
                      routes=tuple(tuple(keep[i] for i in r) for r in sol.routes),
                      unserved=tuple(replace(u, point=keep[u.point]) for u in sol.unserved))
        value = tuple(tuple(float(prize[i]) for i in r) for r in sol.routes)
        counts = Counter(task.kept_counts) + ours
        before = Counter(counts)
        for r in sol.routes:
            for i in r:
                if task.hotspot_of_point[i] >= 0:
                    counts[task.hotspot_of_point[i]] += 1
        sol, value = fill_empty(problem, task.hotspot_of_point, sol, value, counts, repeat_value, min_share,
                                task.time_limit, seed + n)
        ours.update(counts - before)
        out.append(ResolveResult(sol, value, clock.perf_counter() - began))
    return out


def resolve_days(days: list[list[ResolveTask]], area: Area, seed: int,
                 workers: int) -> list[list[ResolveResult]]:
    s = area.settings
    args = [(tasks, s.hotspot_repeat_value, s.hotspot_daily_cap, seed + 100 * d, s.hotspot_min_share)
            for d, tasks in enumerate(days)]
    if workers <= 1 or len(days) <= 1:
        return [resolve_day(*a) for a in args]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(days)), mp_context=ctx) as pool:
        return [f.result() for f in [pool.submit(resolve_day, *a) for a in args]]
