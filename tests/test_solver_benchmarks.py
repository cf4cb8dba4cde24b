"""The solver on small published orienteering instances, checked independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from patrols.solver import solve
from patrols.solver.feasibility import plan_violations, solution_violations
from patrols.solver.read import detect_family, read_chao, read_instance, read_toptw

DATA = Path(__file__).parent / "data" / "orienteering"


def test_chao_reader() -> None:
    problem = read_chao(DATA / "p1.3.n.txt")
    assert problem.n_points == 32
    assert len(problem.vehicles) == 3
    v = problem.vehicles[0]
    assert (v.start, v.end, v.latest) == (0, 31, 23.3)
    # Exact Euclidean distances, not rounded.
    assert problem.travel["car"][0, 1] == pytest.approx(np.hypot(18.0 - 10.5, 15.9 - 14.4))
    assert detect_family(DATA / "p1.3.n.txt") == "chao_top"


def test_toptw_reader_truncates_travel() -> None:
    problem = read_toptw(DATA / "pr01.txt", 2)
    assert detect_family(DATA / "pr01.txt") == "toptw"
    assert problem.n_points == 49
    assert len(problem.vehicles) == 2
    assert problem.vehicles[0].latest == 1000.0
    hundredths = problem.travel["car"] * 100
    assert np.allclose(hundredths, np.round(hundredths))
    assert problem.service[1] == 2.0 and problem.prize[1] == 12.0
    assert (problem.window_open[1], problem.window_close[1]) == (354.0, 509.0)


def test_toptw_reader_handles_broken_header(tmp_path: Path) -> None:
    # c204's first line is broken over two lines; vertex lines must still be found.
    lines = (DATA / "pr01.txt").read_text().splitlines()
    first = lines[0].split()
    broken = [" ".join(first[:2]), " ".join(first[2:]), *lines[1:]]
    path = tmp_path / "c999.txt"
    path.write_text("\n".join(broken) + "\n")
    problem = read_toptw(path, 1)
    assert problem.n_points == 49
    # Solomon-style names are truncated to one decimal.
    tenths = problem.travel["car"] * 10
    assert np.allclose(tenths, np.round(tenths))


@pytest.mark.parametrize(("name", "vehicles", "at_least"), [("p1.3.n", None, 180), ("pr01", 2, 450)])
def test_benchmark_plans_are_feasible(name: str, vehicles: int | None, at_least: float) -> None:
    problem = read_instance(DATA / f"{name}.txt", vehicles)
    solution = solve(problem, time_limit=2.0)
    assert solution_violations(problem, solution) == []
    assert solution.prize >= at_least


def test_checker_catches_violations() -> None:
    problem = read_toptw(DATA / "pr01.txt", 1)
    assert plan_violations(problem, [[1, 1]])  # visited twice
    assert plan_violations(problem, [[0]])  # depot as a visit
    assert plan_violations(problem, [[]]) == []
    # Serving every customer in file order cannot respect the windows.
    assert any("window" in e for e in plan_violations(problem, [list(range(1, 49))]))
