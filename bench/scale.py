"""Plan a week on areas of growing size with the real CLI and table the cost.

Usage::

    python bench/scale.py [--tiles 1,9,30] [--skip-rutland] [--only NAME] [--time-limit S]
                          [--work DIR] [--out DIR] [--build-only]

Areas (built once into the work folder, default ``bench/work/scale/<name>/``,
and reused while their build parameters are unchanged):

- ``westminster``: the bundled demo area as it is (the baseline row).
- ``tiles-N``: Westminster's OSMnx drive network copied N times side by side on
  a grid of ceil(sqrt(N)) columns and joined across every seam between
  neighbouring copies by 10-20 two-way ``residential`` links; about 33,000
  synthetic clustered incidents a copy for the year before the week; the three
  Westminster stations in each copy; ``max(1, round(3 / N))`` units a copy on
  each of early, late and night, every day (3 a shift at 1 copy, 9 at 9, 30 at
  30); min(20 N, 600) synthetic sites from :mod:`patrols.synthetic`.
- ``rutland``: the Geofabrik Rutland extract read straight from its PBF, the
  two police stations, 6,000 synthetic incidents, 36 synthetic sites and 10
  units a shift.

Each area is planned by ``/usr/bin/time -v patrols plan`` in a subprocess (so
its peak memory is its own); the proportional memory of its whole process tree
(the planner and its day workers) is sampled beside it. A failed build or run
is a row carrying its error's last line. Rows go to
``bench/results/scale-<date>.md`` and ``.jsonl``; rows of the same area and
date from an earlier invocation are replaced, others kept.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from patrols.synthetic import incidents_around, synthetic_incidents

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WEEK = dt.date(2018, 7, 2)
PLAN_SEED = 0
WESTMINSTER = REPO / "data" / "westminster"
WESTMINSTER_AREA = WESTMINSTER / "area.toml"
WESTMINSTER_GRAPHML = WESTMINSTER / "westminster_drive_osmnx.graphml"
RUTLAND_PBF = REPO / "data" / "rutland" / "rutland-latest.osm.pbf"  # the whole county
# (station_id, name, lat, lon): Oakham, and the second station the issue named by position.
RUTLAND_STATIONS = (("OAK", "Oakham Police Station", 52.67280, -0.72860),
                    ("RU2", "Rutland police station 2 (position as given in the issue)", 52.71294, -0.65958))
PATROLS = REPO / ".venv" / "bin" / "patrols"
SHIFTS = ("early", "late", "night")

# The synthetic data's scale: Westminster-like incidents a copy a year, sites a copy.
INCIDENTS_PER_TILE = 33_000
SITES_PER_TILE = 20
SITES_CAP = 600
RUTLAND_INCIDENTS = 6_000
RUTLAND_SITES = 36
RUTLAND_UNITS_A_SHIFT = 10
# Copies are laid out with this gap (degrees) between their bounding boxes, node ids
# offset by copy * ID_STEP (OSM node ids are below 2e10).
TILE_GAP_DEG = 0.002
ID_STEP = 10**11
SEAM_BINS = 15          # a seam is cut into this many stretches, one link in each that has nodes
SEAM_MIN_LINKS = 10
SEAM_BAND = 0.3         # share of a copy's width/height searched for seam nodes on each side
M_PER_DEG = 111_320.0

SITES_NOTE = """# Synthetic data (bench/scale.py)

