"""Independent feasibility checker for shift plans.

It recomputes every time from the float data of the ``ShiftProblem`` and shares
no code with the engines, so an engine's rounding or modelling mistake cannot
hide behind the same mistake here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from patrols.solver.problem import ShiftProblem, ShiftSolution

TOLERANCE = 1e-6
"""Slack allowed on every time comparison, absorbing float summation order."""


def route_violations(problem: ShiftProblem, vehicle: int, route: Sequence[int]) -> list[str]:
    """List what is wrong with one vehicle's route.

    The route is timed as early as possible (leave the start at ``earliest``,
    wait only when arriving before a window opens), which is feasible whenever
    any timing is, because waiting never helps a later visit.

    Parameters
    ----------
    problem
        The shift problem.
    vehicle
        Index of the vehicle.
    route
        Visit indices in order, start and end left out.

    Returns
    -------
    list of str
        Human-readable violations; empty when the route is feasible.
    """
    errors: list[str] = []
    unit = problem.vehicles[vehicle]
    matrix = problem.travel[unit.profile]
    depots = {p for v in problem.vehicles for p in (v.start, v.end)}
    clock = unit.earliest
    busy = 0.0
    previous = unit.start
    for point in route:
        if not 0 <= point < problem.n_points:
            errors.append(f"point {point} does not exist")
            return errors
        if point in depots:
            errors.append(f"point {point} is a depot, not a visit")
        if unit.allowed is not None and point not in unit.allowed:
            errors.append(f"vehicle {vehicle} may not serve point {point}")
        leg = float(matrix[previous][point])
        if not math.isfinite(leg):
            errors.append(f"no path from {previous} to {point}")
            return errors
        clock += leg
        busy += leg
        opens = float(problem.window_open[point])
        closes = float(problem.window_close[point])
        if clock < opens:
            clock = opens
        if clock > closes + TOLERANCE:
            errors.append(f"service at {point} starts at {clock:.6f}, after its window closes ({closes})")
        dwell = float(problem.service[point])
        clock += dwell
        busy += dwell
        previous = point
    leg = float(matrix[previous][unit.end])
    if not math.isfinite(leg):
        errors.append(f"no path from {previous} to the end {unit.end}")
        return errors
    clock += leg
    busy += leg
    if clock > unit.latest + TOLERANCE:
        errors.append(f"vehicle {vehicle} reaches its end at {clock:.6f}, after {unit.latest}")
    if busy > unit.max_busy + TOLERANCE:
        errors.append(f"vehicle {vehicle} is busy {busy:.6f}, over its cap {unit.max_busy}")
    return errors


def plan_violations(problem: ShiftProblem, routes: Sequence[Sequence[int]]) -> list[str]:
    """List what is wrong with a whole plan (one route per vehicle).

    Parameters
    ----------
    problem
        The shift problem.
    routes
        One sequence of visit indices per vehicle.

    Returns
    -------
    list of str
        Violations, including points visited twice; empty when feasible.
    """
    errors: list[str] = []
    if len(routes) != len(problem.vehicles):
        errors.append(f"{len(routes)} routes for {len(problem.vehicles)} vehicles")
    seen: set[int] = set()
    for k, route in enumerate(routes[: len(problem.vehicles)]):
        for point in route:
            if point in seen:
                errors.append(f"point {point} visited twice")
            seen.add(point)
        errors.extend(route_violations(problem, k, route))
    return errors


def solution_violations(problem: ShiftProblem, solution: ShiftSolution) -> list[str]:
    """Check a ``ShiftSolution``: its routes, its stated times and its prize.

    Parameters
    ----------
    problem
        The shift problem.
    solution
        The solution to check.

    Returns
    -------
    list of str
        Violations; empty when the plan is feasible and self-consistent.
    """
    errors = plan_violations(problem, solution.routes)
    for k, route in enumerate(solution.routes):
        if k >= len(problem.vehicles):
            break
        unit = problem.vehicles[k]
        matrix = problem.travel[unit.profile]
        times = solution.starts[k]
        if len(times) != len(route):
            errors.append(f"vehicle {k}: {len(times)} start times for {len(route)} visits")
            continue
        if solution.depart[k] < unit.earliest - TOLERANCE:
            errors.append(f"vehicle {k} leaves before its shift")
        ready = solution.depart[k]
        previous = unit.start
        for point, begin in zip(route, times, strict=True):
            ready += float(matrix[previous][point])
            if begin < ready - TOLERANCE or begin < float(problem.window_open[point]) - TOLERANCE:
                errors.append(f"vehicle {k}: stated start at {point} is too early")
            if begin > float(problem.window_close[point]) + TOLERANCE:
                errors.append(f"vehicle {k}: stated start at {point} is after its window")
            ready = max(ready, begin) + float(problem.service[point])
            previous = point
        ready += float(matrix[previous][unit.end])
        if solution.arrive_end[k] < ready - TOLERANCE or solution.arrive_end[k] > unit.latest + TOLERANCE:
            errors.append(f"vehicle {k}: stated arrival at its end is impossible")
    prize = sum(float(problem.prize[p]) for route in solution.routes for p in set(route))
    if abs(prize - solution.prize) > TOLERANCE * max(1.0, abs(prize)):
        errors.append(f"stated prize {solution.prize} but the routes collect {prize}")
    return errors
