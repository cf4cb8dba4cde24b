"""How high can PEI and PAI go on this data? References that are allowed to cheat, and a simulation.

1. ``n*`` check. PEI = n / n*, with n* the most test incidents any set of pieces of the selected
   length could catch. ``patrols.backtest.best_possible`` takes the pieces densest per metre
   first and the last one in part: the fractional-knapsack optimum, an upper bound of the
   whole-piece optimum. Taking whole pieces only (densest first, skipping any that no longer fit)
   gives a lower bound. If the two are within an incident or two, n* is exact for practical
   purposes and PEI is not depressed by how n* is computed.
2. Leaky oracles. Rank pieces by the counts of the *other eleven months of the year, future
   ones included*, and by the whole year including the test month itself.
3. A Poisson world. Take each piece's true monthly rate to be its whole-year count / 12
   (generous: raw counts are more concentrated than true rates), and a smoother alternative
   (80% own count, 20% network-kernel neighbourhood). Draw 9 months of history and a test month
   from Poisson(rate) and compare, at 5% of street length, the 12-month-halved street-count
   baseline on the drawn history with an oracle that ranks by the *true* rate. This is the most
   any rate estimate can gain over the baseline when the world is stationary, and the PEI a
   perfect rate estimate gets.

Run: .venv/bin/python bench/backtest_ceiling.py   (writes bench/results/backtest/ceiling.md, for the
tension categories the hotspot surface counts by default); ``--categories A B ... --out FILE`` for
another set (the bench script also writes ``ceiling-3-categories.md``: public order, violence,
criminal damage, the set of the issue 4 target).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from patrols import defaults
from patrols.area import load_area
from patrols.backtest import best_possible, measure, month_start
from patrols.hotspots import place_incidents
from patrols.incidents import category_slug, read_all
from patrols.kde import street_pieces
from patrols.network import Network, load_graph

ROOT = Path(__file__).resolve().parent.parent
AREA = ROOT / "data" / "westminster" / "area.toml"
OUT = ROOT / "bench" / "results" / "backtest" / "ceiling.md"
MONTHS = ["2018-01", "2018-02", "2018-03", "2018-04", "2018-05", "2018-06"]
DRAWS = 40


def whole_pieces(length: np.ndarray, count: np.ndarray, budget: float) -> float:
    """Test incidents caught by whole pieces densest first, skipping those that no longer fit."""
    order = np.lexsort((np.arange(len(count)), -(count / length)))
    left, caught = budget, 0.0
    for i in order:
        if count[i] <= 0:
            break
        if length[i] <= left:
            left -= length[i]
            caught += count[i]
    return caught


def halved(history: np.ndarray) -> np.ndarray:
    """The 12-months-halved-every-3-months weights on history rows (last row = last month)."""
    back = np.arange(len(history), 0, -1)
    return (np.power(0.5, (back - 1) // 3)[:, None] * history).sum(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", nargs="+", default=list(defaults.HOTSPOT_CATEGORIES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    target = sorted({category_slug(c) for c in args.categories})
    area = load_area(AREA)
    net = Network(load_graph(area.network_path))
    inc = read_all(area.incident_paths)
    inc = inc[inc["category"].isin(target)].copy()
    pieces = street_pieces(net, area.settings.street_piece_m)
    n, length = len(pieces), pieces.length_m
    inc["piece"] = place_incidents(pieces, net, inc, area.settings.max_snap_m)
    inc = inc[inc["piece"] >= 0]
    year = np.bincount(inc["piece"], minlength=n).astype(float)
    command = "bench/backtest_ceiling.py" + ("" if target == sorted(defaults.HOTSPOT_CATEGORIES) else
                                             f" --categories {' '.join(target)} --out {args.out}")
    lines = [f"# How high can PAI and PEI go? (Westminster, {', '.join(target)})",
             "", f"Made by: `.venv/bin/python {command}`", "",
             "## 1. n* (the denominator of PEI) at 5% of street length", "",
             "| test month | budget km | n* as used (fractional upper bound) | whole pieces only "
             "(lower bound) | gap |", "|---|---:|---:|---:|---:|"]
    oracle = []
    for month in MONTHS:
        start, end = month_start(month), month_start(pd.Period(month, freq="M") + 1)
        test = inc[(inc["timestamp"] >= start) & (inc["timestamp"] < end)]
        tc = np.bincount(test["piece"], minlength=n).astype(float)
        budget = 0.05 * float(length.sum())
        hi, lo = best_possible(length, tc, budget), whole_pieces(length, tc, budget)
        lines.append(f"| {month} | {budget / 1000:.1f} | {hi:.1f} | {lo:.0f} | {hi - lo:.1f} |")
        other = measure((year - tc) / length, length, tc, tc, 0.05)
        whole = measure(year / length, length, tc, tc, 0.05)
        oracle.append(f"| {month} | {other['pai']:.2f} / {other['pei']:.3f} "
                      f"| {whole['pai']:.2f} / {whole['pei']:.3f} |")
    lines += ["", "## 2. Leaky oracles at 5% of street length", "",
              "| test month | PAI / PEI, other 11 months (uses the future) "
              "| PAI / PEI, whole year incl. test month |", "|---|---:|---:|", *oracle]

    rng = np.random.default_rng(20180401)
    smooth = pieces.density(year, area.settings.kde_bandwidth_m) * length
    smooth *= year.sum() / smooth.sum()
    worlds = {"whole-year count / 12": year / 12.0,
              "80% own count, 20% kernel neighbourhood": (0.8 * year + 0.2 * smooth) / 12.0}
    lines += ["", f"## 3. A stationary Poisson world ({DRAWS} draws, 9 months of history, "
              "5% of street length)",
              "", "| true rate per piece | street-count baseline PAI / PEI | true-rate oracle PAI / PEI | "
              "oracle / baseline PAI |", "|---|---:|---:|---:|"]
    for name, rate in worlds.items():
        got = []
        for _ in range(DRAWS):
            history = rng.poisson(np.broadcast_to(rate, (9, n))).astype(float)
            tc = rng.poisson(rate).astype(float)
            base = measure(halved(history) / length, length, tc, tc, 0.05)
            best = measure(rate / length, length, tc, tc, 0.05)
            got.append((base["pai"], base["pei"], best["pai"], best["pei"]))
        b_pai, b_pei, o_pai, o_pei = np.mean(got, axis=0)
        lines.append(f"| {name} | {b_pai:.2f} / {b_pei:.3f} | {o_pai:.2f} / {o_pei:.3f} "
                     f"| {o_pai / b_pai:.3f} |")
    lines.append("")
    text = "\n".join(lines)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
