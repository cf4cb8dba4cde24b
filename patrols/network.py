"""Road networks: loading, travel times per mode, snapping, matrices and paths.

A ``Network`` wraps an OSMnx-style graph with what planning needs:

- a compressed sparse graph per travel mode: cars on the edges a car may use,
  following one-way rules at OSMnx speeds; foot patrols on the edges people
  walk, both ways, at a set pace. Where the graph carries OSMnx-filter flags
  (``car``/``foot`` edge attributes, as :mod:`patrols.osm` writes them from a
  PBF or OSM XML holding every way), those decide; a drive-only graph (an
  OSMnx ``drive`` GraphML) has no walking network, so foot patrols fall back to
  walking its streets both ways, motorways excepted;
- long streets split into equal parts of at most ``max_edge_m``, so a point
  snaps to a network node within half that distance along its street;
- a spatial index of the streets per mode for snapping;
- many-to-many travel times by ``scipy.sparse.csgraph`` Dijkstra, in batches
  of sources so memory stays bounded, and street paths by a Dijkstra search
  bounded by the leg's known travel time.

Everything is built from flat numpy arrays in vectorised steps; the only
per-edge Python loops read the graph's attributes once and split long streets,
both linear in the network's size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
import shapely
import shapely.ops
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from shapely import LineString, STRtree, points
from shapely.geometry.base import BaseGeometry

from patrols import defaults
from patrols.errors import InputError
from patrols.graph_cache import cached_graph
from patrols.osm import buffered, read_osm_graph

MODES = ("car", "foot")
# Ways a car cannot use, and ways nobody walks, when a graph carries no mode flags.
_NOT_FOR_CARS = {
    "footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "corridor",
    "elevator", "platform", "track", "escalator", "busway", "bus_guideway",
}
_NOT_FOR_FEET = {"motorway", "motorway_link"}
# Sources per Dijkstra call in a many-to-many matrix: bounds the dense block
# (sources x nodes) to about 100 MB at 100,000 nodes.
_MATRIX_BATCH = 128
_OSM_SUFFIXES = (".osm", ".osm.bz2", ".xml", ".osm.xml", ".osm.pbf", ".pbf")


def load_graph(path: str | Path, *, boundary: BaseGeometry | None = None,
               buffer_m: float = defaults.BOUNDARY_BUFFER_M,
               cache_dir: str | Path | bool | None = None) -> nx.MultiDiGraph:
    """Read a street graph from GraphML (OSMnx), OSM XML or an OSM PBF extract.

    Parameters
    ----------
    path
        The network file named by the area: ``.graphml``, ``.osm``,
        ``.osm.bz2`` or ``.osm.pbf``.
    boundary
        Optional shapely (Multi)Polygon (EPSG:4326): the graph is clipped to it,
        buffered by ``buffer_m`` so routes may leave and re-enter it.
    buffer_m
        The buffer around ``boundary`` in metres.
    cache_dir
        Where the graph read is cached (:mod:`patrols.graph_cache`: beside the
        file when that may be written); ``False`` turns the cache off.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (EPSG:4326) OSMnx graph. From an OSM file its edges carry
        ``car`` and ``foot`` flags (OSMnx's ``drive`` and ``walk`` filters).
    """
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise InputError(path, "network file not found")
    try:
        if name.endswith(".graphml"):
            def build() -> nx.MultiDiGraph:
                graph = ox.load_graphml(path)
                return graph if boundary is None else _clip(graph, boundary, buffer_m, path)

            graph = cached_graph(path, build, boundary=boundary, buffer_m=buffer_m, cache_dir=cache_dir,
                                 kind="graphml")
        elif name.endswith(_OSM_SUFFIXES):
            graph = read_osm_graph(path, boundary=boundary, buffer_m=buffer_m, cache_dir=cache_dir)
        else:
            raise InputError(path, "unknown network format (use .graphml, .osm, .osm.bz2 or .osm.pbf)")
    except InputError:
        raise
    except Exception as exc:  # any parser failure is the file's fault
        raise InputError(path, f"cannot read network: {exc}".splitlines()[0]) from None
    if graph.number_of_edges() == 0:
        raise InputError(path, "network has no streets" + (" inside the boundary" if boundary else ""))
    return graph


def _clip(graph: nx.MultiDiGraph, boundary: BaseGeometry, buffer_m: float, path: Path) -> nx.MultiDiGraph:
    """The graph's nodes inside the buffered boundary (edges with both ends inside)."""
    area = buffered(boundary, buffer_m)
    ids = np.array(list(graph.nodes), dtype=object)
    xs = np.array([graph.nodes[n]["x"] for n in ids], dtype=float)
    ys = np.array([graph.nodes[n]["y"] for n in ids], dtype=float)
    inside = shapely.contains_xy(area, xs, ys)
    if not inside.any():
        raise InputError(path, "no street inside the area's boundary")
    return graph.subgraph(ids[inside].tolist()).copy()


def _highways(data: dict) -> set[str]:
    hwy = data.get("highway", "")
    return set(hwy) if isinstance(hwy, list) else {str(hwy)}


def _street_name(data: dict) -> str:
    """An edge's street name: OSM ``name`` (the first, where simplification merged several), else ``ref``."""
    for key in ("name", "ref"):
        value = data.get(key)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v.strip()), None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _flag(value: object) -> bool:
    """A mode flag as stored in a graph (bool, or text after a GraphML round trip)."""
    if isinstance(value, list):
        return all(_flag(v) for v in value)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


