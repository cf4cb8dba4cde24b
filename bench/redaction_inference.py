"""What a viewer can infer about protective visits from a redacted week: the attacks, measured.

Plans the demo week (seed 0, default settings), redacts it as ``--redact`` and
the service's viewers do, and counts each route's protective visits the ways a
viewer could:

- the subtraction that worked on the earlier viewer bundle (planned figures kept,
  protective stops taken out): ``busy_min - km / walking speed - hotspot dwell``
  on foot routes, in protective dwells;
- the same subtraction on the redacted routes;
- an optimistic linear guess from what the redacted routes show (``busy_min``,
  visible stops, mode, shift), least-squares fitted on the true counts themselves;
- the mean count of the route's mode and shift (a guess that reads nothing).

It also gives the nearest visible stop to any protected site.

    .venv/bin/python bench/redaction_inference.py --out bench/results/redaction-<date>.md
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from patrols import defaults  # noqa: E402
from patrols.inputs import load_area_data  # noqa: E402
from patrols.outputs.redaction import redact  # noqa: E402
from patrols.plan import Plan  # noqa: E402
from patrols.planning import plan_week  # noqa: E402

AREA = REPO / "data" / "westminster" / "area.toml"


def subtraction(plan: Plan, foot_kmh: float) -> dict[str, int]:
    """Protective visits of each foot route from its figures alone."""
    out = {}
    for r in plan.routes:
        if r.mode == "foot":
            visible = sum(1 for s in r.stops if s.kind == "hotspot")
            rest = r.busy_min - r.km / foot_kmh * 60.0 - visible * defaults.HOTSPOT_DWELL_MIN
            out[r.key] = round(rest / defaults.PROTECTIVE_DWELL_MIN)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the attacks and print (and optionally write) the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    data = load_area_data(AREA)  # as `patrols demo` loads it: tension areas and events too
    area, network = data.area, data.network
    plan = plan_week(area, network, data.incidents, date(2018, 7, 2), seed=0, tension=data.tension,
                     events=data.events, workers=2)
    seen = redact(plan, network, area.settings.redaction_clearance_m)
    truth = {r.key: sum(1 for s in r.stops if s.kind == "protective") for r in plan.routes}
    old = replace(plan, routes=tuple(replace(r, stops=tuple(s for s in r.stops if s.kind != "protective"))
                                     for r in plan.routes))
    kmh = area.settings.foot_speed_kmh
    before, after = subtraction(old, kmh), subtraction(seen, kmh)
    foot = [k for k in before if truth[k] > 0]

    rows = [[1.0, r.busy_min, sum(1 for s in r.stops if s.kind == "hotspot"), float(r.mode == "foot"),
             float(r.shift == "night"), float(r.shift == "late")] for r in seen.routes]
    x = np.array(rows)
    t = np.array([truth[r.key] for r in seen.routes], dtype=float)
    coef, *_ = np.linalg.lstsq(x, t, rcond=None)
    fitted = x @ coef
    groups: dict[tuple[str, str], list[float]] = {}
    for r, n in zip(seen.routes, t, strict=True):
        groups.setdefault((r.mode, r.shift), []).append(n)
    mean = np.array([np.mean(groups[r.mode, r.shift]) for r in seen.routes])
    has = t > 0

    sites_x, sites_y = network.project([s.lat for s in plan.sites], [s.lon for s in plan.sites])
    stops = [(s.lat, s.lon) for r in seen.routes for s in r.stops if s.kind != "station"]
    px, py = network.project([p[0] for p in stops], [p[1] for p in stops])
    nearest = float(np.hypot(px[:, None] - sites_x[None, :], py[:, None] - sites_y[None, :]).min())

    lines = [
        f"# What a viewer can infer from a redacted week, {datetime.now(UTC):%Y-%m-%d}", "",
        f"Demo week 2018-07-02, seed 0, default settings: {len(plan.routes)} unit-shifts, "
        f"{sum(truth.values())} protective visits planned, {len(plan.sites)} sites.", "",
        "| attack | routes counted exactly |",
        "|---|---:|",
        f"| foot routes, earlier viewer bundle (planned figures, protective stops taken out): "
        f"busy_min - km / {kmh:g} km/h - hotspot dwell | {sum(before[k] == truth[k] for k in foot)} of "
        f"{len(foot)} |",
        f"| foot routes, redacted bundle: the same subtraction | "
        f"{sum(after[k] == truth[k] for k in foot)} of {len(foot)} (it gives "
        f"{sorted(set(after.values()))} on every foot route) |",
        f"| every route, redacted: least squares on busy_min, visible stops, mode, shift, fitted on the "
        f"truth itself | {int((np.rint(fitted[has]) == t[has]).sum())} of {int(has.sum())} "
        f"(mean error {np.abs(fitted - t).mean():.2f} visits) |",
        f"| every route: the mean of its mode and shift (reads nothing) | "
        f"{int((np.rint(mean[has]) == t[has]).sum())} of {int(has.sum())} "
        f"(mean error {np.abs(mean - t).mean():.2f} visits) |",
        "",
        f"Nearest visible stop of the redacted week to a protected site: {nearest:.0f} m "
        f"(clearance {area.settings.redaction_clearance_m:g} m; {len(stops)} visible stops).", "",
        "Repeat: `.venv/bin/python bench/redaction_inference.py"
        + (f" --out {args.out}" if args.out else "") + "`", "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
