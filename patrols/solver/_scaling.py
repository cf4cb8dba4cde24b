"""Integer copies of a ``ShiftProblem`` for engines that only take integers.

Both OR-Tools and PyVRP work in integers. Every quantity is scaled by one power
of ten and rounded *against* the plan (travel and dwell and opening times up,
closing times and shift ends down) so that a plan feasible in integers is also
feasible in the exact float data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patrols.solver.problem import ShiftProblem

# Largest scaled horizon we aim for: fine resolution (rounding up every arc
# costs little) while sums of arcs and penalties stay far inside int64.
_TARGET_HORIZON = 1e8
# Floats such as 12.3 * 100 = 1230.0000000000002 must not round up a whole unit.
_SNAP = 1e-6


@dataclass(frozen=True)
class IntegerProblem:
    """Scaled, integer view of a problem; times are offsets from ``origin``."""

    scale: float
    origin: float
    horizon: int
    unreachable: int
    travel: dict[str, np.ndarray]
    service: np.ndarray
    window_open: np.ndarray
    window_close: np.ndarray
    earliest: np.ndarray
    latest: np.ndarray
    max_busy: np.ndarray


def _up(values: np.ndarray, scale: float) -> np.ndarray:
    v = np.asarray(values, dtype=float) * scale
    r = np.round(v)
    return np.where(np.abs(v - r) <= _SNAP, r, np.ceil(v))


def _down(values: np.ndarray, scale: float) -> np.ndarray:
    v = np.asarray(values, dtype=float) * scale
    r = np.round(v)
    return np.where(np.abs(v - r) <= _SNAP, r, np.floor(v))


def horizon_bounds(problem: ShiftProblem) -> tuple[float, float]:
    """Return the earliest start and the latest end over all vehicles.

    Parameters
    ----------
    problem
        The shift problem.

    Returns
    -------
    tuple of float
        ``(origin, end)``; an unbounded end is replaced by a bound no plan can
        exceed (every finite arc and every dwell once).
    """
    origin = min(v.earliest for v in problem.vehicles)
    end = max(v.latest for v in problem.vehicles)
    if not math.isfinite(end):
        finite = [np.nanmax(np.where(np.isfinite(m), m, np.nan)) for m in problem.travel.values()]
        longest = max(float(x) for x in finite) if finite else 0.0
        end = origin + (problem.n_points + 1) * longest + float(np.sum(problem.service))
        closes = np.where(np.isfinite(problem.window_close), problem.window_close, origin)
        end = max(end, float(np.max(closes)))
    return origin, end


def to_integers(problem: ShiftProblem, scale: float | None = None) -> IntegerProblem:
    """Scale and round a problem so integer feasibility implies float feasibility.

    Parameters
    ----------
    problem
        The shift problem.
    scale
        Multiplier from seconds to integer units; by default the largest power
        of ten that keeps the horizon under about ``1e8``.

    Returns
    -------
    IntegerProblem
        The integer data, times measured from the earliest vehicle start.
    """
    origin, end = horizon_bounds(problem)
    span = max(end - origin, 1e-9)
    if scale is None:
        scale = 10.0 ** math.floor(math.log10(_TARGET_HORIZON / span))
    horizon = int(_down(np.array([span]), scale)[0])
    unreachable = 4 * horizon + 1

    travel = {}
    for name, matrix in problem.travel.items():
        m = np.asarray(matrix, dtype=float)
        finite = np.isfinite(m)
        t = _up(np.where(finite, m, 0.0), scale)
        t = np.where(finite & (t <= horizon), t, unreachable)
        travel[name] = t.astype(np.int64)

    depots = problem.depots
    service = _up(problem.service, scale).astype(np.int64)
    for d in depots:
        service[d] = 0
    w_open = np.asarray(problem.window_open, dtype=float) - origin
    w_close = np.asarray(problem.window_close, dtype=float) - origin
    w_open = np.clip(_up(np.where(np.isfinite(w_open), w_open, -1.0), scale), 0, horizon)
    w_close_i = np.where(
        np.isfinite(w_close), _down(np.where(np.isfinite(w_close), w_close, 0.0), scale), horizon
    )
    w_close_i = np.clip(w_close_i, -1, horizon)

    earliest = np.array([_up(np.array([v.earliest - origin]), scale)[0] for v in problem.vehicles])
    latest = np.array([_down(np.array([min(v.latest, end) - origin]), scale)[0] for v in problem.vehicles])
    busy = np.array(
        [
            _down(np.array([v.max_busy]), scale)[0] if math.isfinite(v.max_busy) else horizon
            for v in problem.vehicles
        ]
    )
    busy = np.clip(busy, 0, horizon)
    return IntegerProblem(
        scale=scale,
        origin=origin,
        horizon=horizon,
        unreachable=unreachable,
        travel=travel,
        service=service,
        window_open=w_open.astype(np.int64),
        window_close=w_close_i.astype(np.int64),
        earliest=np.clip(earliest, 0, horizon).astype(np.int64),
        latest=np.clip(latest, 0, horizon).astype(np.int64),
        max_busy=busy.astype(np.int64),
    )
