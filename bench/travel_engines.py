"""Time the car travel-time matrix between a week's places with several routing libraries.

Usage::

    .venv/bin/python bench/travel_engines.py [--network westminster:100 --network tiles-9:200,800]
                                            [--places N[,N...]] [--limit S] [--budget S] [--seed N]
                                            [--methods scipy-bounded,pandana,...] [--out FILE]

The planner times every pair of the week's places once per week and mode
(:func:`patrols.planning.travel_table`, :meth:`patrols.network.Network.travel_times`:
scipy's ``csgraph.dijkstra`` in batches, searches between stops bounded by the
longest leg, 1,200 s by car). This bench builds a :class:`patrols.network.Network`,
takes its car graph (``net._arcs["car"].csr``, travel seconds), draws random
places among the nodes that have car arcs both in and out (seeded), and times,
in one run so the ratios share the machine's mood:

- ``scipy unbounded``: ``Network.travel_times(car, places)`` (the old way:
  every place searches the whole network);
- ``scipy bounded``: the same with ``limit_s`` (what place-to-place legs do now);
- ``pandana CH``: ``pandana.Network.shortest_path_lengths`` on every pair
  (contraction hierarchies; building the hierarchy is the build column);
- ``igraph``: ``Graph.distances(places, places, weights=...)``;
- ``networkit SPSP``: ``networkit.distance.SPSP`` with the places as targets;
- ``rustworkx``: ``digraph_dijkstra_shortest_path_lengths`` per place.

Libraries that are not installed are skipped and said so. Each result is
checked against ``scipy unbounded``: equal to 1e-6 relative where finite and
``inf`` in the same cells; the bounded one must equal it wherever it is at
most the limit and be ``inf`` elsewhere. Everything runs single-threaded
(``OMP_NUM_THREADS``/``RAYON_NUM_THREADS`` = 1, networkit set to 1 thread).

A network spec is ``NAME[:N,N...]``: ``westminster`` (the bundled OSMnx drive
network), ``tiles-9`` / ``tiles-30`` (``bench/work/scale/<name>/network.graphml``,
made by ``bench/scale.py --only tiles-9 --build-only``; skipped when missing) or
a path to a network file. With several place counts, the counts run from small
to large and a method whose time, scaled from the smaller count (linearly for
one search per place, quadratically for per-pair queries), would pass
``--budget`` seconds is not run at the larger count. The table goes to
``bench/results/travel-engines-<date>.md``.
"""

# ruff: noqa: E402  (the thread count is set before anything loads an OpenMP runtime)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime as dt
import importlib
import platform
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from patrols.network import Network, load_graph

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

NETWORKS = {
    "westminster": REPO / "data" / "westminster" / "westminster_drive_osmnx.graphml",
    "tiles-9": BENCH / "work" / "scale" / "tiles-9" / "network.graphml",
    "tiles-30": BENCH / "work" / "scale" / "tiles-30" / "network.graphml",
}
DEFAULT_NETWORKS = ["westminster:100", "tiles-9:200,800"]
RTOL = 1e-6


# ------------------------------------------------------------------ engines
@dataclass
class Graph:
    """The car graph of one network as the engines are given it."""

    csr: csr_matrix
    lon: np.ndarray
    lat: np.ndarray
    rows: np.ndarray = field(init=False)
    cols: np.ndarray = field(init=False)
    w: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        coo = self.csr.tocoo()
        self.rows = coo.row.astype(np.int64)
        self.cols = coo.col.astype(np.int64)
        self.w = coo.data.astype(float)

    @property
    def n(self) -> int:
        return self.csr.shape[0]


@dataclass
class Engine:
    """One way to time every pair of places.

    ``build(graph)`` returns whatever ``query(built, places, limit)`` needs;
    ``query`` returns the ``len(places) x len(places)`` matrix (``inf`` where
    unreachable). ``pairwise``: its cost grows with places squared (one query
    per pair) rather than with places (one search per place).
    """

    name: str
    module: str | None
    build: Callable[[Graph, Network], Any]
    query: Callable[[Any, np.ndarray, float], np.ndarray]
    bounded: bool = False
    pairwise: bool = False


