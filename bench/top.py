"""Solve published orienteering instances (Chao TOP, KU Leuven TOPTW) and print JSON lines.

Usage::

    python bench/top.py --seconds 10 [--vehicles M] [--engine ours|ortools|pyvrp] FILE...

One JSON object per instance: ``instance``, ``family``, ``vehicles``, ``seconds``,
``score`` and ``routes`` (point indices in the file's order, start and end left
out). Without ``--vehicles``, Chao files use their own ``m`` and TOPTW files every
vehicle count listed for them in ``reference_scores.csv`` next to their folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from patrols.solver import solve  # noqa: E402
from patrols.solver.ortools_engine import solve_ortools  # noqa: E402
from patrols.solver.problem import ShiftProblem  # noqa: E402
from patrols.solver.pyvrp_engine import solve_pyvrp  # noqa: E402
from patrols.solver.read import detect_family, read_instance, total_prize  # noqa: E402

ENGINES = ("ours", "ortools", "pyvrp")


def solve_with(engine: str, problem: ShiftProblem, seconds: float, seed: int = 0) -> list[list[int]]:
    """Routes from one engine: ours (the product's ``solve``) or a baseline.

    Parameters
    ----------
    engine
        ``"ours"``, ``"ortools"`` (plain model: ``PATH_CHEAPEST_ARC`` and
        ``GUIDED_LOCAL_SEARCH``, prizes as disjunction penalties) or ``"pyvrp"``
        (one PyVRP run with its default parameters, one core).
    problem
        The instance.
    seconds
        Time limit.
    seed
        Random seed.

    Returns
    -------
    list of list of int
        Visit indices per vehicle.
    """
    if engine == "ours":
        return [list(r) for r in solve(problem, seconds, seed).routes]
    if engine == "ortools":
        return solve_ortools(problem, seconds)
    if engine == "pyvrp":
        routes = solve_pyvrp(problem, seconds, seed)
        return routes if routes is not None else [[] for _ in problem.vehicles]
    raise ValueError(f"unknown engine {engine!r}")


def reference_vehicles(path: Path) -> list[int]:
    """Vehicle counts listed for an instance in the nearby ``reference_scores.csv``.

    Parameters
    ----------
    path
        Instance file, normally ``<benchmarks>/<family>/<name>.txt``.

    Returns
    -------
    list of int
        The counts, in file order; empty if the table or the row is missing.
    """
    for folder in (path.parent.parent, path.parent):
        table = folder / "reference_scores.csv"
        if table.exists():
            with table.open(newline="") as fh:
                return [int(r["vehicles"]) for r in csv.DictReader(fh) if r["instance"] == path.stem]
    return []


def run_instance(
    path: Path, vehicles: int | None, engine: str, seconds: float, seed: int = 0
) -> dict[str, Any]:
    """Read, solve and report one instance.

    Parameters
    ----------
    path
        Instance file.
    vehicles
        Number of vehicles (``None``: the Chao file's own ``m``).
    engine
        See :func:`solve_with`.
    seconds
        Time limit.
    seed
        Random seed.

    Returns
    -------
    dict
        The JSON record (``score`` is the prize the routes collect, before any
        feasibility check).
    """
    problem = read_instance(path, vehicles)
    t0 = time.monotonic()
    routes = solve_with(engine, problem, seconds, seed)
    elapsed = time.monotonic() - t0
    return {
        "instance": path.stem,
        "family": detect_family(path),
        "vehicles": len(problem.vehicles),
        "engine": engine,
        "seconds": round(elapsed, 3),
        "score": total_prize(problem, routes),
        "routes": [[int(i) for i in r] for r in routes],
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--vehicles", type=int, default=None)
    parser.add_argument("--engine", choices=ENGINES, default="ours")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in args.files:
        if args.vehicles is not None:
            counts: list[int | None] = [args.vehicles]
        elif detect_family(path) == "chao_top":
            counts = [None]
        else:
            counts = list(reference_vehicles(path))
            if not counts:
                parser.error(f"{path}: no vehicle count in reference_scores.csv; pass --vehicles")
        for m in counts:
            print(json.dumps(run_instance(path, m, args.engine, args.seconds, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
