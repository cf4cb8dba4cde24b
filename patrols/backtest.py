"""Back-testing hotspot models: predict a month from the months before it, and measure.

Every method ranks the same short street pieces (:mod:`patrols.kde`); a
selection is the highest-ranked pieces up to a share of the total street
length. At each share we measure, over the test month's incidents:

- hit rate ``n / N``: the share of incidents on the selected streets;
- PAI (predictive accuracy index) ``(n / N) / (a / A)`` with street length
  for ``a`` (selected) and ``A`` (all);
- PEI (predictive efficiency index) ``n / n*``: ``n*`` is the most incidents
  any selection of the same length could have caught (the test month's own
  pieces, densest per metre first, the last one in part);
- harm share: the share of the test month's harm (category weight x
  severity) on the selected streets.

Two rows of the hotspot model are reported, both with the same machinery
(recency half-lives, street pieces, network kernel share): ``model`` is the
product model, each incident weighted by its category's harm; ``model_count``
gives every evaluated category the same weight. Hit rate, PAI and PEI count
incidents, so within the evaluated categories harm weighting re-ranks pieces
away from what they measure (a violent crime counts 4x a public-order offence
in ``model`` but once in the test month); ``model_count`` is the variant those
measures are calibrated to, and harm share is the measure ``model`` aims at.

The hotspot model is compared with three baselines fitted in the same run:
grid kernel density (150 m cells, planar quartic kernel of 250 m over the
training months), last month's counts per metre of street, and the last 12
months' counts per metre with each older quarter counting half the one after.
The core is pure; :func:`write_report` is the I/O edge (CSV, Markdown, PNG).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from patrols.area import Settings
from patrols.hotspots import incident_weights, place_incidents, surface
from patrols.kde import StreetPieces, street_pieces
from patrols.network import Network

COVERAGES = (0.01, 0.05, 0.10)
# Coverages drawn on the hit-rate plot.
CURVE = np.round(np.arange(0.0, 0.2001, 0.0025), 4)
GRID_CELL_M = 150.0
GRID_BANDWIDTH_M = 250.0
METHODS = ("model", "model_count", "grid_kde", "last_month", "months12_halved")
MODELS = ("model", "model_count")
LABELS = {
    "model": "hotspot model, harm-weighted (network KDE, harm x recency): the product model",
    "model_count": "the same hotspot model with equal weights within the evaluated categories "
                   "(count-calibrated: what hit rate, PAI and PEI count)",
    "grid_kde": "grid KDE (150 m cells, 250 m quartic)",
    "last_month": "last month's counts per metre",
    "months12_halved": "12 months' counts per metre, halved every 3 months",
}
# Shorter names for the plot's legend.
PLOT_LABELS = {**LABELS, "model": "hotspot model (harm-weighted)",
               "model_count": "hotspot model (equal weights in evaluated categories)"}


@dataclass(frozen=True)
class MonthResult:
    """One test month: the measures per method and coverage, and the hit-rate curves."""

    month: str
    train_from: str
    n_test: int
    n_train: int
    table: pd.DataFrame
    """Columns: month, method, coverage, length_m, hits, hit_rate, pai, pei, harm_share."""
    curves: dict[str, np.ndarray]
    """Method -> hit rate at each coverage in :data:`CURVE`."""


def month_start(month: str | pd.Period) -> pd.Timestamp:
    """First instant of a ``YYYY-MM`` month."""
    return pd.Period(month, freq="M").start_time


def rank(score: np.ndarray) -> np.ndarray:
    """Pieces in order of selection: highest score first, ties by piece index."""
    return np.lexsort((np.arange(len(score)), -np.asarray(score, dtype=float)))


def measure(score: np.ndarray, length_m: np.ndarray, test_count: np.ndarray, test_harm: np.ndarray,
            coverage: float) -> dict[str, float]:
    """Hit rate, PAI, PEI and harm share of the top ``coverage`` of street length by ``score``.

    Parameters
    ----------
    score
        Score per piece (higher = selected first).
    length_m
        Length of each piece.
    test_count, test_harm
        Test incidents and their harm on each piece.
    coverage
        Share of the total street length selected (whole pieces, up to the budget).

    Returns
    -------
    dict
        ``length_m``, ``hits``, ``hit_rate``, ``pai``, ``pei``, ``harm_share``.
    """
    total_len = float(length_m.sum())
    n_all = float(test_count.sum())
    order = rank(score)
    cum = np.cumsum(length_m[order])
    k = int(np.searchsorted(cum, coverage * total_len, side="right"))
    chosen = order[:k]
    a = float(cum[k - 1]) if k else 0.0
    hits = float(test_count[chosen].sum())
    hit_rate = hits / n_all if n_all else 0.0
    best = best_possible(length_m, test_count, a)
    return {
        "length_m": round(a, 1),
        "hits": hits,
        "hit_rate": hit_rate,
        "pai": hit_rate / (a / total_len) if a else 0.0,
        "pei": hits / best if best else 0.0,
        "harm_share": float(test_harm[chosen].sum() / test_harm.sum()) if test_harm.sum() else 0.0,
    }


def best_possible(length_m: np.ndarray, test_count: np.ndarray, budget_m: float) -> float:
    """Most test incidents any selection of ``budget_m`` of street could catch (densest first)."""
    density = test_count / length_m
    order = np.lexsort((np.arange(len(density)), -density))
    cum = np.cumsum(length_m[order])
    k = int(np.searchsorted(cum, budget_m, side="right"))
    caught = float(test_count[order[:k]].sum())
    if k < len(order):
        used = float(cum[k - 1]) if k else 0.0
        caught += float(density[order[k]]) * (budget_m - used)
    return caught


def hit_curve(score: np.ndarray, length_m: np.ndarray, test_count: np.ndarray,
              coverages: np.ndarray = CURVE) -> np.ndarray:
    """Hit rate at each coverage (whole pieces up to each budget)."""
    order = rank(score)
    cum_len = np.cumsum(length_m[order])
    cum_hit = np.concatenate([[0.0], np.cumsum(test_count[order])])
    k = np.searchsorted(cum_len, np.asarray(coverages) * float(length_m.sum()), side="right")
    total = float(test_count.sum())
    return cum_hit[k] / total if total else np.zeros(len(coverages))


def grid_kde(pieces: StreetPieces, x: np.ndarray, y: np.ndarray, cell_m: float = GRID_CELL_M,
             bandwidth_m: float = GRID_BANDWIDTH_M) -> np.ndarray:
    """The grid baseline: planar quartic KDE at square cell centres, given to the pieces in each cell.

    Parameters
    ----------
    pieces
        Street pieces (their middles say which cell they are in).
    x, y
        Projected training incidents.
    cell_m, bandwidth_m
        Cell side and kernel bandwidth.

    Returns
    -------
    numpy.ndarray
        Score per piece: the density of its cell.
    """
    x0, y0 = pieces.mid_x.min(), pieces.mid_y.min()
    col = np.floor((pieces.mid_x - x0) / cell_m).astype(int)
    row = np.floor((pieces.mid_y - y0) / cell_m).astype(int)
    cells, inverse = np.unique(np.column_stack([col, row]), axis=0, return_inverse=True)
    centres = np.column_stack([x0 + (cells[:, 0] + 0.5) * cell_m, y0 + (cells[:, 1] + 0.5) * cell_m])
    value = np.zeros(len(cells))
    if len(x):
        locs, weight = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)
        near = cKDTree(centres).sparse_distance_matrix(cKDTree(locs), bandwidth_m, output_type="coo_matrix")
        u = near.data / bandwidth_m
        k = 3.0 / (np.pi * bandwidth_m ** 2) * (1.0 - u * u) ** 2
        np.add.at(value, near.row, k * weight[near.col])
        # sparse_distance_matrix leaves out exact zero distances (a point on a cell centre).
        same = cKDTree(locs).query(centres, distance_upper_bound=1e-9)
        hit = np.isfinite(same[0])
        value[hit] += 3.0 / (np.pi * bandwidth_m ** 2) * weight[same[1][hit]]
    return value[inverse.ravel()]


def count_calibrated(settings: Settings, categories: pd.Series | list[str]) -> Settings:
    """``settings`` with one harm weight (1) for every category in ``categories``.

    Half-lives, pieces and kernel are unchanged: the hotspot model ranked by
    counts of the evaluated categories instead of by their harm.
    """
    weights = dict(settings.harm_weights)
    weights.update({str(c): 1.0 for c in pd.unique(pd.Series(categories, dtype=object))})
    return replace(settings, harm_weights=weights)


def _per_piece(piece: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    ok = piece >= 0
    return np.bincount(piece[ok], weights=None if weights is None else weights[ok], minlength=n).astype(float)


def backtest_month(network: Network, incidents: pd.DataFrame, month: str, train_months: int,
                   settings: Settings) -> MonthResult:
    """Fit every method on the months before ``month`` and measure it on ``month``.

    Parameters
    ----------
    network
        The area's streets.
    incidents
        The incidents to predict and learn from (already filtered to the
        categories of interest).
    month
        Test month ``YYYY-MM``.
    train_months
        How many months before it the model and the grid baseline learn from
        (fewer if the data start later).
    settings
        Model settings (harm, half-lives, pieces, kernel).

    Returns
    -------
    MonthResult
    """
    pieces = street_pieces(network, settings.street_piece_m)
    n = len(pieces)
    start = month_start(month)
    end = month_start(pd.Period(month, freq="M") + 1)
    train_from = month_start(pd.Period(month, freq="M") - train_months)
    stamp = incidents["timestamp"]
    test = incidents[(stamp >= start) & (stamp < end)]
    train = incidents[(stamp >= train_from) & (stamp < start)]
    piece_test = place_incidents(pieces, network, test, settings.max_snap_m)
    test_count = _per_piece(piece_test, n)
    test_harm = _per_piece(piece_test, n, incident_weights(test, end, settings)["harm"].to_numpy())

    weighted = incident_weights(train, start, settings)
    piece_train = place_incidents(pieces, network, weighted, settings.max_snap_m)
    scores = {"model": surface(pieces, _per_piece(piece_train, n, weighted["weight"].to_numpy()), settings)}
    scores["model_count"] = surface(pieces, _per_piece(piece_train, n, incident_weights(
        train, start, count_calibrated(settings, train["category"]))["weight"].to_numpy()), settings)
    tx, ty = network.project(train["lat"].to_numpy(), train["lon"].to_numpy())
    scores["grid_kde"] = grid_kde(pieces, tx, ty)
    # Whole calendar months back from the test month: 1 = last month.
    back = (pd.Period(month, freq="M").ordinal
            - train["timestamp"].dt.to_period("M").map(lambda p: p.ordinal).to_numpy())
    last = piece_train[back == 1]
    scores["last_month"] = _per_piece(last, n) / pieces.length_m
    in12 = (back >= 1) & (back <= 12)
    halved = np.power(0.5, (back[in12] - 1) // 3)
    scores["months12_halved"] = _per_piece(piece_train[in12], n, halved) / pieces.length_m

    rows = []
    for method in METHODS:
        for cov in COVERAGES:
            m = measure(scores[method], pieces.length_m, test_count, test_harm, cov)
            rows.append({"month": str(month), "method": method, "coverage": cov, **m})
    curves = {m: hit_curve(scores[m], pieces.length_m, test_count) for m in METHODS}
    return MonthResult(month=str(month), train_from=str(train_from.to_period("M")),
                       n_test=int(test_count.sum()), n_train=len(train),
                       table=pd.DataFrame(rows), curves=curves)


def target_check(table: pd.DataFrame, coverage: float = 0.05, method: str = "model") -> pd.DataFrame:
    """Per month at ``coverage``: a model row's PAI against the baselines', and its PEI.

    Parameters
    ----------
    table
        Back-test rows (see :class:`MonthResult`).
    coverage
        Share of street length.
    method
        The model row checked: ``model`` (harm-weighted) or ``model_count``.

    Returns
    -------
    pandas.DataFrame
        ``month``, ``method``, ``pai_model``, ``pai_grid``, ``pai_best_street`` (best of
        the two count baselines), ``vs_grid``, ``vs_best_street``, ``pei_model``
        and ``met`` (PAI >= 2x grid, >= 1.05x best street count, PEI >= 0.85).
    """
    at = table[np.isclose(table["coverage"], coverage)]
    rows = []
    for month, grp in at.groupby("month", sort=True):
        pai = grp.set_index("method")["pai"]
        pei = float(grp.set_index("method").loc[method, "pei"])
        best = float(max(pai["last_month"], pai["months12_halved"]))
        vs_grid = float(pai[method] / pai["grid_kde"]) if pai["grid_kde"] else float("inf")
        vs_best = float(pai[method] / best) if best else float("inf")
        rows.append({"month": month, "method": method, "pai_model": float(pai[method]),
                     "pai_grid": float(pai["grid_kde"]),
                     "pai_best_street": best, "vs_grid": vs_grid, "vs_best_street": vs_best,
                     "pei_model": pei, "met": bool(vs_grid >= 2.0 and vs_best >= 1.05 and pei >= 0.85)})
    return pd.DataFrame(rows)


def markdown(results: list[MonthResult], title: str, command: str) -> str:
    """The back-test report as Markdown: one table per month and the target check."""
    lines = [f"# {title}", "", f"Made by: `{command}`", ""]
    for res in results:
        lines += [f"## Test month {res.month} (trained from {res.train_from}; "
                  f"{res.n_train} training and {res.n_test} test incidents)", "",
                  "| method | coverage | street km | hit rate | PAI | PEI | harm share |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in res.table.itertuples(index=False):
            lines.append(f"| {r.method} | {r.coverage:.0%} | {r.length_m / 1000:.1f} | {r.hit_rate:.3f} | "
                         f"{r.pai:.2f} | {r.pei:.3f} | {r.harm_share:.3f} |")
        lines.append("")
    table = pd.concat([r.table for r in results])
    lines += ["## Target at 5% of street length", "",
              "Target: model PAI >= 2x grid and >= 1.05x the best street-count baseline, PEI >= 0.85. "
              "`model` is the harm-weighted product model; `model_count` the same model with equal "
              "weights within the evaluated categories (hit rate, PAI and PEI count incidents).", "",
              "| month | row | PAI model | PAI grid | PAI best street count | model / grid | "
              "model / best street | PEI model | met |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for method in MODELS:
        for r in target_check(table, method=method).itertuples(index=False):
            lines.append(f"| {r.month} | {r.method} | {r.pai_model:.2f} | {r.pai_grid:.2f} | "
                         f"{r.pai_best_street:.2f} | {r.vs_grid:.2f} | {r.vs_best_street:.3f} | "
                         f"{r.pei_model:.3f} | {'yes' if r.met else 'no'} |")
    lines += ["", "Methods: " + "; ".join(f"`{k}` = {v}" for k, v in LABELS.items()) + ".", ""]
    return "\n".join(lines)


def plot(results: list[MonthResult], path: str | Path) -> None:
    """Write a PNG of hit rate against street-length coverage, one panel per test month."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.8), squeeze=False,
                             sharey=True)
    styles = {"model": ("#c0392b", "-"), "model_count": ("#8e44ad", (0, (5, 1))),
              "grid_kde": ("#7f8c8d", "--"),
              "last_month": ("#2980b9", ":"), "months12_halved": ("#27ae60", "-.")}
    for ax, res in zip(axes[0], results, strict=True):
        for m in METHODS:
            colour, dash = styles[m]
            ax.plot(CURVE * 100, res.curves[m], color=colour, linestyle=dash, label=PLOT_LABELS[m])
        for cov in COVERAGES:
            ax.axvline(cov * 100, color="#ddd", linewidth=0.8, zorder=0)
        ax.set_title(f"test month {res.month}")
        ax.set_xlabel("street length selected (%)")
        ax.set_xlim(0, CURVE[-1] * 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("hit rate (share of test incidents)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def write_report(results: list[MonthResult], out: str | Path, title: str, command: str) -> list[Path]:
    """Write ``backtest.csv``, ``backtest.md``, ``target.json`` and ``hit_rate.png`` into ``out``.

    Files are written to a temporary name and moved into place, so a failed
    run leaves no half-written report.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.concat([r.table for r in results], ignore_index=True)
    texts = {
        "backtest.csv": table.to_csv(index=False, float_format="%.4f"),
        "backtest.md": markdown(results, title, command),
        "target.json": json.dumps([rec for m in MODELS for rec in target_check(table, method=m)
                                   .to_dict(orient="records")], indent=2) + "\n",
    }
    written = []
    tmp_png = out / ".hit_rate.png.tmp"
    plot(results, tmp_png)
    for name, text in texts.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
        written.append(out / name)
    tmp_png.replace(out / "hit_rate.png")
    written.append(out / "hit_rate.png")
    return written