@dataclass(frozen=True)
class Snap:
    """Where points meet the network: nearest node, street and distances."""

    node: np.ndarray
    """Index (into ``Network.node_ids``) of the node each point is routed from."""
    distance_m: np.ndarray
    """Straight-line distance from each point to the nearest street."""
    edge: np.ndarray
    """Index (into ``Network.edge_u``) of the nearest street edge."""


@dataclass
class _Arcs:
    """One mode's routing graph and, per arc, the street edge it runs along."""

    csr: csr_matrix
    key: np.ndarray
    """Sorted ``from * n + to`` of every arc."""
    edge: np.ndarray
    reverse: np.ndarray
    csr_reverse: csr_matrix | None = None
    """The graph with every arc turned round (made on first use)."""


class Network:
    """A street network ready for routing by car and on foot.

    Parameters
    ----------
    graph
        An unprojected OSMnx graph (as from :func:`load_graph`). Edge speeds
        and travel times are added to it in place (``ox.add_edge_speeds``).
    foot_speed_kmh
        Walking pace of foot patrols.
    max_edge_m
        Streets longer than this are split into equal parts.
    """

    def __init__(self, graph: nx.MultiDiGraph, foot_speed_kmh: float = defaults.FOOT_SPEED_KMH,
                 max_edge_m: float = defaults.MAX_EDGE_M):
        ox.routing.add_edge_speeds(graph, fallback=30.0)
        all_ids = list(graph.nodes)
        index = {n: i for i, n in enumerate(all_ids)}
        flagged = any("car" in d or "foot" in d for _, _, d in graph.edges(data=True))
        self.walk_network = flagged and any(
            _flag(d.get("foot", False)) and not _flag(d.get("car", False))
            for _, _, d in graph.edges(data=True))
        """Whether foot patrols walk a real walking network (else the drive network both ways)."""
        us, vs, lengths, speeds, car_ok, foot_ok, geoms = [], [], [], [], [], [], []
        names, kinds = [], []
        for u, v, data in graph.edges(data=True):
            hw = _highways(data)
            names.append(_street_name(data))
            kinds.append(min(hw))
            us.append(index[u])
            vs.append(index[v])
            le = float(data.get("length") or 0.0)
            kph = float(data.get("speed_kph") or 30.0)
            lengths.append(le)
            speeds.append(kph)
            data["travel_time"] = le / (kph / 3.6)
            if flagged:
                car_ok.append(_flag(data.get("car", False)))
                foot_ok.append(_flag(data.get("foot", False)))
            else:
                car_ok.append(not (hw & _NOT_FOR_CARS))
                foot_ok.append(not (hw & _NOT_FOR_FEET))
            geom = data.get("geometry")
            geoms.append(None if geom is None else np.asarray(geom.coords, dtype=float)[:, :2])
        lon_all = np.array([graph.nodes[n]["x"] for n in all_ids], dtype=float)
        lat_all = np.array([graph.nodes[n]["y"] for n in all_ids], dtype=float)
        eu = np.array(us, dtype=np.int64)
        ev = np.array(vs, dtype=np.int64)
        car = np.array(car_ok, dtype=bool)
        foot = np.array(foot_ok, dtype=bool)
        length = np.array(lengths, dtype=float)
        speed = np.where(np.isfinite(speeds) & (np.array(speeds) > 0), speeds, 30.0)

        # The routable part: the largest set of junctions cars can drive between
        # both ways, and every node joined to it by any street.
        n_all = len(all_ids)
        if car.any():
            core = _largest(n_all, eu[car], ev[car], strong=True)
        else:
            core = _largest(n_all, eu, ev, strong=False)
        keep = _component_of(n_all, eu, ev, core)
        kept_nodes = np.flatnonzero(keep)
        renum = np.full(n_all, -1, dtype=np.int64)
        renum[kept_nodes] = np.arange(len(kept_nodes))
        ekeep = keep[eu] & keep[ev]
        eidx = np.flatnonzero(ekeep)
        self.graph = graph.subgraph([all_ids[i] for i in kept_nodes])
        lon = lon_all[kept_nodes]
        lat = lat_all[kept_nodes]
        self.crs = _utm_crs(float(np.median(lon)), float(np.median(lat)))
        self._to_xy = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        edge_lonlat = [
            geoms[e] if geoms[e] is not None
            else np.array([[lon_all[eu[e]], lat_all[eu[e]]], [lon_all[ev[e]], lat_all[ev[e]]]])
            for e in eidx
        ]
        split = _split_long_streets(
            renum[eu[eidx]], renum[ev[eidx]], length[eidx], speed[eidx], car[eidx], foot[eidx],
            edge_lonlat, max_edge_m)
        node_ids = np.array([all_ids[i] for i in kept_nodes] + [-(k + 1) for k in range(split.new_nodes)],
                            dtype=np.int64)
        self.node_ids = node_ids
        """OSM id of each node; split points of long streets have negative ids."""
        self._index = {int(n): i for i, n in enumerate(node_ids.tolist())}
        self.lon = np.concatenate([lon, split.new_lonlat[:, 0]])
        self.lat = np.concatenate([lat, split.new_lonlat[:, 1]])
        x, y = self._to_xy.transform(self.lon, self.lat)
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.foot_speed_ms = foot_speed_kmh / 3.6
        self.edge_u = split.u
        self.edge_v = split.v
        self.edge_length = split.length
        self.edge_car_time = split.length / (split.speed_kph / 3.6)
        self.edge_car_ok = split.car
        self.edge_foot_ok = split.foot
        self.edge_lonlat: list[np.ndarray] = split.lonlat
        self.edge_origin = split.origin
        """Index of the graph edge (before long streets were split) each edge is part of."""
        self.street_name = [names[e] for e in eidx]
        """Name of each graph edge's street (OSM ``name``, else ``ref``; ``""`` when it has neither)."""
        self.street_kind = [kinds[e] for e in eidx]
        """OSM ``highway`` value of each graph edge (``footway``, ``residential``, ...)."""
        self.edge_xy = _project_all(self._to_xy, split.lonlat)
        n = len(node_ids)
        self._arcs = {mode: self._build_mode(mode) for mode in MODES}
        self._in_core = np.zeros(n, dtype=bool)
        car_e = np.flatnonzero(self.edge_car_ok)
        if len(car_e):
            self._in_core = _largest(n, self.edge_u[car_e], self.edge_v[car_e], strong=True)
        else:
            self._in_core[:] = True
        foot_e = np.flatnonzero(self.edge_foot_ok)
        self._in_walk = _largest(n, self.edge_u[foot_e], self.edge_v[foot_e], strong=False) \
            if len(foot_e) else np.ones(n, dtype=bool)
        # Snapping, per mode, is to streets the mode can use and that lie in its routable core.
        car_snap = np.flatnonzero(self.edge_car_ok & self._in_core[self.edge_u] & self._in_core[self.edge_v])
        if len(car_snap) == 0:
            car_snap = np.arange(len(self.edge_u))
        walk = self._in_walk
        foot_snap = np.flatnonzero(self.edge_foot_ok & walk[self.edge_u] & walk[self.edge_v])
        if len(foot_snap) == 0:
            foot_snap = car_snap
        self._snap_edges = {"car": car_snap, "foot": foot_snap}
        self._trees = {mode: STRtree([LineString(self.edge_xy[i]) for i in e])
                       for mode, e in self._snap_edges.items()}

    @property
    def snap_edges(self) -> np.ndarray:
        """Edges points snap to by car (the drivable streets of the routable core)."""
        return self._snap_edges["car"]

    # ------------------------------------------------------------------ modes
    def _build_mode(self, mode: str) -> _Arcs:
        n = len(self.node_ids)
        idx = np.arange(len(self.edge_u))
        real = self.edge_u != self.edge_v
        if mode == "car":
            sel = self.edge_car_ok & real
            rows, cols = self.edge_u[sel], self.edge_v[sel]
            t, e, rev = self.edge_car_time[sel], idx[sel], np.zeros(int(sel.sum()), dtype=bool)
        else:
            sel = self.edge_foot_ok & real
            t1 = self.edge_length[sel] / self.foot_speed_ms
            rows = np.concatenate([self.edge_u[sel], self.edge_v[sel]])
            cols = np.concatenate([self.edge_v[sel], self.edge_u[sel]])
            t = np.concatenate([t1, t1])
            e = np.concatenate([idx[sel], idx[sel]])
            rev = np.concatenate([np.zeros(len(t1), dtype=bool), np.ones(len(t1), dtype=bool)])
        t = np.maximum(t, 1e-3)  # csgraph drops explicit zeros
        key = rows * n + cols
        order = np.lexsort((e, t, key))  # the fastest arc between two nodes wins
        key, t, e, rev = key[order], t[order], e[order], rev[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        key, t, e, rev = key[first], t[first], e[first], rev[first]
        csr = csr_matrix((t, (key // n, key % n)), shape=(n, n))
        return _Arcs(csr=csr, key=key, edge=e, reverse=rev)

    # --------------------------------------------------------------- snapping
    def project(self, lat: Sequence[float], lon: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Project WGS84 latitudes and longitudes to the network's metric CRS."""
        x, y = self._to_xy.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def snap(self, lat: Sequence[float], lon: Sequence[float], mode: str = "car") -> Snap:
        """Snap points to the nearest street of a mode and to that street's nearer end node.

        Parameters
        ----------
        lat, lon
            WGS84 coordinates of the points.
        mode
            ``"car"`` (drivable streets) or ``"foot"`` (the walking network).

        Returns
        -------
        Snap
            Node, street-distance and edge per point. Callers refuse points
            whose ``distance_m`` is too large.
        """
        mode = _mode(mode)
        x, y = self.project(lat, lon)
        if len(x) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Snap(empty, np.zeros(0), empty)
        pts = points(np.column_stack([x, y]))
        (idx_pts, idx_tree), dist = self._trees[mode].query_nearest(
            pts, return_distance=True, all_matches=False)
        order = np.argsort(idx_pts, kind="stable")
        edge = self._snap_edges[mode][idx_tree[order]]
        dist = dist[order]
        u, v = self.edge_u[edge], self.edge_v[edge]
        du = np.hypot(self.x[u] - x, self.y[u] - y)
        dv = np.hypot(self.x[v] - x, self.y[v] - y)
        node = np.where(du <= dv, u, v)
        return Snap(node=node.astype(np.int64), distance_m=np.asarray(dist, dtype=float), edge=edge)

    # ---------------------------------------------------------------- routing
    def travel_times(self, mode: str, nodes: Sequence[int], targets: Sequence[int] | None = None,
                     limit_s: float = np.inf, reverse: bool = False) -> np.ndarray:
        """Many-to-many travel times in seconds between network nodes.

        Parameters
        ----------
        mode
            ``"car"`` or ``"foot"``.
        nodes
            Node indices (into ``node_ids``) of the origins; repeats are allowed.
        targets
            Node indices of the destinations; the origins when ``None``.
        limit_s
            Searches stop at this travel time: longer trips come out ``inf``.
            A bounded search costs what the neighbourhood it explores costs.
        reverse
            Search backwards from ``nodes``: entry ``[i, j]`` is then the time
            from ``targets[j]`` *to* ``nodes[i]`` (one search per destination).

        Returns
        -------
        numpy.ndarray
            ``len(nodes) x len(targets)`` matrix; ``inf`` where unreachable.
            One Dijkstra search per distinct origin, in batches, so the cost is
            ``O(origins x network)`` (less when bounded) and memory stays bounded.
        """
        arcs = self._arcs[_mode(mode)]
        csr = arcs.csr
        if reverse:
            if arcs.csr_reverse is None:
                arcs.csr_reverse = csr.T.tocsr()
            csr = arcs.csr_reverse
        nodes = np.asarray(nodes, dtype=np.int64)
        square = targets is None
        tnodes = nodes if square else np.asarray(targets, dtype=np.int64)
        uniq, inverse = np.unique(nodes, return_inverse=True)
        tuniq, tinverse = np.unique(tnodes, return_inverse=True)
        block = np.empty((len(uniq), len(tuniq)), dtype=float)
        for start in range(0, len(uniq), _MATRIX_BATCH):
            rows = uniq[start:start + _MATRIX_BATCH]
            dist = dijkstra(csr, directed=True, indices=rows, limit=limit_s)
            block[start:start + len(rows)] = dist[:, tuniq]
        full = block[inverse][:, tinverse]
        if square:
            np.fill_diagonal(full, 0.0)
        else:
            full[nodes[:, None] == tnodes[None, :]] = 0.0
        return full

    def paths(self, mode: str, legs: Sequence[tuple[int, int]],
              limits: Sequence[float] | None = None) -> list[list[tuple[float, float]]]:
        """Street geometry (lon, lat) of the fastest path for each (from, to) node pair.

        Parameters
        ----------
        mode
            ``"car"`` or ``"foot"``.
        legs
            (from, to) node indices.
        limits
            Optional travel time of each leg (seconds), as in a matrix from
            :meth:`travel_times`: each search then stops just beyond it, so a
            path costs what its neighbourhood costs rather than the whole network.
            An upper bound will do (any longer limit only costs time).

        Returns
        -------
        list of list of (lon, lat)
        """
        return [coords for _, coords in self.fastest(mode, legs, limits)]

    def fastest(self, mode: str, legs: Sequence[tuple[int, int]],
                limits: Sequence[float] | None = None) -> list[tuple[float, list[tuple[float, float]]]]:
        """Travel time (seconds) and street geometry of the fastest path for each leg.

        Parameters are those of :meth:`paths`; one bounded search per distinct origin.

        Returns
        -------
        list of (seconds, list of (lon, lat))
        """
        mode = _mode(mode)
        arcs = self._arcs[mode]
        n = len(self.node_ids)
        by_source: dict[int, float] = {}
        for k, (a, _b) in enumerate(legs):
            lim = math.inf if limits is None else float(limits[k])
            by_source[a] = max(by_source.get(a, 0.0), lim if math.isfinite(lim) else math.inf)
        searched: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for a, lim in by_source.items():
            bound = lim * 1.001 + 1.0 if math.isfinite(lim) else np.inf
            searched[a] = dijkstra(arcs.csr, directed=True, indices=a, return_predecessors=True, limit=bound)
        out: list[tuple[float, list[tuple[float, float]]]] = []
        for a, b in legs:
            if a == b:
                out.append((0.0, [(float(self.lon[a]), float(self.lat[a]))]))
                continue
            dist, p = searched[a]
            if p[b] < 0:  # beyond the bound after all (rounding): search the whole network
                dist, p = dijkstra(arcs.csr, directed=True, indices=a, return_predecessors=True)
                searched[a] = dist, p
            chain = [b]
            while chain[-1] != a:
                prev = p[chain[-1]]
                if prev < 0:
                    raise ValueError(f"node {b} unreachable from {a} by {mode}")
                chain.append(int(prev))
            chain.reverse()
            ch = np.asarray(chain, dtype=np.int64)
            pos = np.searchsorted(arcs.key, ch[:-1] * n + ch[1:])
            coords: list[tuple[float, float]] = []
            for e, rev in zip(arcs.edge[pos].tolist(), arcs.reverse[pos].tolist(), strict=True):
                seg = self.edge_lonlat[e][::-1] if rev else self.edge_lonlat[e]
                pts_ = [(float(x), float(y)) for x, y in seg]
                coords.extend(pts_[1:] if coords else pts_)
            out.append((float(dist[b]), coords))
        return out

    def graph_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each edge of the graph (before long streets were split) lies among the edges.

        Returns
        -------
        (start, stop)
            Edges ``start[i]`` to ``stop[i] - 1`` are the parts of the i-th graph
            edge, in order along it (the parts of one edge are consecutive).
        """
        origin = self.edge_origin
        start = np.flatnonzero(np.r_[True, origin[1:] != origin[:-1]]) if len(origin) else origin
        return start, np.r_[start[1:], len(origin)].astype(np.int64)

    def joined(self, start: int, stop: int, projected: bool = False) -> np.ndarray:
        """The polyline of edges ``start`` to ``stop - 1`` joined end to end (lon, lat, or x, y)."""
        geoms = self.edge_xy if projected else self.edge_lonlat
        if stop - start == 1:
            return geoms[start]
        return np.concatenate([geoms[start]] + [g[1:] for g in geoms[start + 1:stop]])

    def path_length_m(self, coords: Sequence[tuple[float, float]]) -> float:
        """Length in metres of a (lon, lat) polyline."""
        if len(coords) < 2:
            return 0.0
        arr = np.asarray(coords, dtype=float)
        x, y = self._to_xy.transform(arr[:, 0], arr[:, 1])
        return float(np.hypot(np.diff(x), np.diff(y)).sum())

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the network's nodes."""
        return (float(self.lon.min()), float(self.lat.min()),
                float(self.lon.max()), float(self.lat.max()))

    def length_km(self, mode: str = "car") -> float:
        """Length of the streets a mode can use, each street counted once (km)."""
        ok = self.edge_car_ok if _mode(mode) == "car" else self.edge_foot_ok
        lo = np.minimum(self.edge_u, self.edge_v)[ok]
        hi = np.maximum(self.edge_u, self.edge_v)[ok]
        streets = np.column_stack([lo, hi, np.round(self.edge_length[ok])])
        key = np.unique(streets, axis=0, return_index=True)[1]
        return float(self.edge_length[ok][key].sum()) / 1000.0


@dataclass(frozen=True)
class _Split:
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    speed_kph: np.ndarray
    car: np.ndarray
    foot: np.ndarray
    lonlat: list[np.ndarray]
    origin: np.ndarray
    new_nodes: int
    new_lonlat: np.ndarray


def _split_long_streets(u: np.ndarray, v: np.ndarray, length: np.ndarray, speed: np.ndarray,
                        car: np.ndarray, foot: np.ndarray, lonlat: list[np.ndarray],
                        max_edge_m: float) -> _Split:
    """Split every street longer than ``max_edge_m`` into equal parts.

    Both directions of a two-way street (the directed edges sharing its ends
    and length) are split at the same new nodes, so the street stays one
    street. New nodes are numbered after the existing ``n`` ones.
    """
    n = int(max(u.max(initial=-1), v.max(initial=-1))) + 1
    out_u, out_v, out_len, out_speed, out_car, out_foot, out_ll = [], [], [], [], [], [], []
    origin: list[int] = []
    new_ll: list[tuple[float, float]] = []
    chains: dict[tuple[int, int, int], tuple[int, list[int], list[np.ndarray]]] = {}
    for e in range(len(u)):
        a, b, le = int(u[e]), int(v[e]), float(length[e])
        if not (np.isfinite(max_edge_m) and le > max_edge_m):
            out_u.append(a)
            out_v.append(b)
            out_len.append(le)
            out_speed.append(speed[e])
            out_car.append(car[e])
            out_foot.append(foot[e])
            out_ll.append(lonlat[e])
            origin.append(e)
            continue
        key = (min(a, b), max(a, b), round(le))
        if key not in chains:
            parts = _cut_lonlat(lonlat[e], math.ceil(le / max_edge_m))
            inner = []
            for p in parts[:-1]:
                inner.append(n + len(new_ll))
                new_ll.append((float(p[-1, 0]), float(p[-1, 1])))
            chains[key] = (a, inner, parts)
        first, inner, parts = chains[key]
        nodes = [first, *inner, b if first == a else a]
        if first != a:  # the other direction of the street: walk the chain backwards
            nodes = nodes[::-1]
            parts = [p[::-1] for p in parts[::-1]]
        nodes[0], nodes[-1] = a, b
        k = len(parts)
        for j in range(k):
            out_u.append(nodes[j])
            out_v.append(nodes[j + 1])
            out_len.append(le / k)
            out_speed.append(speed[e])
            out_car.append(car[e])
            out_foot.append(foot[e])
            out_ll.append(parts[j])
            origin.append(e)
    return _Split(
        u=np.array(out_u, dtype=np.int64), v=np.array(out_v, dtype=np.int64),
        length=np.array(out_len, dtype=float), speed_kph=np.array(out_speed, dtype=float),
        car=np.array(out_car, dtype=bool), foot=np.array(out_foot, dtype=bool), lonlat=out_ll,
        origin=np.array(origin, dtype=np.int64),
        new_nodes=len(new_ll), new_lonlat=np.array(new_ll, dtype=float).reshape(-1, 2),
    )


def _cut_lonlat(coords: np.ndarray, k: int) -> list[np.ndarray]:
    """Cut a (lon, lat) polyline into ``k`` parts of equal length (planar in degrees scaled by latitude)."""
    scale = math.cos(math.radians(float(coords[:, 1].mean())))
    steps = np.hypot(np.diff(coords[:, 0]) * scale, np.diff(coords[:, 1]))
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    cuts = np.linspace(0.0, float(cum[-1]), k + 1)
    parts = []
    for a, b in itertools.pairwise(cuts):
        inner = np.flatnonzero((cum > a) & (cum < b))
        where = np.concatenate([[a], cum[inner], [b]])
        parts.append(np.column_stack([np.interp(where, cum, coords[:, 0]),
                                      np.interp(where, cum, coords[:, 1])]))
    parts[0][0] = coords[0]
    parts[-1][-1] = coords[-1]
    return parts


def _project_all(to_xy: pyproj.Transformer, lonlat: list[np.ndarray]) -> list[np.ndarray]:
    """Project many polylines in one call."""
    if not lonlat:
        return []
    sizes = np.array([len(g) for g in lonlat])
    flat = np.concatenate(lonlat)
    x, y = to_xy.transform(flat[:, 0], flat[:, 1])
    xy = np.column_stack([x, y])
    return np.split(xy, np.cumsum(sizes)[:-1])


def _largest(n: int, u: np.ndarray, v: np.ndarray, strong: bool) -> np.ndarray:
    """Mask of the largest strongly (or weakly) connected component among nodes touched by arcs."""
    graph = csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, labels = connected_components(graph, directed=True, connection="strong" if strong else "weak")
    touched = np.zeros(n, dtype=bool)
    touched[u] = True
    touched[v] = True
    if not touched.any():
        return touched
    sizes = np.bincount(labels[touched], minlength=labels.max() + 1)
    return labels == int(np.argmax(sizes))


def _component_of(n: int, u: np.ndarray, v: np.ndarray, seed_mask: np.ndarray) -> np.ndarray:
    """Nodes joined by any street (either way) to the nodes in ``seed_mask``."""
    graph = csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    chosen = np.unique(labels[seed_mask])
    return np.isin(labels, chosen)


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown travel mode {mode!r}; use one of {MODES}")
    return mode


def _utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The UTM zone holding a point: metric, and good to a few parts in 10,000 within it."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