Every protected site in `sites.csv` is SYNTHETIC, made by `patrols.synthetic.synthetic_sites`
(the procedure of the demo's `data/westminster/SITES.md`) on this area's own network. The
incidents in `incidents.csv.gz` are synthetic too: clustered points drawn around random
network nodes, not police records. Nothing here describes a real person or crime.
"""


# ------------------------------------------------------------------------------------------ helpers

def _say(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _area_toml(name: str, network: str, comment: str) -> str:
    # [defaults] time_limit_s is not set: the product default applies (or --time-limit on the CLI).
    return (f"# {comment}\n# Made by bench/scale.py; every site and incident is SYNTHETIC (see SITES.md).\n"
            f"name = {json.dumps(name)}\n"
            f"network = {json.dumps(network)}\n"
            'stations = "police_stations.csv"\n'
            'units = "units.csv"\n'
            'sites = "sites.csv"                 # SYNTHETIC sites: see SITES.md\n'
            'incidents = ["incidents.csv.gz"]    # SYNTHETIC incidents\n')


def _write_incidents(path: Path, parts: list[Any]) -> int:
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True)
    tmp = path.with_suffix(".tmp.gz")
    frame.to_csv(tmp, index=False, compression={"method": "gzip", "compresslevel": 6}, float_format="%.6f")
    os.replace(tmp, path)
    return len(frame)


def _sites(graphml_or_pbf: Path, n: int, seed: int) -> tuple[list[dict[str, str]], Any]:
    """Synthetic sites on the network exactly as the planner will load it."""
    from patrols.network import Network, load_graph
    from patrols.synthetic import synthetic_sites

    network = Network(load_graph(graphml_or_pbf, cache_dir=False))
    return synthetic_sites(network, n, seed), network


# --------------------------------------------------------------------------------------- tiled areas

def tile_units(n_tiles: int, stations: list[list[str]]) -> list[dict[str, str]]:
    """``max(1, round(3 / N))`` units a copy on each shift, every day.

    Unit ``i`` of copy ``t`` on the s-th shift (early, late, night) sits at the
    copy's station ``(i + s) mod 3``; night units are cars, early and late ones
    cars when ``t + i`` is even, else on foot.
    """
    per_tile = max(1, round(3 / n_tiles))
    rows = []
    for t in range(n_tiles):
        for s, shift in enumerate(SHIFTS):
            for i in range(per_tile):
                mode = "car" if shift == "night" or (t + i) % 2 == 0 else "foot"
                station = stations[t][(i + s) % len(stations[t])]
                rows.append({"unit_id": f"T{t:02d}-{shift[0].upper()}{i + 1}-{mode[0].upper()}",
                             "mode": mode, "station_id": station, "shift": shift, "days": "all"})
    return rows


def _seam_links(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray],
                horizontal: bool, lat0: float) -> list[tuple[int, int, float]]:
    """Node pairs joining copy ``a`` to its neighbour ``b`` (to its right, or above it).

    The seam is cut into ``SEAM_BINS`` stretches; in each stretch where both
    sides have nodes near the seam, the nearest pair is linked. Returns
    ``(node_a, node_b, metres)``, at least ``SEAM_MIN_LINKS`` of them.
    """
    ida, xa, ya = a
    idb, xb, yb = b
    kx = M_PER_DEG * math.cos(math.radians(lat0))
    # Along-seam and across-seam coordinates.
    along_a, across_a = (ya, xa) if horizontal else (xa, ya)
    along_b, across_b = (yb, xb) if horizontal else (xb, yb)
    span_a = across_a.max() - across_a.min()
    near_a = across_a >= across_a.max() - SEAM_BAND * span_a
    near_b = across_b <= across_b.min() + SEAM_BAND * span_a
    ia, ib = np.flatnonzero(near_a), np.flatnonzero(near_b)

    def dist(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return np.hypot((xa[i][:, None] - xb[j][None, :]) * kx, (ya[i][:, None] - yb[j][None, :]) * M_PER_DEG)

    lo = min(along_a[ia].min(), along_b[ib].min())
    hi = max(along_a[ia].max(), along_b[ib].max())
    edges = np.linspace(lo, hi, SEAM_BINS + 1)
    links: dict[tuple[int, int], float] = {}
    for k in range(SEAM_BINS):
        sa = ia[(along_a[ia] >= edges[k]) & (along_a[ia] <= edges[k + 1])]
        sb = ib[(along_b[ib] >= edges[k]) & (along_b[ib] <= edges[k + 1])]
        if len(sa) and len(sb):
            d = dist(sa, sb)
            r, c = np.unravel_index(np.argmin(d), d.shape)
            links[(int(sa[r]), int(sb[c]))] = float(d[r, c])
    if len(links) < SEAM_MIN_LINKS:  # an irregular outline: fill with the nearest other pairs
        d = dist(ia, ib)
        used_a = {p[0] for p in links}
        used_b = {p[1] for p in links}
        for flat in np.argsort(d, axis=None):
            r, c = np.unravel_index(flat, d.shape)
            pa, pb = int(ia[r]), int(ib[c])
            if pa not in used_a and pb not in used_b:
                links[(pa, pb)] = float(d[r, c])
                used_a.add(pa)
                used_b.add(pb)
                if len(links) >= SEAM_MIN_LINKS:
                    break
    return [(int(ida[p]), int(idb[q]), m) for (p, q), m in links.items()]


def build_tiles(n: int, folder: Path, seed: int) -> dict[str, Any]:
    """Write the ``tiles-N`` area into ``folder``; returns the build figures."""
    import networkx as nx
    import osmnx as ox
    import shapely
    from shapely import LineString

    times: dict[str, float] = {}
    began = time.perf_counter()
    base = ox.load_graphml(WESTMINSTER_GRAPHML)
    base_nodes = list(base.nodes(data=True))
    base_edges = list(base.edges(keys=True, data=True))
    bx = np.array([d["x"] for _, d in base_nodes])
    by = np.array([d["y"] for _, d in base_nodes])
    width, height = bx.max() - bx.min(), by.max() - by.min()
    cols = math.ceil(math.sqrt(n))
    offsets = [((c % cols) * (width + TILE_GAP_DEG), (c // cols) * (height + TILE_GAP_DEG)) for c in range(n)]
    with_geom = [i for i, (*_, d) in enumerate(base_edges) if d.get("geometry") is not None]
    geoms = np.array([base_edges[i][3]["geometry"] for i in with_geom], dtype=object)
    # Seam nodes come from the part cars can drive both ways, so links really join the copies.
    core = max(nx.strongly_connected_components(base), key=len)
    core_ids = np.array([u for u, _ in base_nodes if u in core], dtype=np.int64)
    core_x = np.array([base.nodes[u]["x"] for u in core_ids])
    core_y = np.array([base.nodes[u]["y"] for u in core_ids])

    graph = nx.MultiDiGraph(**base.graph)
    for c, (dx, dy) in enumerate(offsets):
        off = c * ID_STEP
        graph.add_nodes_from((u + off, {**d, "x": round(d["x"] + dx, 7), "y": round(d["y"] + dy, 7)})
                             for u, d in base_nodes)
        moved = shapely.transform(geoms, lambda xy, dx=dx, dy=dy: xy + np.array([dx, dy]))
        new_geom = dict(zip(with_geom, moved, strict=True))
        graph.add_edges_from(
            (u + off, v + off, k, {**d, "geometry": new_geom[i]} if i in new_geom else dict(d))
            for i, (u, v, k, d) in enumerate(base_edges))
    seam_links = 0
    lat0 = float(np.median(by))
    for c in range(n):
        for other, horizontal in ((c + 1, True), (c + cols, False)):
            if other >= n or (horizontal and other // cols != c // cols):
                continue
            (dxa, dya), (dxb, dyb) = offsets[c], offsets[other]
            links = _seam_links((core_ids + c * ID_STEP, core_x + dxa, core_y + dya),
                                (core_ids + other * ID_STEP, core_x + dxb, core_y + dyb), horizontal, lat0)
            for u, v, _ in links:
                pu, pv = graph.nodes[u], graph.nodes[v]
                metres = float(ox.distance.great_circle(pu["y"], pu["x"], pv["y"], pv["x"]))
                for a, b in ((u, v), (v, u)):
                    pa, pb = graph.nodes[a], graph.nodes[b]
                    graph.add_edge(a, b, highway="residential", oneway=False, reversed=False,
                                   length=round(metres, 3), name="scale seam link",
                                   geometry=LineString([(pa["x"], pa["y"]), (pb["x"], pb["y"])]))
            seam_links += len(links)
    times["graph_s"] = time.perf_counter() - began

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    graphml = folder / "network.graphml"
    ox.save_graphml(graph, graphml)
    times["save_graphml_s"] = time.perf_counter() - t0

    # Stations: Westminster's three, moved with each copy.
    with (WESTMINSTER / "police_stations.csv").open(encoding="utf-8", newline="") as fh:
        base_stations = list(csv.DictReader(fh))
    station_rows, stations = [], []
    for c, (dx, dy) in enumerate(offsets):
        ids = []
        for s in base_stations:
            sid = f"T{c:02d}-{s['station_id']}"
            ids.append(sid)
            station_rows.append({"station_id": sid, "name": f"{s['name']} (copy {c})",
                                 "lat": f"{float(s['lat']) + dy:.6f}", "lon": f"{float(s['lon']) + dx:.6f}"})
        stations.append(ids)
    _write_csv(folder / "police_stations.csv", ["station_id", "name", "lat", "lon"], station_rows)
    units = tile_units(n, stations)
    _write_csv(folder / "units.csv", ["unit_id", "mode", "station_id", "shift", "days"], units)

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    parts = [incidents_around(bx + dx, by + dy, INCIDENTS_PER_TILE, rng, WEEK, f"T{c:02d}-")
             for c, (dx, dy) in enumerate(offsets)]
    incidents = _write_incidents(folder / "incidents.csv.gz", parts)
    del parts
    times["incidents_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_sites = min(SITES_PER_TILE * n, SITES_CAP)
    from patrols.synthetic import sites_csv

    rows, network = _sites(graphml, n_sites, seed)
    (folder / "sites.csv").write_text(sites_csv(rows), encoding="utf-8")
    (folder / "SITES.md").write_text(SITES_NOTE, encoding="utf-8")
    times["sites_s"] = time.perf_counter() - t0
    (folder / "area.toml").write_text(_area_toml(
        f"Scale tiles-{n}: {n} joined copies of Westminster", "network.graphml",
        f"{n} copies of the Westminster drive network on a {cols}-column grid, joined across each seam."),
        encoding="utf-8")
    return {
        "graph_nodes": graph.number_of_nodes(), "graph_edges": graph.number_of_edges(),
        "seam_links": seam_links, "network_nodes": len(network.node_ids), "incidents": incidents,
        "sites": len(rows), "units": len(units),
        "units_a_shift": {s: sum(1 for u in units if u["shift"] == s) for s in SHIFTS},
        "graphml_mb": round(graphml.stat().st_size / 1e6, 1),
        "steps_s": {k: round(v, 1) for k, v in times.items()},
    }


def build_rutland(folder: Path, seed: int) -> dict[str, Any]:
    """Write the ``rutland`` area (network read from the PBF) into ``folder``."""
    times: dict[str, float] = {}
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "police_stations.csv", ["station_id", "name", "lat", "lon"],
               [{"station_id": s, "name": name, "lat": f"{lat:.5f}", "lon": f"{lon:.5f}"}
                for s, name, lat, lon in RUTLAND_STATIONS])
    units = []
    for shift in SHIFTS:
        for i in range(RUTLAND_UNITS_A_SHIFT):
            mode = "car" if shift == "night" or i % 2 == 0 else "foot"
            station = RUTLAND_STATIONS[i % 2][0]
            units.append({"unit_id": f"R-{shift[0].upper()}{i + 1:02d}-{mode[0].upper()}", "mode": mode,
                          "station_id": station, "shift": shift, "days": "all"})
    _write_csv(folder / "units.csv", ["unit_id", "mode", "station_id", "shift", "days"], units)
    from patrols.synthetic import sites_csv

    t0 = time.perf_counter()
    rows, network = _sites(RUTLAND_PBF, RUTLAND_SITES, seed)
    times["network_and_sites_s"] = time.perf_counter() - t0
    (folder / "sites.csv").write_text(sites_csv(rows), encoding="utf-8")
    (folder / "SITES.md").write_text(SITES_NOTE, encoding="utf-8")
    t0 = time.perf_counter()
    part = synthetic_incidents(network, RUTLAND_INCIDENTS, seed, WEEK, "R-")
    incidents = _write_incidents(folder / "incidents.csv.gz", [part])
    times["incidents_s"] = time.perf_counter() - t0
    (folder / "area.toml").write_text(_area_toml(
        "Scale rutland: Rutland from its OSM PBF", str(RUTLAND_PBF),
        "Rutland, network read straight from the Geofabrik PBF extract."), encoding="utf-8")
    return {"network_nodes": len(network.node_ids), "incidents": incidents, "sites": len(rows),
            "units": len(units), "units_a_shift": {s: RUTLAND_UNITS_A_SHIFT for s in SHIFTS},
            "steps_s": {k: round(v, 1) for k, v in times.items()}}


def build(name: str, folder: Path, seed: int) -> tuple[Path, dict[str, Any]]:
    """The area's TOML, building it first unless an identical build is cached."""
    if name == "westminster":
        return WESTMINSTER_AREA, {"cached": True, "note": "the bundled demo area"}
    params = {"name": name, "seed": seed, "incidents_per_tile": INCIDENTS_PER_TILE,
              "sites_per_tile": SITES_PER_TILE, "sites_cap": SITES_CAP, "version": 1}
    stamp = folder / "build.json"
    toml = folder / "area.toml"
    if toml.is_file() and stamp.is_file():
        info = json.loads(stamp.read_text(encoding="utf-8"))
        if info.get("params") == params:
            return toml, {**info, "cached": True}
    toml.unlink(missing_ok=True)
    _say(f"building {name} in {folder}")
    began = time.perf_counter()
    if name == "rutland":
        figures = build_rutland(folder, seed)
    else:
        figures = build_tiles(int(name.split("-", 1)[1]), folder, seed)
    info = {"params": params, **figures, "build_s": round(time.perf_counter() - began, 1)}
    stamp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    _say(f"built {name} in {info['build_s']} s: {json.dumps({k: v for k, v in figures.items()})}")
    return toml, {**info, "cached": False}


# ------------------------------------------------------------------------------------------- running

class TreeMemory(threading.Thread):
    """Samples the proportional set size (PSS) summed over a process and all its descendants."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.peak_kb = 0
        self.stop = threading.Event()

    def tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        out, stack = [], [self.pid]
        while stack:
            p = stack.pop()
            out.append(p)
            stack.extend(children.get(p, ()))
        return out

    @staticmethod
    def _pss_kb(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(self._pss_kb(p) for p in self.tree()))
            self.stop.wait(self.every_s)


LOADED = re.compile(r"^loaded .*: (\d+) nodes, (\d+) incidents, (\d+) sites, (\d+) units, (\d+) events "
                    r"\(([\d.]+) s\)", re.M)


def _split_time_output(stderr: str) -> tuple[str, dict[str, str]]:
    """The command's own stderr and the ``/usr/bin/time -v`` fields."""
    lines = stderr.splitlines()
    cut = next((i for i, line in enumerate(lines)
                if line.startswith("Command exited with non-zero status")
                or line.strip().startswith("Command being timed:")), len(lines))
    fields = {}
    for line in lines[cut:]:
        if ": " in line:
            key, value = line.strip().rsplit(": ", 1)
            fields[key] = value
    return "\n".join(lines[:cut]), fields


def plan(name: str, toml: Path, out: Path, time_limit: float | None, timeout: float | None) -> dict[str, Any]:
    """Run ``patrols plan`` on one area; the figures of the run (or its error)."""
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["/usr/bin/time", "-v", str(PATROLS), "plan", "--area", str(toml), "--week", WEEK.isoformat(),
           "--out", str(out), "--seed", str(PLAN_SEED)]
    if time_limit is not None:
        cmd += ["--time-limit", f"{time_limit:g}"]
    # No graph cache: the network is read cold on every run.
    cache = out.parent / "xdg-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PATROLS_GRAPH_CACHE": "off"}
    rec: dict[str, Any] = {"command": shlex.join(cmd[2:]).replace(str(REPO) + "/", "")}
    _say(f"planning {name}: {rec['command']}")
    log = out.parent / "plan.stderr.log"
    lines: list[tuple[float, str]] = []
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True, encoding="utf-8", errors="replace")
    # Each stderr line is kept with the second it arrived, to time the stretches `timing` leaves out.
    reader = threading.Thread(target=lambda: lines.extend((time.perf_counter() - began, line.rstrip("\n"))
                                                          for line in proc.stderr), daemon=True)
    reader.start()
    sampler = TreeMemory(proc.pid)
    sampler.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # /usr/bin/time and everything under it (found before any is killed and re-parented).
        for pid in reversed(sampler.tree()):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        rc = proc.wait()
        rec["error"] = f"timed out after {timeout:g} s"
    finally:
        sampler.stop.set()
        sampler.join()
        reader.join(timeout=30)
    rec["wall_s"] = round(time.perf_counter() - began, 1)
    rec["returncode"] = rc
    rec["tree_pss_gb"] = round(sampler.peak_kb / 1024**2, 2)
    log.write_text("".join(f"[{t:8.1f} s] {line}\n" for t, line in lines), encoding="utf-8")
    own, fields = _split_time_output("\n".join(line for _, line in lines))
    # When the CLI's progress lines arrived (seconds from the start of the run).
    marks = {}
    for t, line in lines:
        for key, pattern in (("loaded", r"^loaded "), ("hotspots", r"^\d+ hotspots"), ("solved", r"^solved "),
                             ("wrote", r"^wrote ")):
            if re.match(pattern, line):
                marks[key] = round(t, 1)
    rec["stderr_at_s"] = marks
    if "solved" in marks and "wrote" in marks:
        rec["solved_to_written_s"] = round(marks["wrote"] - marks["solved"], 1)
    if "Maximum resident set size (kbytes)" in fields:
        rec["peak_rss_gb"] = round(int(fields["Maximum resident set size (kbytes)"]) / 1024**2, 2)
    m = LOADED.search(own)
    if m:
        rec.update(nodes=int(m[1]), incidents=int(m[2]), sites=int(m[3]), units=int(m[4]), events=int(m[5]),
                   load_s=float(m[6]))
    if rc != 0 and "error" not in rec:
        last = [line for line in own.splitlines() if line.strip()]
        rec["error"] = last[-1].strip() if last else f"exit status {rc}"
    summary_path = out / "summary.json"
    if rc == 0 and summary_path.is_file():
        s = json.loads(summary_path.read_text(encoding="utf-8"))
        rec["timing"] = s.get("timing", {})
        rec["solve_seconds"] = s.get("solve_seconds")
        rec["time_limit_s"] = s.get("time_limit_s")
        rec["unit_shifts"] = s.get("unit_shifts")
        prot = s.get("protective", {})
        rec["protective"] = {"required": prot.get("required_visits"), "planned": prot.get("planned_visits"),
                             "unserved": len(prot.get("unserved", []))}
        hot = s.get("hotspots", {})
        rec["hotspots"] = {k: hot.get(k) for k in ("candidates", "planned_visits", "harm_covered_share")}
        routes = s.get("routes", {})
        rec["empty_unit_shifts"] = routes.get("empty_unit_shifts")
        rec["routes_km"] = routes.get("km")
    page = out / "map.html"
    if page.is_file():
        rec["map_mb"] = round(page.stat().st_size / 1e6, 2)
        rec.update(map_load(page))
    shutil.rmtree(cache, ignore_errors=True)
    return rec