def _scipy_build(graph: Graph, net: Network) -> Network:
    return net


def _scipy_unbounded(net: Network, places: np.ndarray, limit: float) -> np.ndarray:
    return net.travel_times("car", places)


def _scipy_bounded(net: Network, places: np.ndarray, limit: float) -> np.ndarray:
    return net.travel_times("car", places, limit_s=limit)


def _pandana_build(graph: Graph, net: Network) -> Any:
    import pandana
    import pandas as pd

    return pandana.Network(graph.lon, graph.lat, graph.rows, graph.cols,
                           pd.DataFrame({"t": graph.w}), twoway=False)


def _pandana_query(pnet: Any, places: np.ndarray, limit: float) -> np.ndarray:
    k = len(places)
    a = np.repeat(places, k)
    b = np.tile(places, k)
    with warnings.catch_warnings():  # it warns, listing every unreachable pair
        warnings.simplefilter("ignore")
        lens = pnet.shortest_path_lengths(a, b, imp_name="t")
    out = np.asarray(lens, dtype=float).reshape(k, k)
    out[out >= 4294967.295 - 1e-6] = np.inf  # pandana's "unreachable" (uint32 max / 1000)
    return out


def _igraph_build(graph: Graph, net: Network) -> Any:
    import igraph

    g = igraph.Graph(n=graph.n, edges=np.column_stack([graph.rows, graph.cols]).tolist(), directed=True)
    g.es["w"] = graph.w.tolist()
    return g


def _igraph_query(g: Any, places: np.ndarray, limit: float) -> np.ndarray:
    p = places.tolist()
    return np.asarray(g.distances(source=p, target=p, weights="w", mode="out"), dtype=float)


def _networkit_build(graph: Graph, net: Network) -> Any:
    import networkit

    networkit.setNumberOfThreads(1)
    g = networkit.Graph(graph.n, weighted=True, directed=True)
    g.addEdges((graph.w, (graph.rows, graph.cols)))
    return g


def _networkit_query(g: Any, places: np.ndarray, limit: float) -> np.ndarray:
    import networkit

    p = places.tolist()
    spsp = networkit.distance.SPSP(g, p)
    spsp.setTargets(p)
    spsp.run()
    out = np.asarray(spsp.getDistances(), dtype=float)
    out[out > 1e300] = np.inf  # networkit's "unreachable" is the largest double
    return out


def _rustworkx_build(graph: Graph, net: Network) -> Any:
    import rustworkx

    g = rustworkx.PyDiGraph(multigraph=False)
    g.add_nodes_from(range(graph.n))
    g.add_edges_from(list(zip(graph.rows.tolist(), graph.cols.tolist(), graph.w.tolist(), strict=True)))
    return g


def _rustworkx_query(g: Any, places: np.ndarray, limit: float) -> np.ndarray:
    import rustworkx

    out = np.full((len(places), len(places)), np.inf)
    col = {int(p): j for j, p in enumerate(places)}
    for i, s in enumerate(places.tolist()):
        dist = rustworkx.digraph_dijkstra_shortest_path_lengths(g, s, float)
        for node, d in dist.items():
            j = col.get(node)
            if j is not None:
                out[i, j] = d
        out[i, i] = 0.0
    return out


ENGINES = [
    Engine("scipy unbounded", None, _scipy_build, _scipy_unbounded),
    Engine("scipy bounded", None, _scipy_build, _scipy_bounded, bounded=True),
    Engine("pandana CH", "pandana", _pandana_build, _pandana_query, pairwise=True),
    Engine("igraph", "igraph", _igraph_build, _igraph_query),
    Engine("networkit SPSP", "networkit", _networkit_build, _networkit_query),
    Engine("rustworkx", "rustworkx", _rustworkx_build, _rustworkx_query),
]
SLUG = {e.name: e.name.split()[0] if e.module else e.name.replace(" ", "-") for e in ENGINES}


