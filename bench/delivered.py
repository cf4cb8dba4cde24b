"""Delivered against planned on the demo week (issue 14's target).

Plans the demo (``patrols demo``), makes its units' tracks along their planned
street paths with 20 stops skipped and 10 cut to a third of their dwell
(``patrols.delivered.simulate``), at a ping every 30 s and every 5 minutes with
15 m of noise, writes them as AVL CSV, and runs ``patrols delivered`` on them.
Reports the confusion table (what the harness made against what was measured),
and the time to read and measure the week of 30 s pings, beside the time of
the command as a whole.

    .venv/bin/python bench/delivered.py --out bench/results/delivered-<date>.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from patrols.area import VisitRule  # noqa: E402
from patrols.delivered.measure import STATUSES, measure_plan, unplanned_minutes  # noqa: E402
from patrols.delivered.simulate import choose_faults, make_tracks  # noqa: E402
from patrols.delivered.tracks import read_tracks, tracks_csv  # noqa: E402
from patrols.plan import plan_from_dict  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "delivered")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    bundle = args.work / "plan"
    if not (bundle / "plan.json").is_file():
        subprocess.run([sys.executable, "-m", "patrols.cli", "demo", "--out", str(bundle), "--quiet"],
                       cwd=REPO, check=True)
    plan = plan_from_dict(json.loads((bundle / "plan.json").read_text()))
    rule = VisitRule(**plan.extra["delivered_rule"]) if "delivered_rule" in plan.extra else VisitRule()
    skip, cut = choose_faults(plan, 20, 10, args.seed)
    lines = ["# Delivered against planned: tracks made from the demo plan", "",
             f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
             f"({os.cpu_count()} cores); "
             f"{sum(len(r.stops) - 2 for r in plan.routes)} planned stops, 20 skipped and 10 cut to a third "
             "of their dwell, 15 m of noise.", "", "    .venv/bin/python bench/delivered.py", "",
             "Rule: " + ", ".join(f"{k} {v:g}" for k, v in rule.__dict__.items()), ""]
    for interval in (30, 300):
        tracks = make_tracks(plan, interval, 15.0, args.seed + 1, skip, cut)
        path = args.work / f"avl-{interval}s.csv"
        path.write_text(tracks_csv(tracks))
        began = time.perf_counter()
        read = read_tracks([path], {r.unit_id for r in plan.routes})
        read_s = time.perf_counter() - began
        results = measure_plan(plan, read, rule)
        unplanned_minutes(plan, read, rule)
        measure_s = time.perf_counter() - began - read_s
        out = args.work / f"delivered-{interval}s"
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "patrols.cli", "delivered", "--plan", str(bundle), "--tracks",
                        str(path), "--out", str(out), "--quiet"], cwd=REPO, check=True)
        command_s = time.perf_counter() - began
        made = ["missed" if (r.route.key, r.stop.seq) in skip else "short" if (r.route.key, r.stop.seq) in cut
                else "done" for r in results]
        conf = Counter(zip(made, [r.status for r in results], strict=True))
        right = sum(v for (a, b), v in conf.items() if a == b)
        pings = sum(len(p.t) for p in read.values())
        lines += [f"## A ping every {interval} s ({pings} pings)", "",
                  "| made \\ measured | " + " | ".join(STATUSES) + " |",
                  "|---|" + "---:|" * len(STATUSES)]
        for truth in ("done", "short", "missed"):
            lines.append(f"| {truth} | " + " | ".join(str(conf[(truth, s)]) for s in STATUSES) + " |")
        lines += ["", f"Right: {right} of {len(results)} ({right / len(results):.1%}). Read {read_s:.2f} s, "
                  f"measured {measure_s:.2f} s; the whole command (a fresh process: imports, plan, tracks, "
                  f"report) {command_s:.1f} s.", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