_BROWSER: Any = None


def _browser_module() -> Any:
    """The project's Chromium-over-DevTools harness (``tests/test_browser_map.py``)."""
    global _BROWSER
    if _BROWSER is None:
        path = REPO / "tests" / "test_browser_map.py"
        spec = importlib.util.spec_from_file_location("patrols_browser_map", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _BROWSER = module
    return _BROWSER


def map_load(page: Path) -> dict[str, Any]:
    """Seconds from opening map.html (offline headless Chromium) until the page says it is ready."""
    try:
        module = _browser_module()
        binary = module.find_chromium()
    except Exception as exc:  # the harness could not be imported
        return {"map_load_note": f"browser harness unavailable: {exc}".splitlines()[0]}
    if binary is None:
        return {"map_load_note": "no Chromium installed (set $CHROMIUM to measure map load)"}
    try:
        browser = module.Browser(binary, 1400, 900)
        try:
            took = browser.open(page, timeout=600.0)
            built = browser.evaluate("window.patrolsMap && window.patrolsMap.builtMs")
            return {"map_load_s": round(took, 2),
                    "map_script_ms": round(built) if isinstance(built, (int, float)) else built,
                    "map_problems": browser.problems()[:5]}
        finally:
            browser.close()
    except Exception as exc:
        return {"map_load_note": f"map load failed: {exc}".splitlines()[0]}


# ------------------------------------------------------------------------------------------- report

def _sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """nproc, total memory (free -g), CPU model, git commit."""
    mem = next((line.split()[1] for line in _sh("free", "-g").splitlines() if line.startswith("Mem:")), "?")
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    commit = _sh("git", "rev-parse", "--short", "HEAD") or "?"
    if _sh("git", "status", "--porcelain"):
        commit += " + uncommitted changes"
    return {"nproc": _sh("nproc"), "mem_gb": mem, "cpu": cpu, "commit": commit,
            "python": platform.python_version()}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _order(name: str) -> tuple[int, int]:
    if name == "westminster":
        return (0, 0)
    if name.startswith("tiles-"):
        return (1, int(name.split("-", 1)[1]))
    return (2, 0)


COLUMNS = ("area", "nodes", "incidents", "sites", "units a shift", "unit-shifts", "candidates", "wall s",
           "load s", "hotspots s", "travel times s", "solve s", "routes s", "solved→written s", "peak GB",
           "tree GB",
           "unserved / required", "empty unit-shifts", "routes km", "map MB", "map load s")


def _row(r: dict[str, Any]) -> list[str]:
    t = r.get("timing") or {}
    prot = r.get("protective") or {}
    shifts = r.get("units_a_shift") or {}
    # Unit-shifts of the week over its 7 x 3 shifts; before a run, the units built per shift.
    per_shift = (r["unit_shifts"] / (7 * len(SHIFTS)) if r.get("unit_shifts")
                 else (sum(shifts.values()) / len(shifts) if shifts else None))
    unserved = f"{prot['unserved']:,} / {prot['required']:,}" if prot.get("required") is not None else "–"
    return [
        r["area"], _fmt(r.get("nodes")), _fmt(r.get("incidents")), _fmt(r.get("sites")),
        _fmt(round(per_shift, 1) if per_shift is not None else None), _fmt(r.get("unit_shifts")),
        _fmt((r.get("hotspots") or {}).get("candidates")), _fmt(r.get("wall_s")), _fmt(r.get("load_s")),
        _fmt(t.get("hotspots_s")), _fmt(t.get("travel_times_s")), _fmt(t.get("solve_wall_s")),
        _fmt(t.get("routes_s")), _fmt(r.get("solved_to_written_s")),
        _fmt(r.get("peak_rss_gb"), 2), _fmt(r.get("tree_pss_gb"), 2), unserved,
        _fmt(r.get("empty_unit_shifts")), _fmt(r.get("routes_km")), _fmt(r.get("map_mb"), 2),
        _fmt(r.get("map_load_s"), 2),
    ]


def write_report(records: list[dict[str, Any]], md: Path, day: str) -> None:
    """The markdown table of every record of the day."""
    records = sorted(records, key=lambda r: _order(r["area"]))
    machines = {json.dumps(r["machine"], sort_keys=True) for r in records}
    lines = [f"# Planning at scale, {day}", ""]
    for m in sorted(machines):
        m = json.loads(m)
        lines.append(f"Machine: {m['nproc']} cores (`nproc`), {m['mem_gb']} GB memory (`free -g`), "
                     f"{m['cpu']}; Python {m['python']}. Commit: `{m['commit']}`.")
    lines += ["", "Repeat with (the harness; it plans each area with the command in the notes below):", ""]
    for cmd in dict.fromkeys(r["harness_command"] for r in records):
        lines.append(f"    {cmd}")
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in records]
    lines += ["", "Notes:", ""]
    for r in records:
        bits = [f"`{r['command']}`"] if r.get("command") else []
        if r.get("error"):
            bits.append(f"**failed**: {r['error']}")
        if r.get("build", {}).get("note"):
            bits.append(r["build"]["note"])
        elif r.get("build"):
            b = r["build"]
            built = "cached build" if b.get("cached") else "built"
            extra = ", ".join(f"{k} {b[k]}" for k in ("graph_nodes", "seam_links", "build_s", "graphml_mb")
                              if k in b)
            bits.append(f"{built}{': ' + extra if extra else ''}")
        if r.get("map_load_note"):
            bits.append(f"map load: {r['map_load_note']}")
        if r.get("map_problems"):
            bits.append(f"map problems: {r['map_problems']}")
        lines.append(f"- {r['area']}: " + "; ".join(bits))
    lines += ["",
              "wall s: the whole `patrols plan` run; load s: reading the area (network, incidents) as "
              "the CLI reports it; hotspots/travel times/solve/routes s: `summary.json` `timing`; "
              "solved→written s: from the CLI's `solved` line to its `wrote` line (routes, baseline, "
              "shortfall, writing the bundle). "
              "peak GB: the largest single process (`/usr/bin/time -v` maximum RSS); tree GB: peak "
              "proportional memory (PSS) of the planner and its day workers together, sampled every "
              "0.5 s. nodes: the routable network (long streets split) from the CLI's `loaded` line. "
              "A network built from an OSM file is read cold on each run (empty `XDG_CACHE_HOME`). "
              "See bench/README_scale.md.", ""]
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, md)


