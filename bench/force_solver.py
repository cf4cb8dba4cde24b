"""The solver at a force's size: ours against PyVRP alone and OR-Tools alone on the same problems.

Builds the week of a large area exactly as ``patrols plan`` does (districts,
prizes, the week's threshold), stops before solving, takes the problems of the
first ``--shifts`` shifts (every district of each), and solves each in two
set-ups:

- **as the product runs it**: ``ours`` is the portfolio on one core with
  deterministic work budgets (what ``plan_week``'s day workers call); it takes
  the wall time it takes, and ``pyvrp`` (one PyVRP run, its default parameters)
  and ``ortools`` (plain model: PATH_CHEAPEST_ARC and GUIDED_LOCAL_SEARCH) then
  each get that same wall time on one core;
- **on the clock**: ``ours`` on two processes (the library's default) and each
  engine alone, all stopping on the clock at the problem's own time budget.

Every plan is checked by the independent feasibility checker and scored by
(required visits served, prize collected).

    .venv/bin/python bench/force_solver.py --area bench/work/scale/tiles-30/area.toml --shifts 2 \\
        --out bench/results/force-solver-<date>.md
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from top import solve_with  # noqa: E402

ENGINES = ("ours", "pyvrp", "ortools")

import patrols.planning as planning  # noqa: E402
from patrols.inputs import load_area_data  # noqa: E402
from patrols.solver.feasibility import plan_violations  # noqa: E402
from patrols.solver.portfolio import solve  # noqa: E402


class _Stop(Exception):
    pass


def week_tasks(area_path: Path, week: date) -> list[list[planning.SlotTask]]:
    """The week's solver tasks, per day, as ``plan_week`` hands them to the solver."""
    data = load_area_data(area_path)
    captured: list[list[planning.SlotTask]] = []

    def capture(days, *_args, **_kwargs):
        captured.extend(days)
        raise _Stop

    original = planning._solve_days
    planning._solve_days = capture
    try:
        planning.plan_week(data.area, data.network, data.incidents, week, seed=0, tension=data.tension,
                           events=data.events, workers=1)
    except _Stop:
        pass
    finally:
        planning._solve_days = original
    return captured


def offered(task: planning.SlotTask):
    """The problem as the solver first sees it that day: hotspots below the week's bar left out."""
    p = task.problem
    keep = [i for i in range(p.n_points) if task.hotspot_of_point[i] < 0 or p.prize[i] >= task.min_prize]
    return planning.restrict(p, keep)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print (and optionally write) the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", type=Path, required=True)
    ap.add_argument("--shifts", type=int, default=2,
                    help="the first N shifts of the week (all their districts)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    began = time.perf_counter()
    days = week_tasks(args.area, date(2018, 7, 2))
    tasks = list(days[0])
    by_shift: dict[str, list[planning.SlotTask]] = {}
    for t in tasks:
        by_shift.setdefault(t.problem.name, []).append(t)
    chosen = [t for name in list(by_shift)[: args.shifts] for t in by_shift[name]]
    print(f"built in {time.perf_counter() - began:.0f} s; {len(chosen)} problems", file=sys.stderr)
    rows = []
    setups = ("product", "clock")
    totals = {(su, e): np.zeros(2) for su in setups for e in ENGINES}
    for k, task in enumerate(chosen):
        problem = offered(task)
        seconds = float(task.time_limit or 3.0)
        row = {"problem": f"{problem.name} #{k}", "units": len(problem.vehicles), "points": problem.n_points,
               "required": int(problem.required.sum()), "seconds": seconds}
        for setup in setups:
            wall = seconds
            for engine in ENGINES:
                began = time.perf_counter()
                if engine == "ours" and setup == "product":
                    sol = solve(problem, seconds, args.seed, workers=1, deterministic=True)
                    routes = [list(r) for r in sol.routes]
                    wall = time.perf_counter() - began
                    row["product_wall"] = wall
                else:
                    routes = solve_with(engine, problem, wall, args.seed)
                bad = plan_violations(problem, routes)
                served = {i for r in routes for i in r}
                req = sum(1 for i in served if problem.required[i])
                prize = float(sum(problem.prize[i] for i in served))
                row[setup, engine] = (req, prize, len(bad))
                if not bad:
                    totals[setup, engine] += (req, prize)
        rows.append(row)
        print(row, file=sys.stderr)

    def cell(r: tuple) -> str:
        return f"{r[0]} / {r[1]:,.0f}" + (f" ({r[2]} violations)" if r[2] else "")

    lines = [f"# The solver at a force's size, {datetime.now(UTC):%Y-%m-%d}", "",
             f"Area `{args.area}`, week 2018-07-02: the problems of the first {args.shifts} shift(s), every "
             "district, with the problem's own time budget T (the product's rule: the time limit x "
             "units / 4). Cells: required visits served / prize collected (infeasible plans counted as "
             "nothing).", "",
             "- **As the product runs it** (left): ours on one core with deterministic work budgets, "
             "taking the wall time shown; PyVRP alone and OR-Tools alone then get that same wall time, "
             "one core each.",
             "- **On the clock** (right): ours on two processes, each engine alone on one, all stopping "
             "at T.", "",
             "| problem | units | points | required | T s | product wall s | ours | PyVRP alone | "
             "OR-Tools alone | ours, clock | PyVRP alone, clock | OR-Tools alone, clock |",
             "|---|---:|---:|---:|---:|---:|---|---|---|---|---|---|"]
    for r in rows:
        cells = [cell(r[su, e]) for su in setups for e in ENGINES]
        head = (f"| {r['problem']} | {r['units']} | {r['points']} | {r['required']} | {r['seconds']:.1f} | "
                f"{r['product_wall']:.1f} | ")
        lines.append(head + " | ".join(cells) + " |")
    lines.append("| **total** | | | | | | " + " | ".join(
        f"**{int(totals[su, e][0])} / {totals[su, e][1]:,.0f}**" for su in setups for e in ENGINES) + " |")
    repeat = " ".join(argv or sys.argv[1:])
    lines += ["", f"Repeat: `.venv/bin/python bench/force_solver.py {repeat}`", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