# ------------------------------------------------------------------ checking
def compare(ref: np.ndarray, got: np.ndarray, bounded: bool, limit: float) -> tuple[float, float, str]:
    """Max abs and max relative difference to the reference, and a verdict.

    For a bounded result the expected matrix is the reference where it is at
    most ``limit`` and ``inf`` elsewhere.
    """
    want = np.where(ref <= limit, ref, np.inf) if bounded else ref
    if got.shape != want.shape:
        return np.nan, np.nan, f"shape {got.shape} != {want.shape}"
    fin_w, fin_g = np.isfinite(want), np.isfinite(got)
    both = fin_w & fin_g
    diff = np.abs(got[both] - want[both])
    mabs = float(diff.max()) if diff.size else 0.0
    mrel = float((diff / np.maximum(np.abs(want[both]), 1e-12)).max()) if diff.size else 0.0
    problems = []
    if (fin_w & ~fin_g).any():
        problems.append(f"{int((fin_w & ~fin_g).sum())} inf where finite")
    if (~fin_w & fin_g).any():
        problems.append(f"{int((~fin_w & fin_g).sum())} finite where inf")
    if mrel > RTOL:
        problems.append(f"max rel {mrel:.1e}")
    return mabs, mrel, "yes" if not problems else "NO: " + ", ".join(problems)


# ------------------------------------------------------------------ running
def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _best_of(fn: Callable[[], Any], budget_s: float = 1.0, most: int = 5) -> tuple[Any, float]:
    """Run ``fn`` again while the runs so far took under ``budget_s`` (at most ``most`` runs); the fastest."""
    out, best = _timed(fn)
    spent, runs = best, 1
    while spent < budget_s and runs < most:
        out, t = _timed(fn)
        best, spent, runs = min(best, t), spent + t, runs + 1
    return out, best


def pick_places(csr: csr_matrix, k: int, seed: int) -> np.ndarray:
    """``k`` distinct random nodes with car arcs both out and in (seeded)."""
    out_deg = np.diff(csr.indptr)
    in_deg = np.bincount(csr.indices, minlength=csr.shape[0])
    ok = np.flatnonzero((out_deg > 0) & (in_deg > 0))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ok, size=min(k, len(ok)), replace=False))


def resolve_network(name: str) -> Path:
    return NETWORKS.get(name, Path(name))


