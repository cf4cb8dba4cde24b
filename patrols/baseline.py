"""The naive planner every plan is measured against, in the same run.

It is what a planner without this tool might do: each unit visits the
protected sites given to it (the nearest station's unit takes a site) in a
fixed order, at fixed times (as soon as the site's window opens in that shift,
the same time every day), and in between walks or drives to the nearest
hotspot nobody has visited this shift, while its patrol-time budget lasts.
It works on a :class:`~patrols.solver.ShiftProblem`, so it sees exactly the
points, travel times and limits the solver sees.
"""

from __future__ import annotations

import itertools

import numpy as np

from patrols.solver import ShiftProblem


def naive_routes(problem: ShiftProblem, fixed_open: np.ndarray) -> list[list[tuple[int, float]]]:
    """Routes of the naive planner.

    Parameters
    ----------
    problem
        The shift's problem (required points are protective visits; optional
        ones with a prize are hotspots).
    fixed_open
        Per point, the fixed time (seconds from the shift start) the naive
        planner aims to be at each protective visit.

    Returns
    -------
    list of list of (point, service start)
        Per vehicle, its visits in order with the time service starts.
    """
    nv = len(problem.vehicles)
    depots = problem.depots
    required = [i for i in range(problem.n_points) if problem.required[i] and i not in depots]
    hotspots = [i for i in range(problem.n_points)
                if not problem.required[i] and i not in depots and problem.prize[i] > 0]
    # Each protective visit goes to the vehicle whose station is nearest to it.
    mine: list[list[int]] = [[] for _ in range(nv)]
    for i in required:
        k = min(range(nv), key=lambda k: (problem.travel[problem.vehicles[k].profile]
                                          [problem.vehicles[k].start, i], k))
        mine[k].append(i)
    taken: set[int] = set()
    routes: list[list[tuple[int, float]]] = []
    for k, v in enumerate(problem.vehicles):
        tt = problem.travel[v.profile]
        queue = sorted(mine[k], key=lambda i: (fixed_open[i], i))
        pos, t, busy = v.start, v.earliest, 0.0
        route: list[tuple[int, float]] = []
        while True:
            nxt = queue[0] if queue else None
            # Budget the rest of the protective round from here, so hotspots never crowd it out.
            owed = sum(problem.service[i] for i in queue) + (tt[pos, nxt] if nxt is not None else 0.0)
            free = [h for h in hotspots if h not in taken and np.isfinite(tt[pos, h])]
            went = False
            if free:
                h = min(free, key=lambda h: (tt[pos, h], h))
                arrive = max(t + tt[pos, h], problem.window_open[h])
                leave = arrive + problem.service[h]
                after = nxt if nxt is not None else v.end
                cost = tt[pos, h] + problem.service[h] + tt[h, after]
                on_time = (leave + tt[h, after] <= max(fixed_open[nxt], problem.window_open[nxt])
                           if nxt is not None else leave + tt[h, v.end] <= v.latest)
                if (arrive <= problem.window_close[h] and on_time
                        and busy + cost + owed - (tt[pos, nxt] if nxt is not None else 0.0) <= v.max_busy):
                    taken.add(h)
                    route.append((h, float(arrive)))
                    busy += tt[pos, h] + problem.service[h]
                    pos, t = h, leave
                    went = True
            if went:
                continue
            if nxt is None:
                break
            queue.pop(0)
            arrive = max(t + tt[pos, nxt], fixed_open[nxt], problem.window_open[nxt])
            late = arrive > problem.window_close[nxt]
            if late or arrive + problem.service[nxt] + tt[nxt, v.end] > v.latest:
                continue  # too late: the naive plan misses it
            route.append((nxt, float(arrive)))
            busy += tt[pos, nxt] + problem.service[nxt]
            pos, t = nxt, arrive + problem.service[nxt]
        routes.append(route)
    return routes


def hotspot_seconds(problem: ShiftProblem, k: int, visits: list[int]) -> float:
    """Time vehicle ``k`` gives to hotspots: the leg into each hotspot visit plus its dwell."""
    v = problem.vehicles[k]
    tt = problem.travel[v.profile]
    path = [v.start, *visits]
    return float(sum(tt[a, b] + problem.service[b] for a, b in itertools.pairwise(path)
                     if not problem.required[b]))


def busy_seconds(problem: ShiftProblem, k: int, visits: list[int]) -> float:
    """Travel plus dwell of vehicle ``k`` making ``visits`` from and back to its station."""
    v = problem.vehicles[k]
    tt = problem.travel[v.profile]
    path = [v.start, *visits, v.end]
    return float(sum(tt[a, b] for a, b in itertools.pairwise(path))
                 + sum(problem.service[i] for i in visits))
