"""Which visits can be served at all, and why not.

A required visit that no vehicle could serve even on its own (start, the
visit, end) is dropped before solving and reported with the reason, so that an
impossible request never forces the whole plan to be infeasible.
"""

from __future__ import annotations

import math

from patrols.solver.problem import ShiftProblem

NOT_ALLOWED = "no unit is allowed to serve it"
UNREACHABLE = "unreachable from the station"
OUTSIDE_SHIFT = "outside every vehicle's shift window"
NO_TIME = "not enough time in the shift"
CROWDED_OUT = "not enough time in the shift alongside the other required visits"

# Float comparisons use the same tolerance as the feasibility checker.
_EPS = 1e-6


def allowed_vehicles(problem: ShiftProblem, point: int) -> list[int]:
    """Return the vehicles allowed to serve ``point``.

    Parameters
    ----------
    problem
        The shift problem.
    point
        A visit index.

    Returns
    -------
    list of int
        Vehicle indices whose ``allowed`` is ``None`` or contains ``point``.
    """
    return [k for k, v in enumerate(problem.vehicles) if v.allowed is None or point in v.allowed]


def why_unservable(problem: ShiftProblem, point: int) -> str | None:
    """Explain why no vehicle can serve ``point`` even as its only visit.

    Parameters
    ----------
    problem
        The shift problem.
    point
        A visit index.

    Returns
    -------
    str or None
        ``None`` if some vehicle can serve it alone, else the reason.
    """
    vehicles = allowed_vehicles(problem, point)
    if not vehicles:
        return NOT_ALLOWED
    reachable = []
    for k in vehicles:
        v = problem.vehicles[k]
        m = problem.travel[v.profile]
        if math.isfinite(m[v.start, point]) and math.isfinite(m[point, v.end]):
            reachable.append(k)
    if not reachable:
        return UNREACHABLE
    w_open = float(problem.window_open[point])
    w_close = float(problem.window_close[point])
    overlapping = [
        k
        for k in reachable
        if w_close >= problem.vehicles[k].earliest - _EPS and w_open <= problem.vehicles[k].latest + _EPS
    ]
    if not overlapping:
        return OUTSIDE_SHIFT
    dwell = float(problem.service[point])
    for k in overlapping:
        v = problem.vehicles[k]
        m = problem.travel[v.profile]
        there, back = float(m[v.start, point]), float(m[point, v.end])
        begin = max(v.earliest + there, w_open)
        if (
            begin <= w_close + _EPS
            and begin + dwell + back <= v.latest + _EPS
            and there + dwell + back <= v.max_busy + _EPS
        ):
            return None
    return NO_TIME


def servable_visits(problem: ShiftProblem) -> tuple[list[int], dict[int, str]]:
    """Split the visits into those some vehicle can serve and those it cannot.

    Parameters
    ----------
    problem
        The shift problem.

    Returns
    -------
    servable : list of int
        Visits that at least one vehicle can serve on its own.
    reasons : dict of int to str
        For every other visit, why it cannot be served.
    """
    servable: list[int] = []
    reasons: dict[int, str] = {}
    for i in problem.visits:
        reason = why_unservable(problem, i)
        if reason is None:
            servable.append(i)
        else:
            reasons[i] = reason
    return servable, reasons
