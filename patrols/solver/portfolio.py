"""The solver the product calls: engines run side by side, best feasible plan kept.

Design
------
- PyVRP's iterated local search does the heavy lifting on the orienteering core
  (which visits, in which order). With two workers a second PyVRP run with
  another seed and prize weighting runs in a forked child process at the same
  time, because ILS runs differ most in which local optimum they settle in.
- OR-Tools carries the side constraints exactly. It replaces the second PyVRP
  run when a busy-time cap is tighter than the shift (PyVRP can only model it
  conservatively), it is the fallback when PyVRP finds no plan serving every
  required visit, and it then polishes the best plan found.
- Every candidate is checked by the independent feasibility checker; the best
  feasible one wins on (required visits served, prize collected, travel).

Determinism: PyVRP runs stop after an iteration budget that grows with the
problem size or at the time limit, whichever comes first. On product-sized
shifts the iteration budget binds first, so the same seed gives the same routes;
when the time limit binds (large instances, slow machines) results depend on
timing. The OR-Tools steps are only deterministic when they finish early.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from patrols.solver.feasibility import plan_violations
from patrols.solver.local_search import improve
from patrols.solver.ortools_engine import solve_ortools
from patrols.solver.problem import ShiftProblem, ShiftSolution
from patrols.solver.pyvrp_engine import solve_pyvrp
from patrols.solver.schedule import build_solution
from patrols.solver.screening import servable_visits

Routes = list[list[int]]

# Share of each worker's budget left for the orienteering local search.
_POLISH_SHARE = 0.15
# Independent PyVRP runs per worker (see ``solve_pyvrp``).
_RUNS = 3
# PyVRP iterations per client and run: product-sized shifts finish on this
# budget (so the seed alone decides the routes) when given a few seconds.
_ITERATIONS_PER_CLIENT = 60
# Greedier late acceptance than PyVRP's default did better on orienteering.
_HISTORY = 50
# Prize weights cycled over the runs (see ``build_model``): each reshapes the
# landscape a little, which spreads the runs over more local optima.
_PRIZE_WEIGHTS = (1.0, 3.0, 0.5)
# Time reserved at the end for bookkeeping and the final checks.
_RESERVE = 0.15


def _pyvrp_exact(problem: ShiftProblem) -> bool:
    """Whether PyVRP's model is exact (no busy cap tighter than the shift)."""
    return all(v.max_busy >= v.latest - v.earliest for v in problem.vehicles)


def _score(problem: ShiftProblem, routes: Routes) -> tuple[int, float, float]:
    served = {i for r in routes for i in r}
    required = sum(1 for i in served if bool(problem.required[i]))
    prize = sum(float(problem.prize[i]) for i in served)
    travel = 0.0
    for k, r in enumerate(routes):
        v = problem.vehicles[k]
        m = problem.travel[v.profile]
        path = (v.start, *r, v.end)
        travel += sum(float(m[a, b]) for a, b in pairwise(path))
    return required, prize, -travel


def _pyvrp_worker(problem: ShiftProblem, budget: float, seed: int) -> Routes | None:
    """Several PyVRP runs, then the orienteering local search on the best."""
    t_end = time.monotonic() + budget
    routes = solve_pyvrp(
        problem,
        budget * (1.0 - _POLISH_SHARE),
        seed,
        runs=_RUNS,
        iterations_per_client=_ITERATIONS_PER_CLIENT,
        history_length=_HISTORY,
        prize_weight=_PRIZE_WEIGHTS,
    )
    if routes is None:
        return None
    return improve(problem, routes, deadline=t_end, seed=seed)


def _run_in_child(
    target: Callable[..., Routes | None], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any]:
    """Start ``target`` in a forked process; return (process, receiving pipe)."""
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(sender, target, args, kwargs), daemon=True)
    proc.start()
    sender.close()
    return proc, receiver


def _child_main(sender: Any, target: Callable[..., Routes | None], args: tuple, kwargs: dict) -> None:
    try:
        sender.send(target(*args, **kwargs))
    except Exception:  # the parent treats any failure as "no plan"
        sender.send(None)
    finally:
        sender.close()


