"""PyVRP model of a shift, for fast prize collection on plain orienteering.

PyVRP's iterated local search is much stronger than OR-Tools' on the pure
orienteering core, but it cannot express every side constraint: a busy-time
cap (which excludes waiting) is modelled conservatively as a cap on the whole
route duration, and allowed-vehicle lists become per-vehicle-type travel
matrices with disallowed visits made unreachable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyvrp
from pyvrp import IteratedLocalSearchParams
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from patrols.solver._scaling import to_integers
from patrols.solver.problem import ShiftProblem
from patrols.solver.screening import servable_visits

# Durations are fine-grained (rounding up each arc costs little); the distance
# matrix that only steers the tie-break between equal prizes is coarse.
_DURATION_HORIZON = 1e6
_DISTANCE_HORIZON = 1e3


@dataclass(frozen=True)
class PyVRPModel:
    """A ``ProblemData`` and the maps back to the shift problem's indices."""

    data: pyvrp.ProblemData
    client_point: list[int]
    """Point index of each PyVRP client (clients follow the depots)."""
    type_vehicles: list[list[int]]
    """Our vehicle indices behind each PyVRP vehicle type."""
    n_depots: int
    prize_unit: float
    """PyVRP prize per unit of the problem's prize."""


def build_model(problem: ShiftProblem, prize_weight: float = 1.0) -> PyVRPModel:
    """Translate a shift problem into PyVRP's ``ProblemData``.

    Parameters
    ----------
    problem
        The shift problem.
    prize_weight
        Worth of the largest prize in units of the longest shift's travel; above
        one, prizes dominate travel and travel only breaks ties.

    Returns
    -------
    PyVRPModel
        The data and index maps.
    """
    origin = min(v.earliest for v in problem.vehicles)
    end = max(v.latest for v in problem.vehicles)
    span = end - origin if math.isfinite(end) else None
    scale = None
    if span is not None and span > 0:
        scale = 10.0 ** math.floor(math.log10(_DURATION_HORIZON / span))
    ints = to_integers(problem, scale)
    dist_scale = _DISTANCE_HORIZON / max(ints.horizon, 1)

    depots = sorted(problem.depots)
    servable, _ = servable_visits(problem)
    servable = [i for i in servable if ints.window_open[i] <= ints.window_close[i]]
    points = depots + servable
    where = {p: n for n, p in enumerate(points)}
    big = ints.unreachable

    # One PyVRP profile per distinct (travel profile, allowed set).
    profile_keys: list[tuple[str, frozenset[int] | None]] = []
    durations, distances = [], []
    for v in problem.vehicles:
        key = (v.profile, v.allowed)
        if key in profile_keys:
            continue
        profile_keys.append(key)
        t = ints.travel[v.profile][np.ix_(points, points)].copy()
        if v.allowed is not None:
            banned = [n for n, p in enumerate(points) if n >= len(depots) and p not in v.allowed]
            t[:, banned] = big
        np.fill_diagonal(t, 0)
        durations.append(t.astype(np.int64))
        distances.append(np.minimum(np.ceil(t * dist_scale), big).astype(np.int64))

    prize = np.clip(np.nan_to_num(np.asarray(problem.prize, dtype=float)), 0.0, None)
    top = float(prize[servable].max()) if servable and prize[servable].max() > 0 else 1.0
    # Integer prizes keep their exact ratios when they are whole numbers.
    per_unit = prize_weight * _DISTANCE_HORIZON / top
    prize_int = np.round(prize * per_unit).astype(np.int64)
    # Required visits are optional clients worth more than every optional
    # prize together (and a little travel), not PyVRP's ``required=True``: when
    # they cannot all fit, PyVRP then still returns the feasible plan that
    # keeps as many as possible, instead of no feasible plan at all.
    must = 2 * int(prize_int[servable].sum()) + 4 * int(_DISTANCE_HORIZON) * len(problem.vehicles) + 1

    locations = [pyvrp.Location(x=0.0, y=0.0) for _ in points]
    depot_objs = [pyvrp.Depot(location=n) for n in range(len(depots))]
    clients = []
    for i in servable:
        clients.append(
            pyvrp.Client(
                location=where[i],
                service_duration=int(ints.service[i]),
                tw_early=int(ints.window_open[i]),
                tw_late=int(ints.window_close[i]),
                prize=must if bool(problem.required[i]) else int(prize_int[i]),
                required=False,
            )
        )

    type_keys: list[tuple] = []
    type_vehicles: list[list[int]] = []
    for k, v in enumerate(problem.vehicles):
        key = (v.start, v.end, v.earliest, v.latest, v.max_busy, v.profile, v.allowed)
        if key in type_keys:
            type_vehicles[type_keys.index(key)].append(k)
        else:
            type_keys.append(key)
            type_vehicles.append([k])
    vehicle_types = []
    for members in type_vehicles:
        k = members[0]
        v = problem.vehicles[k]
        early, late = int(ints.earliest[k]), int(ints.latest[k])
        # Waiting counts towards PyVRP's duration, so capping duration by the
        # busy cap is conservative: feasible here implies feasible in floats.
        duration_cap = min(late - early, int(ints.max_busy[k]))
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=len(members),
                start_depot=depots.index(v.start),
                end_depot=depots.index(v.end),
                tw_early=early,
                tw_late=late,
                start_late=late,
                shift_duration=duration_cap,
                profile=profile_keys.index((v.profile, v.allowed)),
            )
        )
    data = pyvrp.ProblemData(locations, clients, depot_objs, vehicle_types, distances, durations)
    return PyVRPModel(data, servable, type_vehicles, len(depots), per_unit)


