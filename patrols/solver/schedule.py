"""Turn routes into a timed ``ShiftSolution`` from the float data."""

from __future__ import annotations

from collections.abc import Sequence

from patrols.solver.problem import ShiftProblem, ShiftSolution, Unserved
from patrols.solver.screening import CROWDED_OUT, why_unservable


def earliest_schedule(
    problem: ShiftProblem, vehicle: int, route: Sequence[int]
) -> tuple[tuple[float, ...], float, float]:
    """Time a route as early as possible: leave at once, wait only when early.

    Parameters
    ----------
    problem
        The shift problem.
    vehicle
        Index of the vehicle driving the route.
    route
        Visit indices in order, start and end left out.

    Returns
    -------
    starts : tuple of float
        Service start time at each visit.
    depart : float
        When the vehicle leaves its start.
    arrive_end : float
        When it reaches its end.
    """
    v = problem.vehicles[vehicle]
    m = problem.travel[v.profile]
    t = v.earliest
    here = v.start
    starts = []
    for i in route:
        t = max(t + float(m[here, i]), float(problem.window_open[i]))
        starts.append(t)
        t += float(problem.service[i])
        here = i
    return tuple(starts), v.earliest, t + float(m[here, v.end])


def anchored_schedule(
    problem: ShiftProblem, vehicle: int, route: Sequence[int], target: Sequence[float]
) -> tuple[tuple[float, ...], float, float]:
    """Time a feasible route with each visit as near its target time as the route allows.

    Each visit starts at its target (``nan``: as early as possible) unless the
    visits before it make that too early or the visits after it make it too
    late; waiting costs nothing (busy time counts travel and dwell only). A
    re-plan uses it so that a stop whose route changed elsewhere keeps its time.

    Returns
    -------
    starts, depart, arrive_end
        As :func:`earliest_schedule`.
    """
    v = problem.vehicles[vehicle]
    m = problem.travel[v.profile]
    seq = [v.start, *route, v.end]
    latest = [0.0] * len(route)
    bound = v.latest
    for j in range(len(route) - 1, -1, -1):
        i = route[j]
        bound = min(float(problem.window_close[i]),
                    bound - float(m[i, seq[j + 2]]) - float(problem.service[i]))
        latest[j] = bound
    t = v.earliest
    here = v.start
    starts = []
    for j, i in enumerate(route):
        early = max(t + float(m[here, i]), float(problem.window_open[i]))
        wanted = float(target[j])
        t = early if wanted != wanted else max(early, min(wanted, latest[j]))
        starts.append(t)
        t += float(problem.service[i])
        here = i
    return tuple(starts), v.earliest, t + float(m[here, v.end])


def build_solution(
    problem: ShiftProblem,
    routes: Sequence[Sequence[int]],
    *,
    engine: str,
    seconds: float,
    stats: dict[str, float] | None = None,
) -> ShiftSolution:
    """Assemble a ``ShiftSolution``: timings, prize and unserved required visits.

    Parameters
    ----------
    problem
        The shift problem.
    routes
        One list of visit indices per vehicle.
    engine
        Name of the engine that found the routes.
    seconds
        Wall time spent.
    stats
        Extra numbers to report.

    Returns
    -------
    ShiftSolution
        The timed solution.
    """
    routes_t = tuple(tuple(int(i) for i in r) for r in routes)
    starts, depart, arrive = [], [], []
    for k, r in enumerate(routes_t):
        s, d, a = earliest_schedule(problem, k, r)
        starts.append(s)
        depart.append(d)
        arrive.append(a)
    served = {i for r in routes_t for i in r}
    unserved = []
    for i in problem.visits:
        if bool(problem.required[i]) and i not in served:
            unserved.append(Unserved(i, why_unservable(problem, i) or CROWDED_OUT))
    prize = float(sum(float(problem.prize[i]) for i in served))
    return ShiftSolution(
        routes=routes_t,
        starts=tuple(starts),
        depart=tuple(depart),
        arrive_end=tuple(arrive),
        prize=prize,
        unserved=tuple(unserved),
        seconds=seconds,
        engine=engine,
        stats=dict(stats or {}),
    )
