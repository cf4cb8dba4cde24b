"""Route planning for one shift: a team orienteering problem with time windows."""

from __future__ import annotations

from patrols.solver.portfolio import solve
from patrols.solver.problem import ShiftProblem, ShiftSolution, Unserved, Vehicle

__all__ = ["ShiftProblem", "ShiftSolution", "Unserved", "Vehicle", "solve"]