def run_network(spec: str, counts: list[int], engines: list[Engine], args: argparse.Namespace,
                notes: list[str]) -> list[dict[str, Any]]:
    name = spec
    path = resolve_network(name)
    if not path.is_file():
        msg = f"{name}: {path.relative_to(REPO) if path.is_relative_to(REPO) else path} is missing, skipped"
        if name.startswith("tiles-"):
            msg += f" (build it with `.venv/bin/python bench/scale.py --only {name} --build-only`)"
        print(msg, flush=True)
        notes.append(msg)
        return []
    print(f"{name}: loading {path} ...", flush=True)
    net, load_s = _timed(lambda: Network(load_graph(path)))
    csr = net._arcs["car"].csr
    graph = Graph(csr=csr, lon=np.asarray(net.lon, dtype=float), lat=np.asarray(net.lat, dtype=float))
    notes.append(f"{name}: {graph.n:,} nodes, {csr.nnz:,} car arcs, loaded in {load_s:.1f} s")
    print(f"  {graph.n:,} nodes, {csr.nnz:,} car arcs, load {load_s:.1f} s", flush=True)

    rows: list[dict[str, Any]] = []
    built: dict[str, tuple[Any, float]] = {}
    last: dict[str, tuple[int, float]] = {}  # engine -> (places, query s) of its last run
    for k in sorted(counts):
        places = pick_places(csr, k, args.seed)
        ref: np.ndarray | None = None
        ref_s = np.nan
        for eng in engines:
            row = {"method": eng.name, "network": name, "nodes": graph.n, "places": len(places)}
            if eng.name in last:
                k0, t0 = last[eng.name]
                est = t0 * (len(places) / k0) ** (2 if eng.pairwise else 1)
                if est > args.budget and eng.name != "scipy unbounded":
                    note = f"not run: ~{est:.0f} s estimated from {k0} places (> {args.budget:.0f} s budget)"
                    rows.append(row | {"skip": note})
                    print(f"  {eng.name:16s} {len(places):5d} places: {note}", flush=True)
                    continue
            if eng.name not in built:
                try:
                    built[eng.name] = _timed(lambda eng=eng: eng.build(graph, net))
                except Exception as exc:  # a library that fails to build is a row, not a crash
                    built[eng.name] = (None, np.nan)
                    notes.append(f"{name}: {eng.name} build failed: {type(exc).__name__}: {exc}")
            obj, build_s = built[eng.name]
            if obj is None:
                rows.append(row | {"skip": "build failed"})
                continue
            try:
                mat, query_s = _best_of(lambda eng=eng, obj=obj, places=places:
                                      eng.query(obj, places, args.limit))
            except Exception as exc:
                rows.append(row | {"skip": f"query failed: {type(exc).__name__}: {exc}"})
                print(f"  {eng.name}: query failed: {exc}", flush=True)
                continue
            last[eng.name] = (len(places), query_s)
            if ref is None:  # scipy unbounded runs first
                ref, ref_s = mat, query_s
                off = ~np.eye(len(places), dtype=bool)
                notes.append(f"{name}, {len(places)} places: {np.mean(ref[off] <= args.limit):.1%} of pairs "
                             f"within {args.limit:g} s, longest finite {ref[np.isfinite(ref)].max():,.0f} s")
            mabs, mrel, ok = compare(ref, mat, eng.bounded, args.limit)
            row |= {"build_s": build_s if eng.module else None, "query_s": query_s,
                    "ratio": query_s / ref_s, "max_abs": mabs, "max_rel": mrel, "agrees": ok,
                    "finite": float(np.isfinite(mat).mean())}
            rows.append(row)
            bs = f"{build_s:7.2f}" if eng.module else "      -"
            print(f"  {eng.name:16s} {len(places):5d} places: build {bs} s  query {query_s:8.3f} s  "
                  f"x{query_s / ref_s:6.3f}  max abs {mabs:.2e}  rel {mrel:.1e}  agrees {ok}", flush=True)
            del mat
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024**2:.0f} GB memory"
                break
    except OSError:
        pass
    load = f"; load average at start {os.getloadavg()[0]:.2f}"
    return f"{os.cpu_count()} cores{mem}, {cpu}; Python {platform.python_version()}{load}"


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions(engines: list[Engine], missing: list[str]) -> str:
    import scipy

    out = [f"scipy {scipy.__version__}", f"numpy {np.__version__}"]
    for eng in engines:
        if eng.module:
            out.append(f"{eng.module} {importlib.import_module(eng.module).__version__}")
    out += [f"{m} not installed" for m in missing]
    return ", ".join(out)


def _f(x: Any, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, fmt)