def routes_from_solution(model: PyVRPModel, solution: pyvrp.Solution, n_vehicles: int) -> list[list[int]]:
    """Map a PyVRP solution back to one route of point indices per vehicle.

    Parameters
    ----------
    model
        The model the solution belongs to.
    solution
        A PyVRP solution.
    n_vehicles
        Number of vehicles in the shift problem.

    Returns
    -------
    list of list of int
        Visit indices per vehicle.
    """
    routes: list[list[int]] = [[] for _ in range(n_vehicles)]
    used = [0] * len(model.type_vehicles)
    for route in solution.routes():
        t = route.vehicle_type()
        k = model.type_vehicles[t][used[t]]
        used[t] += 1
        routes[k] = [model.client_point[a.idx] for a in route if a.is_client()]
    return routes


def solve_pyvrp(
    problem: ShiftProblem,
    time_limit: float = 10.0,
    seed: int = 0,
    *,
    runs: int = 1,
    iterations_per_client: int | None = None,
    history_length: int = 300,
    prize_weight: float | Sequence[float] = 1.0,
) -> list[list[int]] | None:
    """Solve a shift problem with PyVRP, as a series of independent runs.

    Parameters
    ----------
    problem
        The shift problem.
    time_limit
        Wall-clock limit in seconds for all runs together.
    seed
        Random seed; run ``j`` uses ``seed * 1000 + j``.
    runs
        Number of independent runs, each given an equal share of the time
        still left. Orienteering landscapes are rugged: independent short runs
        land in different local optima, and the best of several beats one long
        run of the same total length.
    iterations_per_client
        Optional iteration budget per run, per client. When every run stops on
        it before the clock, the result depends only on the seed.
    history_length
        Late-acceptance history of PyVRP's iterated local search; shorter is
        greedier.
    prize_weight
        See :func:`build_model`; a sequence is cycled through, one weight per
        run, so that runs search differently shaped landscapes.

    Returns
    -------
    list of list of int or None
        Best routes per vehicle over the runs, or ``None`` when no run found a
        feasible plan (for instance when not every required visit fits).
    """
    t_end = time.monotonic() + time_limit
    weights = [prize_weight] if isinstance(prize_weight, int | float) else list(prize_weight)
    models = {w: build_model(problem, w) for w in dict.fromkeys(weights)}
    model = models[weights[0]]
    if not model.client_point:
        return [[] for _ in problem.vehicles]
    best = None
    best_model = model
    for j in range(runs):
        model = models[weights[j % len(weights)]]
        ils = IteratedLocalSearchParams(history_length=history_length)
        params = pyvrp.SolveParams(ils=ils)
        remaining = t_end - time.monotonic()
        if remaining <= 0.01:
            break
        stop = MaxRuntime(remaining / (runs - j))
        if iterations_per_client is not None:
            budget = iterations_per_client * len(model.client_point)
            stop = MultipleCriteria([stop, MaxIterations(budget)])
        result = pyvrp.solve(model.data, stop, seed=seed * 1000 + j, collect_stats=False, params=params)
        sol = result.best
        if sol.is_feasible() and (best is None or _better(sol, best, model, best_model)):
            best, best_model = sol, model
    if best is None:
        return None
    return routes_from_solution(best_model, best, len(problem.vehicles))


def _better(a: pyvrp.Solution, b: pyvrp.Solution, model_a: PyVRPModel, model_b: PyVRPModel) -> bool:
    """More prize first, then less travel; prizes compared in the problem's own units."""

    def key(sol: pyvrp.Solution, model: PyVRPModel) -> tuple[float, int]:
        return (sol.prizes() / model.prize_unit, -sol.distance())

    return key(a, model_a) > key(b, model_b)
