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
from typing import Any

from patrols.solver.feasibility import plan_violations
from patrols.solver.local_search import improve
from patrols.solver.ortools_engine import solve_ortools
from patrols.solver.problem import ShiftProblem, ShiftSolution
from patrols.solver.pyvrp_engine import solve_pyvrp
from patrols.solver.schedule import build_solution
from patrols.solver.screening import servable_visits

Routes = list[list[int]]

# Share of the budget kept back for the final polish and bookkeeping.
_POLISH_SHARE = 0.08
# PyVRP iterations per client: enough for product-sized shifts to converge.
_ITERATIONS_PER_CLIENT = 2000


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
        travel += sum(float(m[a, b]) for a, b in zip(path, path[1:], strict=False))
    return required, prize, -travel


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
    except Exception:  # noqa: BLE001 - the parent treats any failure as "no plan"
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
    deadline = t0 + time_limit
    main_budget = time_limit * (1.0 - _POLISH_SHARE)
    iterations = _ITERATIONS_PER_CLIENT * max(len(servable), 10)
    exact = _pyvrp_exact(problem)

    candidates: list[tuple[str, Routes]] = []
    if workers >= 2:
        if exact:
            second: tuple[Callable[..., Routes | None], tuple, dict] = (
                solve_pyvrp,
                (problem, main_budget, seed + 1),
                {"max_iterations": iterations, "prize_weight": 3.0},
            )
        else:
            second = (solve_ortools, (problem, main_budget), {})
        proc, receiver = _run_in_child(*second)
        first = solve_pyvrp(problem, main_budget, seed, max_iterations=iterations)
        other = _collect(proc, receiver, t0 + main_budget + 1.0)
        if first is not None:
            candidates.append(("pyvrp", first))
        if other is not None:
            candidates.append(("pyvrp" if exact else "ortools", other))
    else:
        share = main_budget if exact else main_budget / 2
        first = solve_pyvrp(problem, share, seed, max_iterations=iterations)
        if first is not None:
            candidates.append(("pyvrp", first))
        if not exact:
            candidates.append(("ortools", solve_ortools(problem, main_budget - share)))

    candidates = [(name, r) for name, r in candidates if not plan_violations(problem, r)]
    best_name, best = max(candidates, key=lambda c: _score(problem, c[1]), default=("none", empty))

    # Polish: an orienteering local search (deterministic), then OR-Tools from
    # that plan when side constraints or missing required visits call for it.
    polished = improve(problem, best, deadline=deadline - 0.05)
    if not plan_violations(problem, polished) and _score(problem, polished) > _score(problem, best):
        best, best_name = polished, best_name + "+ls"
    missing_required = any(
        bool(problem.required[i]) for i in servable if i not in {p for r in best for p in r}
    )
    remaining = deadline - time.monotonic()
    if (not exact or missing_required or not candidates) and remaining > 0.2:
        seeded = solve_ortools(problem, remaining - 0.1, initial_routes=best)
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


