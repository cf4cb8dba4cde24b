"""Tests of the shift solver on synthetic shifts shaped like the product's."""

from __future__ import annotations

import numpy as np
import pytest

from patrols.solver import ShiftProblem, Vehicle, solve
from patrols.solver.feasibility import plan_violations, solution_violations
from patrols.solver.screening import NOT_ALLOWED, OUTSIDE_SHIFT, UNREACHABLE

SHIFT = 8 * 3600.0


def make_shift(
    n: int = 40,
    seed: int = 1,
    n_required: int = 4,
    vehicles: tuple[Vehicle, ...] | None = None,
) -> ShiftProblem:
    """A city-sized shift: two stations, car and foot profiles, some windows."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 6000, size=(n, 2))  # metres
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2))
    travel = {"car": dist / 8.0 * 1.3, "foot": dist / 1.4 * 1.2}
    service = rng.choice([300.0, 600.0, 900.0], size=n)
    prize = rng.integers(1, 10, size=n).astype(float)
    required = np.zeros(n, dtype=bool)
    required[2 : 2 + n_required] = True
    w_open = np.zeros(n)
    w_close = np.full(n, SHIFT)
    windowed = rng.choice(np.arange(2 + n_required, n), size=n // 5, replace=False)
    w_open[windowed] = rng.uniform(0, SHIFT - 7200, size=windowed.size)
    w_close[windowed] = w_open[windowed] + 3600
    if vehicles is None:
        vehicles = (
            Vehicle(start=0, end=0, earliest=0.0, latest=SHIFT, profile="car"),
            Vehicle(start=0, end=1, earliest=3600.0, latest=SHIFT, profile="car", max_busy=4 * 3600.0),
            Vehicle(start=1, end=1, earliest=0.0, latest=SHIFT / 2, profile="foot"),
        )
    return ShiftProblem(travel, service, prize, required, w_open, w_close, vehicles, "synthetic")


def test_product_shift_is_feasible_and_keeps_required() -> None:
    problem = make_shift()
    solution = solve(problem, time_limit=2.0)
    assert solution_violations(problem, solution) == []
    served = {i for r in solution.routes for i in r}
    assert {2, 3, 4, 5} <= served
    assert solution.unserved == ()
    assert solution.prize > 0


def test_profiles_and_start_end_respected() -> None:
    problem = make_shift()
    solution = solve(problem, time_limit=2.0)
    for k, route in enumerate(solution.routes):
        v = problem.vehicles[k]
        m = problem.travel[v.profile]
        if route:
            # Starts are timed with the vehicle's own profile from its own start.
            assert solution.starts[k][0] >= v.earliest + m[v.start, route[0]] - 1e-6
        assert solution.arrive_end[k] <= v.latest + 1e-6
        busy = sum(m[a, b] for a, b in zip((v.start, *route), (*route, v.end), strict=True))
        busy += sum(problem.service[i] for i in route)
        assert busy <= v.max_busy + 1e-6


def test_impossible_required_visits_reported_with_reason() -> None:
    problem = make_shift(n=30)
    travel = {k: m.copy() for k, m in problem.travel.items()}
    for m in travel.values():
        m[:, 2] = np.inf  # point 2 cannot be reached at all
    w_open = problem.window_open.copy()
    w_close = problem.window_close.copy()
    w_open[3], w_close[3] = SHIFT + 100, SHIFT + 200  # after every shift
    vehicles = tuple(
        Vehicle(v.start, v.end, v.earliest, v.latest, v.profile, v.max_busy, frozenset(range(30)) - {4})
        for v in problem.vehicles
    )
    bad = ShiftProblem(
        travel, problem.service, problem.prize, problem.required, w_open, w_close, vehicles, "bad"
    )
    solution = solve(bad, time_limit=1.0)
    assert solution_violations(bad, solution) == []
    reasons = {u.point: u.reason for u in solution.unserved}
    assert reasons[2] == UNREACHABLE
    assert reasons[3] == OUTSIDE_SHIFT
    assert reasons[4] == NOT_ALLOWED
    assert 5 in {i for r in solution.routes for i in r}


def test_required_visits_crowding_out_are_reported() -> None:
    # One short foot shift cannot serve ten far-apart required visits.
    vehicles = (Vehicle(start=0, end=0, earliest=0.0, latest=3 * 3600.0, profile="foot"),)
    problem = make_shift(n=20, n_required=10, vehicles=vehicles)
    solution = solve(problem, time_limit=1.0)
    assert solution_violations(problem, solution) == []
    served = {i for r in solution.routes for i in r}
    unserved = {u.point for u in solution.unserved}
    assert unserved and unserved.isdisjoint(served)
    assert unserved | (served & set(range(2, 12))) == set(range(2, 12))
    # The ones that do fit are still served: no all-or-nothing failure.
    assert served & set(range(2, 12))
    assert all(u.reason for u in solution.unserved)


def test_single_worker_path() -> None:
    problem = make_shift(n=30)
    solution = solve(problem, time_limit=1.0, workers=1)
    assert solution_violations(problem, solution) == []
    assert {2, 3, 4, 5} <= {i for r in solution.routes for i in r}


def test_allowed_vehicles_respected() -> None:
    base = make_shift(n=30)
    only_first = frozenset(range(2, 15))
    vehicles = (
        Vehicle(0, 0, 0.0, SHIFT, "car", allowed=only_first),
        Vehicle(1, 1, 0.0, SHIFT, "car", allowed=frozenset(range(15, 30))),
    )
    problem = ShiftProblem(
        base.travel,
        base.service,
        base.prize,
        base.required,
        base.window_open,
        base.window_close,
        vehicles,
        "allowed",
    )
    solution = solve(problem, time_limit=1.0)
    assert plan_violations(problem, solution.routes) == []
    assert set(solution.routes[0]) <= only_first
    assert set(solution.routes[1]) <= set(range(15, 30))


@pytest.mark.parametrize(("seed", "busy_cap"), [(0, True), (3, False)])
def test_same_seed_same_routes(seed: int, busy_cap: bool) -> None:
    # With a busy cap OR-Tools takes part; without one PyVRP and the local search alone.
    vehicles = None if busy_cap else (Vehicle(0, 0, 0.0, SHIFT / 2), Vehicle(1, 1, 0.0, SHIFT / 2, "foot"))
    problem = make_shift(n=25, vehicles=vehicles)
    a = solve(problem, time_limit=3.0, seed=seed)
    b = solve(problem, time_limit=3.0, seed=seed)
    assert a.routes == b.routes


def test_deterministic_mode_ignores_the_clock() -> None:
    # A 120-point shift at 0.5 s: on the clock the engines stop wherever the clock
    # finds them (measured: the routes differ when three busy processes share the
    # two cores); on work budgets they stop at the same place however loaded the
    # machine is.
    import multiprocessing as mp

    problem = make_shift(n=120, seed=5, n_required=6)
    a = solve(problem, time_limit=0.5, seed=2, workers=1, deterministic=True)
    spinners = [mp.get_context("fork").Process(target=_spin, args=(4.0,), daemon=True) for _ in range(3)]
    for s in spinners:
        s.start()
    try:
        b = solve(problem, time_limit=0.5, seed=2, workers=1, deterministic=True)
    finally:
        for s in spinners:
            s.join()
    assert a.routes == b.routes
    assert plan_violations(problem, a.routes) == []
    assert {2, 3, 4, 5, 6, 7} <= {i for r in a.routes for i in r}


def _spin(seconds: float) -> None:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
