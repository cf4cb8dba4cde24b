"""Insert required visits into routes that already exist, moving as few stops as possible.

A re-plan starts from the routes a unit was briefed on. When a unit goes off,
its required visits must go to the others, and each insertion into a full
route pushes some of that route's stops out. Guided local search does this
badly from a warm start: making room takes several removals in a row, each of
which looks worse on its own, so it settles for moving whole routes around.
This module does the insertion directly: each required visit goes where it
ejects the fewest stops (then the least prize, then the least extra travel),
and the routes it returns are feasible. OR-Tools then polishes them with the
stability costs (``Stability``), and may place the ejected stops elsewhere.

Written here rather than taken from a library: neither OR-Tools nor PyVRP
offers an insertion with ejection that keeps the other stops' order.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from patrols.solver.feasibility import route_violations
from patrols.solver.problem import ShiftProblem, Stability
from patrols.solver.schedule import anchored_schedule


def _excess(problem: ShiftProblem, k: int, route: Sequence[int]) -> float:
    """How far a route is from feasible, in seconds: lateness, overtime and busy time over the cap."""
    v = problem.vehicles[k]
    m = problem.travel[v.profile]
    t, busy, here, late = v.earliest, 0.0, v.start, 0.0
    for i in route:
        leg = float(m[here, i])
        if not np.isfinite(leg):
            return float("inf")
        t = max(t + leg, float(problem.window_open[i]))
        late += max(0.0, t - float(problem.window_close[i]))
        busy += leg + float(problem.service[i])
        t += float(problem.service[i])
        here = i
    back = float(m[here, v.end])
    if not np.isfinite(back):
        return float("inf")
    t += back
    busy += back
    return late + max(0.0, t - v.latest) + max(0.0, busy - v.max_busy)


def _allowed(problem: ShiftProblem, k: int, i: int) -> bool:
    allowed = problem.vehicles[k].allowed
    return allowed is None or i in allowed


def insert_required(problem: ShiftProblem, routes: list[list[int]], visits: Sequence[int],
                    fixed: set[int], stability: Stability | None = None) -> list[list[int]]:
    """Insert each of ``visits`` into ``routes``, ejecting the fewest stops it takes.

    Parameters
    ----------
    problem
        The shift problem.
    routes
        Feasible routes, one per vehicle.
    visits
        Visits to insert (required ones), tightest window first is best.
    fixed
        Stops that may not be ejected (required visits, stops already made).
    stability
        Where each stop stood (unit and time): insertion positions are tried
        only where the visit's window meets the planned times around it, and
        a stop the insertion pushes more than the tolerance from its time
        counts as one more stop moved.

    Returns
    -------
    list of list of int
        Feasible routes; a visit that fits nowhere is left out.
    """
    routes = [list(r) for r in routes]
    start = None if stability is None else stability.start
    for x in visits:
        best: tuple[tuple[int, float, float], int, list[int]] | None = None
        for k in range(len(problem.vehicles)):
            if not _allowed(problem, k, x):
                continue
            route = routes[k]
            off_time = _off_time(problem, k, route, stability)
            for p in _positions(problem, route, x, start):
                trial = [*route[:p], x, *route[p:]]
                ejected: list[int] = []
                while (gap := _excess(problem, k, trial)) > 0:
                    options = [i for i in trial if i != x and i not in fixed]
                    if not options or not np.isfinite(gap):
                        trial = []
                        break
                    # Eject the stop whose removal brings the route nearest to feasible (cheapest on a tie).
                    scored = [(_excess(problem, k, [j for j in trial if j != i]), float(problem.prize[i]), i)
                              for i in options]
                    _, _, out = min(scored)
                    trial.remove(out)
                    ejected.append(out)
                if not trial or route_violations(problem, k, trial):
                    continue
                moved = len(ejected) + max(0, _off_time(problem, k, trial, stability) - off_time)
                key = (moved, sum(float(problem.prize[i]) for i in ejected), _travel(problem, k, trial))
                if best is None or key < best[0]:
                    best = (key, k, trial)
        if best is not None:
            routes[best[1]] = best[2]
    return routes


def _off_time(problem: ShiftProblem, k: int, route: list[int], stability: Stability | None) -> int:
    """Stops of vehicle ``k``'s own that the route, timed near their old times, puts off them."""
    if stability is None or not route:
        return 0
    starts, _, _ = anchored_schedule(problem, k, route, [float(stability.start[i]) for i in route])
    return sum(1 for i, t in zip(route, starts, strict=True)
               if stability.vehicle[i] == k and abs(t - float(stability.start[i])) > stability.tolerance)


def insert_free(problem: ShiftProblem, routes: list[list[int]], candidates: Sequence[int]) -> list[list[int]]:
    """Insert each candidate (in the order given) where it fits without ejecting anything.

    Each goes to the feasible position that adds the least travel, on any vehicle
    allowed to serve it; one that fits nowhere is left out. No stop already on a
    route leaves it or changes unit.
    """
    routes = [list(r) for r in routes]
    for x in candidates:
        best: tuple[float, int, int] | None = None
        for k in range(len(problem.vehicles)):
            if not _allowed(problem, k, x):
                continue
            base = _travel(problem, k, routes[k])
            for p in range(len(routes[k]) + 1):
                trial = [*routes[k][:p], x, *routes[k][p:]]
                if _excess(problem, k, trial) > 0:
                    continue
                extra = _travel(problem, k, trial) - base
                if best is None or extra < best[0]:
                    best = (extra, k, p)
        if best is not None:
            _, k, p = best
            routes[k].insert(p, x)
    return routes


def _positions(problem: ShiftProblem, route: list[int], x: int, start: np.ndarray | None) -> list[int]:
    """Insertion positions worth trying: where the planned times around them meet ``x``'s window."""
    if start is None:
        return list(range(len(route) + 1))
    lo, hi = float(problem.window_open[x]), float(problem.window_close[x])
    out = []
    for p in range(len(route) + 1):
        before = float(start[route[p - 1]]) if p > 0 else -np.inf
        after = float(start[route[p]]) if p < len(route) else np.inf
        before = -np.inf if before != before else before
        after = np.inf if after != after else after
        if before <= hi + 3600.0 and after >= lo - 3600.0:
            out.append(p)
    return out or list(range(len(route) + 1))


def _travel(problem: ShiftProblem, k: int, route: list[int]) -> float:
    v = problem.vehicles[k]
    m = problem.travel[v.profile]
    seq = [v.start, *route, v.end]
    return float(sum(m[a, b] for a, b in pairwise(seq)))
