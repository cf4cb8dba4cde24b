"""Orienteering local search on the float data: insert, replace, shorten, shake.

It polishes the plan an engine returns. Moves are checked with the classic
orienteering bookkeeping (for each stop, how far its service may be pushed
later, ``max_shift``), so most checks are constant time. Every accepted plan
is feasible in the exact float data; the portfolio re-checks it independently.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from patrols.solver.problem import ShiftProblem

# Stricter than the checker's tolerance, so float noise never tips a plan over.
_EPS = 1e-9


@dataclass
class _Route:
    """One vehicle's route and its timing bookkeeping."""

    vehicle: int
    seq: list[int]
    path: list[int]
    start: list[float]
    leave: list[float]
    wait: list[float]
    max_shift: list[float]
    busy: float
    travel: float


class _Plan:
    def __init__(self, problem: ShiftProblem, routes: list[list[int]], deadline: float) -> None:
        self.p = problem
        self.deadline = deadline
        self.n = problem.n_points
        self.open = np.asarray(problem.window_open, dtype=float).tolist()
        self.close = np.asarray(problem.window_close, dtype=float).tolist()
        self.service = np.asarray(problem.service, dtype=float).tolist()
        self.prize = np.asarray(problem.prize, dtype=float).tolist()
        self.mats = {k: np.asarray(m, dtype=float).tolist() for k, m in problem.travel.items()}
        depots = problem.depots
        for d in depots:
            self.service[d] = 0.0
        self.visits = [i for i in range(self.n) if i not in depots]
        self.allowed = [
            [v.allowed is None or i in v.allowed for i in range(self.n)] for v in problem.vehicles
        ]
        self.routes = [self.timed(k, list(r)) for k, r in enumerate(routes)]

    def timed(self, k: int, seq: list[int]) -> _Route:
        v = self.p.vehicles[k]
        m = self.mats[v.profile]
        path = [v.start, *seq, v.end]
        start = [v.earliest]
        leave = [v.earliest]
        wait = [0.0]
        busy = travel = 0.0
        for a, b in pairwise(path):
            leg = m[a][b]
            travel += leg
            busy += leg + self.service[b]
            arrive = leave[-1] + leg
            s = max(arrive, self.open[b]) if b != v.end else arrive
            start.append(s)
            wait.append(s - arrive)
            leave.append(s + self.service[b])
        shift = [0.0] * len(path)
        shift[-1] = v.latest - start[-1]
        for j in range(len(path) - 2, 0, -1):
            shift[j] = min(self.close[path[j]] - start[j], wait[j + 1] + shift[j + 1])
        shift[0] = wait[1] + shift[1] if len(path) > 1 else 0.0
        return _Route(k, seq, path, start, leave, wait, shift, busy, travel)

    def feasible(self, k: int, seq: list[int]) -> _Route | None:
        r = self.timed(k, seq)
        v = self.p.vehicles[k]
        if not math.isfinite(r.travel) or r.start[-1] > v.latest - _EPS or r.busy > v.max_busy - _EPS:
            return None
        for j in range(1, len(r.path) - 1):
            if r.start[j] > self.close[r.path[j]] - _EPS:
                return None
        return r

    def insertion(self, r: _Route, x: int) -> tuple[float, int] | None:
        """Cheapest feasible place for ``x`` in ``r``: (added time, index in ``seq``)."""
        v = self.p.vehicles[r.vehicle]
        if not self.allowed[r.vehicle][x]:
            return None
        m = self.mats[v.profile]
        best: tuple[float, int] | None = None
        svc = self.service[x]
        for j in range(len(r.path) - 1):
            a, b = r.path[j], r.path[j + 1]
            arrive = r.leave[j] + m[a][x]
            if arrive > self.close[x] - _EPS:
                continue  # no triangle inequality is assumed, so keep looking
            s = max(arrive, self.open[x])
            delta = s + svc + m[x][b] - (r.leave[j] + m[a][b])
            if delta > r.wait[j + 1] + r.max_shift[j + 1] - _EPS:
                continue
            extra = m[a][x] + svc + m[x][b] - m[a][b]
            if r.busy + extra > v.max_busy - _EPS:
                continue
            if best is None or extra < best[0]:
                best = (extra, j)  # path index j is seq index j - 1, so x goes to seq[j]
        return best

    def served(self) -> set[int]:
        return {i for r in self.routes for i in r.seq}

    def score(self) -> tuple[int, float, float]:
        served = self.served()
        required = sum(1 for i in served if bool(self.p.required[i]))
        return (required, sum(self.prize[i] for i in served), -sum(r.travel for r in self.routes))

    def greedy_insert(self, candidates: list[int]) -> bool:
        """Insert unserved candidates by prize per added time until none fits."""
        changed = False
        pool = [i for i in candidates if i not in self.served() and self.prize[i] > 0]
        while pool and time.monotonic() < self.deadline:
            best = None
            for x in pool:
                for r in self.routes:
                    ins = self.insertion(r, x)
                    if ins is None:
                        continue
                    ratio = self.prize[x] ** 2 / (ins[0] + 1e-9)
                    if best is None or ratio > best[0]:
                        best = (ratio, x, r.vehicle, ins[1])
            if best is None:
                break
            _, x, k, pos = best
            seq = list(self.routes[k].seq)
            seq.insert(pos, x)
            self.routes[k] = self.timed(k, seq)
            pool.remove(x)
            changed = True
        return changed

    def shorten(self, k: int) -> bool:
        """2-opt and relocate inside one route while they cut travel and stay feasible."""
        improved_any = False
        improved = True
        while improved and time.monotonic() < self.deadline:
            improved = False
            r = self.routes[k]
            seq = r.seq
            n = len(seq)
            for i in range(n - 1):
                for j in range(i + 1, n):
                    cand = seq[:i] + seq[i : j + 1][::-1] + seq[j + 1 :]
                    nr = self.feasible(k, cand)
                    if nr is not None and nr.travel < r.travel - 1e-7:
                        self.routes[k] = nr
                        improved = improved_any = True
                        break
                if improved:
                    break
        return improved_any

    def replace(self) -> bool:
        """Swap one served visit for an unserved one with a larger prize."""
        served = self.served()
        outside = sorted(
            (i for i in self.visits if i not in served and self.prize[i] > 0),
            key=lambda i: -self.prize[i],
        )
        for x in outside:
            for r in self.routes:
                for pos, y in enumerate(r.seq):
                    if self.prize[y] >= self.prize[x] or bool(self.p.required[y]):
                        continue
                    rest = r.seq[:pos] + r.seq[pos + 1 :]
                    # Without the triangle inequality (truncated travel times)
                    # removing a stop can make the route later, so re-check.
                    base = self.feasible(r.vehicle, rest)
                    if base is None:
                        continue
                    ins = self.insertion(base, x)
                    if ins is not None:
                        rest.insert(ins[1], x)
                        self.routes[r.vehicle] = self.timed(r.vehicle, rest)
                        return True
        return False


