"""The solver the product calls: engines run side by side, best feasible plan kept.

Design
------
- PyVRP's iterated local search does the heavy lifting on the orienteering core
  (which visits, in which order). Orienteering landscapes are rugged: on hard
  instances single runs settle in local optima several percent apart, so each
  worker makes several short independent runs and keeps the best, then polishes
  it with a dedicated orienteering local search (``local_search``). With two
  workers, the second one runs in a forked child process with other seeds.
- OR-Tools carries the side constraints exactly. When a busy-time cap is
  tighter than the shift (PyVRP can only model it conservatively; the product's
  shifts always have one), OR-Tools is the second engine: on two workers it
  runs on the second core for the whole time limit, as long as it would run on
  its own, while the first core runs PyVRP and then has OR-Tools polish
  PyVRP's plan under the exact caps. On one worker (the product's day workers)
  OR-Tools runs first, as one search over the whole time: once half of it has
  gone, the search ends at the first plan that serves every servable required
  visit, PyVRP collects prizes with the rest and OR-Tools polishes the best
  plan; while required visits still bind (PyVRP's conservative model would
  serve fewer of them) the one search runs on to the end. OR-Tools' plans get
  the orienteering local search too, which inserts the prizes guided local
  search left out. OR-Tools is also the fallback when PyVRP finds no plan
  serving every required visit.
- Every candidate is checked by the independent feasibility checker; the best
  feasible one wins on (required visits served, prize collected, travel).

Determinism: each PyVRP run stops on an iteration budget (proportional to the
number of visits) or on its share of the clock, whichever comes first, and the
local search on a round budget or the clock. When the budgets bind first (small
shifts, generous time limits) the same seed gives the same routes; when the
clock binds (the benchmarks at 10 s, large shifts at a few seconds) results
depend on machine speed. OR-Tools' guided local search always runs to its time
limit, so plans it improves are reproducible only when it settles early.
``solve(..., deterministic=True)`` (what the product uses) turns every stop into
a work budget sized from the time limit: PyVRP iterations, local-search rounds
and a number of OR-Tools solutions, with the clock kept only as a safety cap
several times larger. The same problem and seed then give the same routes on any
machine and under any load; what varies is the wall time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
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
_POLISH_SHARE = 0.12
# Independent PyVRP runs per worker (see ``solve_pyvrp``).
_RUNS = 8
# Shortest PyVRP run worth making, in seconds.
_MIN_RUN_SECONDS = 1.0
# PyVRP iterations per client and run: product-sized shifts finish on this
# budget (so the seed alone decides the routes) when given a few seconds.
_ITERATIONS_PER_CLIENT = 60
# Greedier late acceptance than PyVRP's default did better on orienteering.
_HISTORY = 20
# Worth of the largest prize in units of a whole shift's travel (``build_model``).
_PRIZE_WEIGHT = 1.0
# Time the orienteering local search takes from OR-Tools' own run to insert
# what its plan left out: a share of it, at most this many seconds.
_ORTOOLS_LS_SLICE = 0.05
_ORTOOLS_LS_SLICE_S = 0.3
# Share of the time limit for the OR-Tools polish when busy caps bind.
_ORTOOLS_POLISH_SHARE = 0.2
# Time reserved at the end for bookkeeping and the final checks.
_RESERVE = 0.15
# Deterministic mode turns the clock into work budgets. OR-Tools' budget is in
# solutions (accepted moves): about 260 a second on a 57-point demo shift on the
# 2-core development machine, where 200 already reached the plateau.
_ORTOOLS_SOLUTIONS_PER_SECOND = 250
# PyVRP iterations and local-search rounds a second on 50-point, 4-unit demo
# shifts on the same machine (measured: ~600 and ~100), so a deterministic run
# takes about its nominal time here.
_PYVRP_ITERATIONS_PER_SECOND = 600
_LS_ROUNDS_PER_SECOND = 100
# ... and the clock stays only as a safety cap: this many times the nominal time,
# and never less than the floor (building a large model alone can take seconds).
_DETERMINISTIC_SAFETY = 20.0
# At most this many visits, OR-Tools' deterministic run is a descent, not guided local search.
_SMALL_PROBLEM_VISITS = 12
_DETERMINISTIC_FLOOR_S = 30.0


def _cap(seconds: float, deterministic: bool) -> float:
    """Wall-clock allowance for work nominally worth ``seconds``."""
    if not deterministic:
        return seconds
    return max(seconds * _DETERMINISTIC_SAFETY, _DETERMINISTIC_FLOOR_S)


def _polish_rounds(budget: float, deterministic: bool) -> dict[str, int]:
    """The local search's round budget for a worker's ``budget`` (deterministic mode only)."""
    if not deterministic:
        return {}
    return {"max_rounds": max(5, int(_LS_ROUNDS_PER_SECOND * budget * _POLISH_SHARE))}


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


def _pyvrp_worker(problem: ShiftProblem, budget: float, seed: int,
                  deterministic: bool = False) -> Routes | None:
    """Several PyVRP runs, then the orienteering local search on the best.

    In deterministic mode ``budget`` is turned into iteration and round budgets
    and the clock only caps the work at ``_DETERMINISTIC_SAFETY`` times it.
    """
    t_end = time.monotonic() + _cap(budget, deterministic)
    search = budget * (1.0 - _POLISH_SHARE)
    # Fewer, longer runs when time is short: a run needs about a second.
    runs = max(1, min(_RUNS, int(search / _MIN_RUN_SECONDS)))
    per_client = _ITERATIONS_PER_CLIENT
    if deterministic:
        clients = max(1, len(problem.visits))
        per_client = max(3, int(_PYVRP_ITERATIONS_PER_SECOND * search / runs / clients))
    routes = solve_pyvrp(
        problem,
        _cap(search, deterministic),
        seed,
        runs=runs,
        iterations_per_client=per_client,
        history_length=_HISTORY,
        prize_weight=_PRIZE_WEIGHT,
    )
    if routes is None:
        return None
    return improve(problem, routes, deadline=t_end, seed=seed, **_polish_rounds(budget, deterministic))


def _ortools_worker(problem: ShiftProblem, budget: float, seed: int, deterministic: bool = False,
                    stop_when: Callable[[int, float, bool], bool] | None = None,
                    **ortools: Any) -> Routes | None:
    """OR-Tools on the exact model, then the orienteering local search on its plan.

    Guided local search keeps every required visit it can but may leave prize
    on the table (on tight shifts it can end with required visits only); a
    short polish inserts what still fits. ``ortools`` are the work budgets of
    deterministic mode (see ``solve``). When ``stop_when`` ends the search early
    (see ``solve_ortools``), the plan is returned as it is: the caller has other
    work for the time left.
    """
    t_end = time.monotonic() + _cap(budget, deterministic)
    stopped = False

    def watch(solutions: int, seconds: float, complete: bool) -> bool:
        nonlocal stopped
        stopped = stop_when is not None and stop_when(solutions, seconds, complete)
        return stopped

    # The polish needs only a moment: OR-Tools keeps almost all of its time
    # (in deterministic mode all of its solution budget; the rounds come on top).
    search = budget - min(_ORTOOLS_LS_SLICE_S, _ORTOOLS_LS_SLICE * budget)
    routes = solve_ortools(problem, _cap(search, deterministic), stop_when=watch if stop_when else None,
                           **ortools)
    if plan_violations(problem, routes):
        return None
    if stopped:
        return routes
    return improve(problem, routes, deadline=t_end, seed=seed, **_polish_rounds(budget, deterministic))


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
    deterministic: bool = False,
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
    deterministic
        Stop every engine on a work budget sized from ``time_limit`` (PyVRP
        iterations, local-search rounds, OR-Tools solutions) rather than on the
        clock, so the same problem and seed give the same routes on any machine
        and under any load; the wall time then varies with the machine (the
        clock still caps it at a few times ``time_limit``).

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
    if mp.current_process().daemon:
        workers = 1  # daemonic pool workers may not start processes of their own
    exact = _pyvrp_exact(problem)
    # When PyVRP's model is only conservative, keep time for OR-Tools to
    # polish the best plan under the exact busy-time caps.
    polish = 0.0 if exact else _ORTOOLS_POLISH_SHARE * time_limit
    nominal = time_limit - min(_RESERVE, 0.05 * time_limit) - polish
    deadline = t0 + nominal

    def left() -> float:
        # Deterministic budgets never read the clock: the split is the same on every run.
        return nominal if deterministic else deadline - time.monotonic()

    def ortools_budget(seconds: float) -> dict[str, Any]:
        if not deterministic:
            return {}
        budget: dict[str, Any] = {"solution_limit": max(50, int(_ORTOOLS_SOLUTIONS_PER_SECOND * seconds))}
        if len(problem.visits) <= _SMALL_PROBLEM_VISITS:
            # Guided local search on a handful of visits runs out of new solutions long
            # before its budget and would then run to the clock cap; a descent stops by
            # itself at its local optimum, which on so few visits is the optimum or close.
            budget["metaheuristic"] = "GREEDY_DESCENT"
        return budget

    candidates: list[tuple[str, Routes]] = []
    polished = False
    if workers >= 2:
        budget = left()
        if exact:
            child: tuple[Callable[..., Routes | None], tuple, dict] = (
                _pyvrp_worker,
                (problem, budget, 2 * seed + 1, deterministic),
                {},
            )
            child_end = t0 + _cap(nominal, deterministic) + 1.0
        else:
            # OR-Tools alone on the second core for the whole time, polish
            # included: it is the engine that models the busy caps exactly, so
            # it gets as long as it would get on its own. The PyVRP plan is
            # polished by OR-Tools here, beside it, rather than after it.
            whole = budget + polish
            child = (_ortools_worker, (problem, whole, 2 * seed + 1, deterministic), ortools_budget(whole))
            child_end = t0 + _cap(nominal + polish, deterministic) + 1.0
        proc, receiver = _run_in_child(*child)
        mine = _pyvrp_worker(problem, budget, 2 * seed, deterministic)
        if mine is not None and not exact:
            candidates.append(("pyvrp+ls", mine))
            rest = polish if deterministic else t0 + time_limit - time.monotonic() - 0.1
            if rest > 0.2 and not plan_violations(problem, mine):
                mine = solve_ortools(problem, _cap(rest, deterministic), initial_routes=mine,
                                     **ortools_budget(rest))
                candidates.append(("pyvrp+ls+ortools", mine))
            polished = True
        elif mine is not None:
            candidates.append(("pyvrp+ls", mine))
        other = _collect(proc, receiver, child_end)
        if other is not None:
            candidates.append(("pyvrp+ls" if exact else "ortools", other))
    elif exact:
        mine = _pyvrp_worker(problem, left(), 2 * seed, deterministic)
        if mine is not None:
            candidates.append(("pyvrp+ls", mine))
    else:
        # One core, busy caps binding. OR-Tools (exact) runs first. Once half the
        # time has gone, it stops at the first plan that serves every servable
        # required visit, and PyVRP collects prizes with the rest of the time;
        # if required visits still bind, PyVRP's conservative model would serve
        # fewer of them, so OR-Tools' one search runs on to the end instead.
        first = left() * 0.5
        first_solutions = ortools_budget(first).get("solution_limit", 0)
        settled: dict[str, float] = {}

        def settle(solutions: int, seconds: float, complete: bool) -> bool:
            if complete and (solutions >= first_solutions if deterministic else seconds >= first):
                settled.update(solutions=solutions, seconds=seconds)
                return True
            return False

        whole = nominal + polish
        routes = _ortools_worker(problem, whole, 2 * seed, deterministic, stop_when=settle,
                                 **ortools_budget(whole))
        if routes is not None:
            candidates.append(("ortools" if settled else "ortools+ls", routes))
        if settled:
            rest = (nominal - settled["solutions"] / _ORTOOLS_SOLUTIONS_PER_SECOND if deterministic
                    else deadline - time.monotonic())
            mine = _pyvrp_worker(problem, max(rest, 0.0), 2 * seed, deterministic)
            if mine is not None:
                candidates.append(("pyvrp+ls", mine))
        else:
            polished = True

    candidates = [(name, r) for name, r in candidates if not plan_violations(problem, r)]
    best_name, best = max(candidates, key=lambda c: _score(problem, c[1]), default=("none", empty))

    # OR-Tools carries the exact side constraints: let it improve the best plan
    # when PyVRP's model was conservative or left out required visits (unless
    # both engines already ran side by side to the end, above).
    served = {p for r in best for p in r}
    missing_required = any(bool(problem.required[i]) and i not in served for i in servable)
    remaining = (max(polish, 0.2 * time_limit) if deterministic
                 else t0 + time_limit - time.monotonic() - 0.1)
    if not polished and (not exact or missing_required) and remaining > 0.2:
        seeded = solve_ortools(problem, _cap(remaining, deterministic), initial_routes=best,
                               **ortools_budget(remaining))
        if not plan_violations(problem, seeded) and _score(problem, seeded) > _score(problem, best):
            best, best_name = seeded, best_name + "+ortools"

    return build_solution(
        problem,
        best,
        engine=best_name,
        seconds=time.monotonic() - t0,
        stats={"candidates": float(len(candidates))},
    )