def _collect(proc: Any, receiver: Any, deadline: float) -> Routes | None:
    result = None
    if receiver.poll(max(0.0, deadline - time.monotonic())):
        try:
            result = receiver.recv()
        except EOFError:
            result = None
    if proc.is_alive():
        proc.terminate()
    proc.join(1.0)
    receiver.close()
    return result


def solve(
    problem: ShiftProblem,
    time_limit: float = 10.0,
    seed: int = 0,
    workers: int | None = None,
) -> ShiftSolution:
    """Plan the routes of one shift.

    Parameters
    ----------
    problem
        The shift problem.
    time_limit
        Wall-clock budget in seconds (the call returns within it plus a small
        overhead for starting a process).
    seed
        Random seed; the same seed gives the same routes whenever the engines
        stop on their iteration budgets rather than on the clock.
    workers
        Processes to use at once; ``None`` means ``min(2, cores)``.

    Returns
    -------
    ShiftSolution
        A feasible plan (checked independently). Required visits are kept
        whenever the engines find a plan that serves them; those that cannot be
        fitted are listed in ``unserved`` with the reason.
    """
    t0 = time.monotonic()
    nv = len(problem.vehicles)
    empty: Routes = [[] for _ in range(nv)]
    servable, _ = servable_visits(problem)
    if not servable:
        return build_solution(problem, empty, engine="none", seconds=time.monotonic() - t0)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    deadline = t0 + time_limit - min(_RESERVE, 0.05 * time_limit)
    exact = _pyvrp_exact(problem)

    candidates: list[tuple[str, Routes]] = []
    if workers >= 2:
        budget = deadline - time.monotonic()
        if exact:
            child: tuple[Callable[..., Routes | None], tuple, dict] = (
                _pyvrp_worker,
                (problem, budget, 2 * seed + 1),
                {},
            )
        else:
            child = (solve_ortools, (problem, budget), {})
        proc, receiver = _run_in_child(*child)
        mine = _pyvrp_worker(problem, budget, 2 * seed)
        other = _collect(proc, receiver, deadline + 1.0)
        if mine is not None:
            candidates.append(("pyvrp+ls", mine))
        if other is not None:
            candidates.append(("pyvrp+ls" if exact else "ortools", other))
    else:
        share = (deadline - time.monotonic()) * (1.0 if exact else 0.5)
        mine = _pyvrp_worker(problem, share, 2 * seed)
        if mine is not None:
            candidates.append(("pyvrp+ls", mine))
        if not exact:
            candidates.append(("ortools", solve_ortools(problem, deadline - time.monotonic())))

    candidates = [(name, r) for name, r in candidates if not plan_violations(problem, r)]
    best_name, best = max(candidates, key=lambda c: _score(problem, c[1]), default=("none", empty))

    # OR-Tools carries the exact side constraints: let it improve the best plan
    # when PyVRP's model was conservative or left out required visits.
    served = {p for r in best for p in r}
    missing_required = any(bool(problem.required[i]) and i not in served for i in servable)
    remaining = t0 + time_limit - time.monotonic() - 0.1
    if (not exact or missing_required) and remaining > 0.2:
        seeded = solve_ortools(problem, min(remaining, max(1.0, 0.2 * time_limit)), initial_routes=best)
        if not plan_violations(problem, seeded) and _score(problem, seeded) > _score(problem, best):
            best, best_name = seeded, best_name + "+ortools"

    return build_solution(
        problem,
        best,
        engine=best_name,
        seconds=time.monotonic() - t0,
        stats={"candidates": float(len(candidates))},
    )


def score_routes(problem: ShiftProblem, routes: Sequence[Sequence[int]]) -> float:
    """Prize collected by a plan, or 0 when the independent checker rejects it.

    Parameters
    ----------
    problem
        The shift problem.
    routes
        Visit indices per vehicle.

    Returns
    -------
    float
        The prize of the distinct visits served, 0 for an infeasible plan.
    """
    plan = [list(r) for r in routes]
    if plan_violations(problem, plan):
        return 0.0
    return float(sum(problem.prize[i] for i in {p for r in plan for p in r}))
