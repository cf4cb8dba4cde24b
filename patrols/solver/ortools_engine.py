"""OR-Tools routing model of a shift: prize-collecting VRP with time windows.

This engine carries every side constraint of a ``ShiftProblem`` exactly
(per-vehicle profiles, shift windows, busy-time caps, allowed vehicles), so it
is both the product's safety net and the polisher of other engines' routes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from patrols.solver._scaling import IntegerProblem, to_integers
from patrols.solver.problem import ShiftProblem, Stability
from patrols.solver.screening import allowed_vehicles, servable_visits

# Keep all penalties together well inside int64 (OR-Tools sums them).
_INT64_BUDGET = 2**62


def prize_penalties(problem: ShiftProblem, ints: IntegerProblem) -> tuple[np.ndarray, int]:
    """Integer drop penalties: prizes dominate travel, required visits dominate prizes.

    Parameters
    ----------
    problem
        The shift problem.
    ints
        Its integer view.

    Returns
    -------
    penalties : numpy.ndarray
        Penalty for dropping each optional visit (0 for depots).
    required : int
        Penalty for dropping a required visit.
    """
    n = problem.n_points
    prize = np.clip(np.nan_to_num(np.asarray(problem.prize, dtype=float)), 0.0, None)
    # One prize unit of the largest prize is worth more than every vehicle
    # driving its whole horizon, so travel only breaks ties between equal prizes.
    travel_total = float(ints.horizon) * len(problem.vehicles) + 1.0
    top = float(prize.max()) if prize.size and prize.max() > 0 else 1.0
    per_unit = 1000.0 * travel_total / top
    # ...unless that would overflow once required penalties are stacked on top.
    n_required = int(np.sum(problem.required)) + 1
    cap = _INT64_BUDGET / (20.0 * n * n_required * max(top, 1.0))
    per_unit = min(per_unit, cap)
    penalties = np.round(prize * per_unit).astype(np.int64)
    required = int(10 * (int(penalties.sum()) + travel_total) + 1)
    return penalties, required


def _routes_of(routing, manager, solution, n_vehicles: int) -> list[list[int]]:
    routes = []
    for k in range(n_vehicles):
        index = solution.Value(routing.NextVar(routing.Start(k)))
        route = []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    return routes


def solve_ortools(
    problem: ShiftProblem,
    time_limit: float = 10.0,
    *,
    initial_routes: Sequence[Sequence[int]] | None = None,
    first_solution: str = "PATH_CHEAPEST_ARC",
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
    solution_limit: int | None = None,
    stop_when: Callable[[int, float, bool], bool] | None = None,
    stability: Stability | None = None,
) -> list[list[int]]:
    """Solve a shift problem with OR-Tools routing.

    Parameters
    ----------
    problem
        The shift problem.
    time_limit
        Wall-clock limit in seconds.
    initial_routes
        Optional routes (one list of visit indices per vehicle) to start the
        local search from; ignored if OR-Tools finds them infeasible.
    first_solution
        Name of an OR-Tools ``FirstSolutionStrategy``.
    metaheuristic
        Name of an OR-Tools ``LocalSearchMetaheuristic``.
    solution_limit
        Stop after this many solutions (OR-Tools counts every accepted local
        search move): a work budget that, unlike the clock, gives the same plan
        on any machine. ``time_limit`` still caps the search.
    stop_when
        Called at every solution with the number of solutions so far, the
        seconds since the call began and whether that solution serves every
        servable required visit; returning true ends the search there (the
        best plan found is returned).
    stability
        Where each point stood in the plan being changed (a re-plan): moving a
        point to another vehicle, dropping it or shifting its time then costs
        (see :class:`~patrols.solver.problem.Stability`).

    Returns
    -------
    list of list of int
        Visit indices of each vehicle's route (start and end left out). Routes
        are feasible in the integer model and therefore in the float data.
    """
    t0 = time.monotonic()
    ints = to_integers(problem)
    n = problem.n_points
    vehicles = problem.vehicles
    nv = len(vehicles)
    starts = [v.start for v in vehicles]
    ends = [v.end for v in vehicles]
    manager = pywrapcp.RoutingIndexManager(n, nv, starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    depots = problem.depots
    transit_ids: dict[str, int] = {}
    for name in {v.profile for v in vehicles}:
        m = ints.travel[name] + ints.service[:, None]
        m = np.minimum(m, ints.unreachable)
        np.fill_diagonal(m, 0)
        transit_ids[name] = routing.RegisterTransitMatrix(m.tolist())
    per_vehicle = [transit_ids[v.profile] for v in vehicles]
    penalties, required_penalty = prize_penalties(problem, ints)
    move = 0
    if stability is not None:
        # Moving a stop costs as much as the best optional visit: worth it to serve a
        # required visit, never for a small gain in prize.
        top = float(penalties.max()) if penalties.size else 0.0
        move = int(stability.move_cost * top) if top > 0 else int(ints.horizon)
        # ...and moving every stop that had a place still costs less than leaving one required visit out.
        had = int(np.sum(np.asarray(stability.vehicle) >= 0))
        move = max(1, min(move, required_penalty // (2 * had + 2)))
        prefer = np.asarray(stability.vehicle)
        for k, v in enumerate(vehicles):
            m = ints.travel[v.profile] + ints.service[:, None]
            m = np.minimum(m, ints.unreachable)
            np.fill_diagonal(m, 0)
            m = m + np.where((prefer >= 0) & (prefer != k), move, 0)[None, :]
            routing.SetArcCostEvaluatorOfVehicle(routing.RegisterTransitMatrix(m.tolist()), k)
    else:
        for k in range(nv):
            routing.SetArcCostEvaluatorOfVehicle(per_vehicle[k], k)

    routing.AddDimensionWithVehicleTransits(per_vehicle, ints.horizon, ints.horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for k in range(nv):
        lo, hi = int(ints.earliest[k]), int(ints.latest[k])
        time_dim.CumulVar(routing.Start(k)).SetRange(lo, max(lo, hi))
        time_dim.CumulVar(routing.End(k)).SetRange(lo, max(lo, hi))

    if np.any(ints.max_busy < ints.horizon):
        routing.AddDimensionWithVehicleTransitAndCapacity(
            per_vehicle, 0, [int(b) for b in ints.max_busy], True, "busy"
        )

    servable, _ = servable_visits(problem)
    servable_set = set(servable)
    for i in range(n):
        if i in depots:
            continue
        index = manager.NodeToIndex(i)
        if i not in servable_set or ints.window_open[i] > ints.window_close[i]:
            routing.AddDisjunction([index], 0)
            routing.ActiveVar(index).SetValue(0)
            continue
        time_dim.CumulVar(index).SetRange(int(ints.window_open[i]), int(ints.window_close[i]))
        penalty = required_penalty if bool(problem.required[i]) else int(penalties[i])
        if stability is not None and stability.vehicle[i] >= 0 and not problem.required[i]:
            penalty += move
        routing.AddDisjunction([index], penalty)
        if stability is not None and np.isfinite(stability.start[i]):
            at = (float(stability.start[i]) - ints.origin) * ints.scale
            slack = stability.tolerance * ints.scale
            per_unit = max(1, int(move / (3600.0 * ints.scale)))
            time_dim.SetCumulVarSoftUpperBound(index, int(at + slack), per_unit)
            time_dim.SetCumulVarSoftLowerBound(index, max(0, int(at - slack)), per_unit)
        allowed = allowed_vehicles(problem, i)
        if len(allowed) < nv:
            # SetAllowedVehiclesForIndex's Span argument does not bind in this
            # OR-Tools build; removing values from the vehicle variable is equivalent.
            routing.VehicleVar(index).RemoveValues([k for k in range(nv) if k not in allowed])

    for k in range(nv):
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(k)))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first_solution)
    params.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic)
    remaining = max(0.05, time_limit - (time.monotonic() - t0))
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    if solution_limit is not None:
        params.solution_limit = solution_limit

    if stop_when is not None:
        count = 0

        def at_solution() -> None:
            nonlocal count
            count += 1
            # Dropping one required visit costs more than every optional prize and all travel.
            complete = routing.CostVar().Value() < required_penalty
            if stop_when(count, time.monotonic() - t0, complete):
                routing.solver().FinishCurrentSearch()

        routing.AddAtSolutionCallback(at_solution)

    solution = None
    if initial_routes is not None:
        routing.CloseModelWithParameters(params)
        seed_routes = [[manager.NodeToIndex(i) for i in r if i in servable_set] for r in initial_routes]
        initial = routing.ReadAssignmentFromRoutes(seed_routes, True)
        if initial is not None:
            solution = routing.SolveFromAssignmentWithParameters(initial, params)
            if solution is None:
                solution = initial
    if solution is None:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        return [[] for _ in range(nv)]
    return _routes_of(routing, manager, solution, nv)
