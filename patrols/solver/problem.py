"""Pure data for one shift's routing problem and its solution.

A ``ShiftProblem`` is a team orienteering problem with time windows: points with
prizes, some of them required, vehicles with their own start and end points,
shift windows, travel profiles and a cap on busy time. It knows nothing of OSM,
maps or files, so the same solver runs on the product's shifts and on the
published benchmarks.

Conventions
-----------
- Times are seconds as floats, measured from an origin the caller chooses (the
  product uses the shift start; the benchmarks use 0).
- ``travel[profile][i, j]`` is the travel time from point ``i`` to point ``j``
  for vehicles of that profile. ``inf`` means unreachable.
- A point named as some vehicle's ``start`` or ``end`` is a depot: it is never a
  visit and its prize, dwell and window are ignored.
- Every other point is a visit. ``required`` visits must be served if any
  feasible plan serves them; optional visits earn ``prize`` when served.
- Service at a visit starts within ``[window_open, window_close]``; arriving
  early means waiting. Dwell is ``service``.
- A vehicle leaves ``start`` no earlier than ``earliest`` and reaches ``end`` no
  later than ``latest``. Its busy time (travel plus dwell, not waiting) is at
  most ``max_busy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Vehicle:
    """One unit-shift as the solver sees it."""

    start: int
    end: int
    earliest: float
    latest: float
    profile: str = "car"
    max_busy: float = float("inf")
    allowed: frozenset[int] | None = None
    """Visit indices this vehicle may serve; ``None`` means any."""


@dataclass(frozen=True)
class ShiftProblem:
    """A prize-collecting routing problem with time windows (pure data)."""

    travel: dict[str, np.ndarray]
    service: np.ndarray
    prize: np.ndarray
    required: np.ndarray
    window_open: np.ndarray
    window_close: np.ndarray
    vehicles: tuple[Vehicle, ...]
    name: str = ""

    @property
    def n_points(self) -> int:
        """Number of points, depots included."""
        return int(self.service.shape[0])

    @property
    def depots(self) -> frozenset[int]:
        """Indices used as a start or end by any vehicle."""
        return frozenset(i for v in self.vehicles for i in (v.start, v.end))

    @property
    def visits(self) -> list[int]:
        """Indices of the points that can be visited (everything but depots)."""
        d = self.depots
        return [i for i in range(self.n_points) if i not in d]


@dataclass(frozen=True)
class Stability:
    """Where each point stood in a plan being changed, so a re-solve moves as little as it can.

    A preference, not a constraint: serving a point on another vehicle than
    ``vehicle[i]``, or dropping it, costs ``move_cost`` prize units; starting it
    more than ``tolerance`` seconds from ``start[i]`` costs ``move_cost`` an
    hour beyond the tolerance. Only the OR-Tools engine honours it.
    """

    vehicle: np.ndarray
    """Vehicle index each point had (-1: none, a new point)."""
    start: np.ndarray
    """Service start each point had (``nan``: none)."""
    move_cost: float
    tolerance: float = 900.0


@dataclass(frozen=True)
class Unserved:
    """A required visit the solver could not fit, with the reason."""

    point: int
    reason: str


@dataclass(frozen=True)
class ShiftSolution:
    """Routes for a ``ShiftProblem``.

    ``routes[k]`` lists the visit indices of vehicle ``k`` in order, its start
    and end left out; ``starts[k]`` holds the service start time at each of
    them, ``depart[k]`` and ``arrive_end[k]`` when the vehicle leaves its start
    and reaches its end.
    """

    routes: tuple[tuple[int, ...], ...]
    starts: tuple[tuple[float, ...], ...]
    depart: tuple[float, ...]
    arrive_end: tuple[float, ...]
    prize: float
    unserved: tuple[Unserved, ...] = ()
    seconds: float = 0.0
    engine: str = ""
    stats: dict[str, float] = field(default_factory=dict)