def improve(
    problem: ShiftProblem,
    routes: list[list[int]],
    deadline: float,
    seed: int = 0,
    max_rounds: int = 200,
) -> list[list[int]]:
    """Polish a feasible plan with insert, replace, 2-opt and shake moves.

    Parameters
    ----------
    problem
        The shift problem.
    routes
        A feasible plan: visit indices per vehicle.
    deadline
        ``time.monotonic()`` value at which to stop.
    seed
        Seed of the shake moves.
    max_rounds
        Shake rounds; with the deadline far enough away the result depends
        only on the seed.

    Returns
    -------
    list of list of int
        A plan at least as good (prize, then travel) as the input.
    """
    if time.monotonic() >= deadline:
        return routes
    plan = _Plan(problem, routes, deadline)
    rng = random.Random(seed)
    visits = plan.visits

    def descend() -> None:
        for _ in range(50):
            if time.monotonic() >= deadline:
                return
            changed = False
            for k in range(len(plan.routes)):
                changed |= plan.shorten(k)
            changed |= plan.greedy_insert(visits)
            if time.monotonic() < deadline:
                changed |= plan.replace()
            if not changed:
                return

    descend()
    best_routes = [list(r.seq) for r in plan.routes]
    best_score = plan.score()
    for round_ in range(max_rounds):
        if time.monotonic() >= deadline:
            break
        if round_ % 4 == 3 and len(plan.routes) > 1:
            # Now and then empty a whole route so the rebuild can move it to
            # another part of the map (the other shakes are too local for that).
            k = rng.randrange(len(plan.routes))
            keep = [i for i in plan.routes[k].seq if bool(problem.required[i])]
            emptied = plan.feasible(k, keep)
            if emptied is not None:
                plan.routes[k] = emptied
        # Shake: drop a random stretch of optional visits from each route, then
        # rebuild greedily; keep the result only if it is at least as good.
        for k, r in enumerate(plan.routes):
            if not r.seq:
                continue
            length = rng.randint(1, max(1, len(r.seq) // 3))
            at = rng.randrange(len(r.seq))
            drop = {i for i in r.seq[at : at + length] if not bool(problem.required[i])}
            shaken = plan.feasible(k, [i for i in r.seq if i not in drop])
            if shaken is not None:
                plan.routes[k] = shaken
        descend()
        score = plan.score()
        if score > best_score:
            best_score = score
            best_routes = [list(r.seq) for r in plan.routes]
        else:
            plan.routes = [plan.timed(k, list(r)) for k, r in enumerate(best_routes)]
    return best_routes