def render(rows: list[dict[str, Any]], notes: list[str], engines: list[Engine], missing: list[str],
           command: str, args: argparse.Namespace) -> str:
    today = dt.date.today().isoformat()
    lines = [
        f"# Travel-time matrix engines, {today}",
        "",
        f"Machine: {machine()}. Commit: `{commit()}`. Libraries: {versions(engines, missing)}. "
        "Single-threaded (OMP/RAYON threads 1).",
        "",
        "Repeat with:",
        "",
        f"    {command}",
        "",
        "| method | network | network nodes | places | build s | query s | ratio to scipy unbounded "
        "| max abs difference s | agrees |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skip" in r:
            head = f"| {r['method']} | {r['network']} | {r['nodes']:,} | {r['places']:,}"
            lines.append(f"{head} | - | - | - | - | {r['skip']} |")
            continue
        head = f"| {r['method']} | {r['network']} | {r['nodes']:,} | {r['places']:,}"
        lines.append(f"{head} | {_f(r['build_s'], '.2f')} | {r['query_s']:.3f} | {r['ratio']:.3f} "
                     f"| {r['max_abs']:.1e} | {r['agrees']} |")
    lines += [
        "",
        "Notes:",
        "",
        f"- Places: random nodes with car arcs in and out, seed {args.seed}; the car graph "
        "(`Network._arcs['car'].csr`, travel seconds, the fastest arc between two nodes) is what every "
        "engine is given. query s: the whole places x places matrix (the fastest of up to 5 runs while they "
        "add up to under 1 s, else one run); build s: "
        "turning the CSR into the library's graph (pandana: building its contraction hierarchy); "
        "scipy needs none beyond `Network`.",
        f"- agrees: equal to `scipy unbounded` to {RTOL:g} relative where finite and `inf` in the same "
        f"cells; for `scipy bounded` (limit {args.limit:g} s) equal wherever the unbounded time is at most "
        "the limit and `inf` elsewhere. max abs difference: over the cells finite in both.",
        f"- A method is run at a larger place count only if its time scaled from the smaller count stays "
        f"under {args.budget:g} s (linearly for one search per place, quadratically for pandana's "
        "per-pair queries).",
    ]
    if any(e.module == "pandana" for e in engines):
        lines.append(
            "- pandana keeps weights as integer thousandths of their unit (each edge truncated, distances "
            "summed in uint32, 4,294,967.295 meaning unreachable), so in seconds it is off by up to "
            "0.001 s an edge. Fed milliseconds instead (a separate try, not in this table) it came to "
            "1.0e-6 relative on Westminster, 100 places, but then no trip may pass 4,295 s.")
    lines.append(
        "- The other libraries are no dependency of the project: `.venv/bin/pip install pandana igraph "
        "networkit rustworkx` brings them (wheels for Python 3.11). pandana pulls in scikit-learn, which "
        "osmnx then imports with `import patrols` (about 0.9 s more start-up here).")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", action="append", metavar="NAME[:N,N]",
                   help="westminster, tiles-9, tiles-30 or a network file, with optional place counts "
                        f"(repeatable; default {' '.join(DEFAULT_NETWORKS)})")
    p.add_argument("--places", help="place counts (comma-separated) for networks given without any")
    p.add_argument("--methods", help="comma-separated subset of: " + ", ".join(SLUG.values()))
    p.add_argument("--limit", type=float, default=1200.0, help="bound of the bounded search, s (1200)")
    p.add_argument("--budget", type=float, default=120.0,
                   help="skip a method at a larger place count when estimated over this, s (120)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="markdown file (default bench/results/travel-engines-<date>.md)")
    args = p.parse_args(argv)

    engines, missing = [], []
    wanted = set(args.methods.split(",")) if args.methods else None
    for eng in ENGINES:
        if wanted is not None and SLUG[eng.name] not in wanted and eng.name != "scipy unbounded":
            continue
        if eng.module:
            try:
                importlib.import_module(eng.module)
            except ImportError as exc:
                missing.append(eng.module)
                print(f"{eng.name}: not importable ({exc}), skipped", flush=True)
                continue
        engines.append(eng)

    specs = args.network or DEFAULT_NETWORKS
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for spec in specs:
        name, _, cnt = spec.partition(":")
        counts_s = cnt or args.places or "100"
        counts = [int(c) for c in counts_s.split(",") if c]
        rows += run_network(name, counts, engines, args, notes)

    command = ".venv/bin/python bench/travel_engines.py" + (" " + shlex.join(argv if argv is not None
                                                                          else sys.argv[1:])).rstrip()
    text = render(rows, notes, engines, missing, command.rstrip(), args)
    out = args.out or BENCH / "results" / f"travel-engines-{dt.date.today().isoformat()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
