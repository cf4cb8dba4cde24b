"""Run the orienteering development set with our solver and two baselines.

Usage::

    python bench/run.py --seconds 10 [--benchmarks DIR] [--only NAME ...]

For every row of ``reference_scores.csv`` it solves the instance with our
``solve`` and, in the same run at the same time limit, with plain OR-Tools and
with PyVRP alone (the two baselines run side by side, one core each; ours then
runs alone, with both cores). Every plan is re-checked by the independent
feasibility checker and scored 0 if it fails. Writes a markdown table to stdout
and to ``bench/results/top-<date>.md``, and the raw JSON lines next to it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for folder in (str(REPO), str(BENCH)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

from top import ENGINES, run_instance  # noqa: E402

from patrols.solver.feasibility import plan_violations  # noqa: E402
from patrols.solver.read import read_instance  # noqa: E402

BASELINES = ("ortools", "pyvrp")


def benchmarks_dir(given: str | None) -> Path:
    """Where the benchmark files are: option, then ``PATROLS_BENCHMARKS``, then ``../shared/benchmarks``.

    Parameters
    ----------
    given
        The ``--benchmarks`` option, if any.

    Returns
    -------
    pathlib.Path
        The folder holding ``reference_scores.csv``.
    """
    if given:
        return Path(given)
    if os.environ.get("PATROLS_BENCHMARKS"):
        return Path(os.environ["PATROLS_BENCHMARKS"])
    return REPO.parent / "shared" / "benchmarks"


def checked(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """Add the independent feasibility verdict; an infeasible plan scores 0.

    Parameters
    ----------
    record
        A JSON record from ``top.run_instance``.
    path
        The instance file.

    Returns
    -------
    dict
        The record with ``feasible``, ``violations`` and a checked ``score``.
    """
    problem = read_instance(path, record["vehicles"])
    errors = plan_violations(problem, record["routes"])
    record = dict(record)
    record["feasible"] = not errors
    record["violations"] = errors[:5]
    if errors:
        record["claimed_score"] = record["score"]
        record["score"] = 0.0
    return record


def gap(reference: float, score: float) -> float:
    """Percentage by which ``score`` falls short of ``reference`` (negative: better)."""
    return 100.0 * (reference - score) / reference


def table(rows: list[dict[str, Any]], engines: tuple[str, ...], seconds: float) -> str:
    """Format the results as a markdown table with mean and worst gaps.

    Parameters
    ----------
    rows
        One dict per instance: ``instance``, ``vehicles``, ``reference`` and one
        checked record per engine.
    engines
        Engine names, in column order.
    seconds
        Time limit, for the caption.

    Returns
    -------
    str
        The markdown text.
    """
    head = ["instance", "vehicles", "reference"]
    for e in engines:
        head += [f"{e} score", f"{e} gap %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    gaps: dict[str, list[float]] = {e: [] for e in engines}
    infeasible = dict.fromkeys(engines, 0)
    behind_best = 0
    for row in rows:
        cells = [row["instance"], str(row["vehicles"]), f"{row['reference']:g}"]
        for e in engines:
            rec = row[e]
            g = gap(row["reference"], rec["score"])
            gaps[e].append(g)
            infeasible[e] += 0 if rec["feasible"] else 1
            mark = "" if rec["feasible"] else " (infeasible)"
            cells += [f"{rec['score']:g}{mark}", f"{g:.2f}"]
        if "ours" in engines and any(row[e]["score"] > row["ours"]["score"] for e in engines):
            behind_best += 1
        lines.append("| " + " | ".join(cells) + " |")
    summary = ["", "| engine | mean gap % | worst gap % | infeasible plans |", "|---|---|---|---|"]
    for e in engines:
        mean = sum(gaps[e]) / len(gaps[e]) if gaps[e] else float("nan")
        worst = max(gaps[e]) if gaps[e] else float("nan")
        summary.append(f"| {e} | {mean:.2f} | {worst:.2f} | {infeasible[e]} |")
    note = [
        "",
        f"{len(rows)} instances, {seconds:g} s per instance and engine.",
        "Gap = (reference - score) / reference;",
        "negative means above the reference. Baselines ran side by side (one core each); ours ran alone.",
    ]
    if "ours" in engines:
        note.append(f"Instances where ours scored below another engine in this run: {behind_best}.")
    return "\n".join(lines + summary + note) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--benchmarks", default=None)
    parser.add_argument("--only", nargs="*", default=None, help="instance names to run")
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)

    root = benchmarks_dir(args.benchmarks)
    with (root / "reference_scores.csv").open(newline="") as fh:
        refs = list(csv.DictReader(fh))
    if args.only:
        refs = [r for r in refs if r["instance"] in args.only]
    engines = tuple(args.engines)
    baselines = [e for e in engines if e in BASELINES]

    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    args.out.mkdir(parents=True, exist_ok=True)
    raw_path = args.out / f"top-{stamp}.jsonl"
    rows: list[dict[str, Any]] = []
    with raw_path.open("w") as raw, ProcessPoolExecutor(max_workers=2) as pool:
        for ref in refs:
            path = root / ref["file"]
            m = int(ref["vehicles"])
            futures = {e: pool.submit(run_instance, path, m, e, args.seconds, args.seed) for e in baselines}
            results = {e: f.result() for e, f in futures.items()}
            if "ours" in engines:
                results["ours"] = run_instance(path, m, "ours", args.seconds, args.seed)
            row: dict[str, Any] = {
                "instance": ref["instance"],
                "vehicles": m,
                "reference": float(ref["reference_score"]),
            }
            for e in engines:
                rec = checked(results[e], path)
                rec["reference"] = row["reference"]
                raw.write(json.dumps(rec) + "\n")
                raw.flush()
                row[e] = rec
            rows.append(row)
            summary = "  ".join(f"{e}={row[e]['score']:g}" for e in engines)
            print(f"{ref['instance']} m={m} ref={row['reference']:g}  {summary}", file=sys.stderr, flush=True)

    text = f"# Orienteering benchmark, {stamp}\n\nCommand: `bench/run.py --seconds {args.seconds:g}`\n\n"
    text += table(rows, engines, args.seconds)
    (args.out / f"top-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