def save(record: dict[str, Any], out: Path, day: str) -> Path:
    """Merge a record into the day's JSON lines (replacing the same area) and rewrite the table."""
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / f"scale-{day}.jsonl"
    records = []
    if jsonl.is_file():
        text = jsonl.read_text(encoding="utf-8")
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    records = [r for r in records if r["area"] != record["area"]] + [record]
    records.sort(key=lambda r: _order(r["area"]))
    tmp = jsonl.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, jsonl)
    md = out / f"scale-{day}.md"
    write_report(records, md, day)
    return md


# ---------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", "--sizes", default="1,9,30",
                        help="numbers of Westminster copies, comma-separated (default 1,9,30)")
    parser.add_argument("--skip-rutland", action="store_true", help="leave out the Rutland PBF area")
    parser.add_argument("--only", action="append", default=[],
                        help="run only this area (westminster, tiles-N, rutland); may repeat")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="passed to patrols plan (default: each area's own, i.e. the product default)")
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "scale",
                        help="work folder of the built areas and plan bundles (default bench/work/scale)")
    parser.add_argument("--out", type=Path, default=BENCH / "results",
                        help="folder of scale-<date>.md and .jsonl (default bench/results)")
    parser.add_argument("--seed", type=int, default=2018, help="seed of the synthetic data (default 2018)")
    parser.add_argument("--timeout", type=float, default=None, help="give up a plan after this many seconds")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the areas, plan nothing")
    args = parser.parse_args(argv)

    names = ["westminster"] + [f"tiles-{int(t)}" for t in args.tiles.split(",") if t.strip()]
    if not args.skip_rutland:
        names.append("rutland")
    if args.only:
        wanted = [n.strip() for o in args.only for n in o.split(",") if n.strip()]
        bad = [n for n in wanted if not re.fullmatch(r"westminster|rutland|tiles-[1-9]\d*", n)]
        if bad:
            parser.error(f"unknown area(s) {', '.join(bad)} (westminster, tiles-N, rutland)")
        names = wanted
    names = list(dict.fromkeys(names))
    day = dt.date.today().isoformat()
    mach = machine()
    harness = shlex.join([".venv/bin/python", "bench/scale.py", *(sys.argv[1:] if argv is None else argv)])
    md = None
    for name in names:
        folder = args.work / name
        record: dict[str, Any] = {"area": name, "date": day, "machine": mach, "harness_command": harness}
        try:
            toml, info = build(name, folder, args.seed)
            record["build"] = {k: v for k, v in info.items() if k != "params"}
            for key in ("incidents", "sites", "units_a_shift"):
                if key in info:
                    record[key] = info[key]
        except Exception as exc:
            (folder / "build.error.log").parent.mkdir(parents=True, exist_ok=True)
            (folder / "build.error.log").write_text(traceback.format_exc(), encoding="utf-8")
            last = f"{type(exc).__name__}: {exc}".strip().splitlines()
            record["error"] = f"build failed: {last[-1] if last else type(exc).__name__}"
            _say(f"{name}: {record['error']}")
            if not args.build_only:
                md = save(record, args.out, day)
            continue
        if args.build_only:
            _say(f"{name}: {json.dumps(record['build'])}")
            continue
        try:
            record.update(plan(name, toml, folder / "plan", args.time_limit, args.timeout))
        except Exception as exc:  # the harness itself must not die on one area
            record["error"] = f"harness: {type(exc).__name__}: {exc}".splitlines()[0]
        if name == "westminster":
            record["units_a_shift"] = _westminster_units()
        _say(f"{name}: wall {record.get('wall_s')} s, peak {record.get('peak_rss_gb')} GB"
             + (f", FAILED: {record['error']}" if record.get("error") else ""))
        md = save(record, args.out, day)
    if md is not None:
        print(md.read_text(encoding="utf-8"))
    return 0


def _westminster_units() -> dict[str, int]:
    """Units on each shift in the demo (some work only some days)."""
    doc = tomllib.loads(WESTMINSTER_AREA.read_text(encoding="utf-8"))
    with (WESTMINSTER / doc["units"]).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {s: sum(1 for u in rows if u["shift"] == s) for s in SHIFTS}


if __name__ == "__main__":
    sys.exit(main())
