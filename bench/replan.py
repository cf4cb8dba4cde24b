"""Re-planning against planning the week again, on the demo (issue 13's target).

In one run, on the same machine, interleaved ``--repeat`` times:

- ``patrols demo --out W/parent-k``: the full plan (the parent), timed end to end;
- ``patrols replan --plan W/parent-k --from 2018-07-04T12:00 --changes
  data/westminster/changes/car-off.toml``: the car CX-C2 off from Wednesday
  15:00 to Friday 07:00, timed end to end;
- the same re-plan with ``pins.toml``: the pins that trip the predictability warning.

Both commands are run as a user runs them (a fresh process each: imports,
loading, solving, writing the bundle); the ratio of medians is the figure, and
each command's own in-process figures (the full plan's solve, the re-plan's
``replan_s``) are reported beside it. The re-plan's ``stops_kept`` and the rest,
its unserved visits of the touched days and their shortfall, and the warnings
come from its ``summary.json``.

    .venv/bin/python bench/replan.py --repeat 3 --out bench/results/replan-<date>.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATROLS = [sys.executable, "-m", "patrols.cli"]
AREA = REPO / "data" / "westminster" / "area.toml"
CHANGES = REPO / "data" / "westminster" / "changes"
FROM = "2018-07-04T12:00"


def timed(args: list[str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(PATROLS + args, capture_output=True, text=True, cwd=REPO, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, done.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "replan")
    ap.add_argument("--out", type=Path, help="write the report here (markdown)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    plan_s, replan_s, solve_s, core_s = [], [], [], []
    for k in range(args.repeat):
        parent = args.work / f"parent-{k}"
        seconds, _ = timed(["demo", "--out", str(parent), "--quiet"])
        plan_s.append(seconds)
        solve_s.append(json.loads((parent / "summary.json").read_text())["timing"]["solve_wall_s"])
        out = args.work / f"car-off-{k}"
        seconds, _ = timed(["replan", "--area", str(AREA), "--plan", str(parent), "--from", FROM,
                            "--changes", str(CHANGES / "car-off.toml"), "--out", str(out), "--quiet"])
        replan_s.append(seconds)
        core_s.append(json.loads((out / "summary.json").read_text())["timing"]["replan_s"])
        print(f"run {k + 1}: plan {plan_s[-1]:.1f} s, re-plan {replan_s[-1]:.1f} s", flush=True)
    summary = json.loads((args.work / "car-off-0" / "summary.json").read_text())
    plan_doc = json.loads((args.work / "car-off-0" / "plan.json").read_text())
    rp = summary["replan"]
    solved = set(rp["shifts_solved"])
    days = {s.split("/")[0] for s in solved}
    unserved = [u for u in plan_doc["unserved"] if u["date"] in days]
    shortfall = [s for s in summary["shortfall"] if s["date"] in days]
    _, pin_err = timed(["replan", "--area", str(AREA), "--plan", str(args.work / "parent-0"), "--from", FROM,
                        "--changes", str(CHANGES / "pins.toml"), "--out", str(args.work / "pins")])
    pins = json.loads((args.work / "pins" / "summary.json").read_text())
    same = all((args.work / f"car-off-{k}" / "plan.geojson").read_bytes()
               == (args.work / "car-off-0" / "plan.geojson").read_bytes() for k in range(args.repeat))

    med_plan, med_replan = statistics.median(plan_s), statistics.median(replan_s)
    lines = [
        "# Re-planning against planning again: the demo week, a car off Wed 15:00-Fri 07:00",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}; {args.repeat} interleaved runs of each command, "
        "each a fresh process as a user runs it.",
        "",
        "    .venv/bin/python bench/replan.py --repeat " + str(args.repeat),
        "",
        "| command | median wall s | runs (s) | in-process figure |",
        "|---|---:|---|---|",
        f"| `patrols demo` (full plan) | {med_plan:.1f} | {', '.join(f'{s:.1f}' for s in plan_s)} | "
        f"solve {statistics.median(solve_s):.1f} s |",
        f"| `patrols replan` (car-off.toml, from {FROM}) | {med_replan:.1f} | "
        f"{', '.join(f'{s:.1f}' for s in replan_s)} | replan {statistics.median(core_s):.2f} s |",
        "",
        f"**Re-plan / full plan: {med_replan / med_plan:.2f}** (target at most 0.30); "
        f"in-process, re-plan {statistics.median(core_s):.2f} s against the full plan's solve alone "
        f"{statistics.median(solve_s):.1f} s ({statistics.median(core_s) / statistics.median(solve_s):.3f}).",
        f"The re-plans' plan.geojson are byte-identical across runs: {same}.",
        "",
        "## What moved (first run)",
        "",
        f"- shifts solved again: {', '.join(rp['shifts_solved'])}; every other shift's routes kept as "
        "they were",
        f"- stops kept {rp['stops_kept']}, moved {rp['stops_moved']}, retimed {rp['stops_retimed']}, "
        f"added {rp['stops_added']}, dropped {rp['stops_dropped']}",
        f"- other units' stops kept in the shifts solved again: {rp['other_units_kept_share']:.1%} "
        "(target at least 80%)",
        "- per unit-shift:",
        "",
        "| unit-shift | kept | moved | retimed | added | dropped |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, v in rp["unit_shifts"].items():
        lines.append(f"| {key} | {v['kept']} | {v['moved']} | {v['retimed']} | {v['added']} "
                     f"| {v['dropped']} |")
    lines += ["", f"Unserved protective visits on the touched days ({', '.join(sorted(days))}): "
              + (", ".join(f"{u['site_id']} {u['date']} {u['shift']}: {u['reason']}" for u in unserved)
                 or "none") + ".",
              "Extra unit-shifts that would serve them: "
              + (", ".join(f"{s['extra_unit_shifts']} {s['mode']} at {s['station_id']} {s['date']} "
                           f"{s['shift']}" for s in shortfall) or "none needed") + ".",
              "", "## Pins that make the week predictable (pins.toml)", ""]
    lines += [f"- {w['message']}" for w in pins["warnings"]] or ["- no warning"]
    lines += ["", "As printed by the command:", "", "```"]
    lines += [ln for ln in pin_err.splitlines() if "warning" in ln]
    lines += ["```", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
