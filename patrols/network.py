"""Road networks: loading, travel times per mode, snapping, matrices and paths.

A ``Network`` wraps an OSMnx graph with what planning needs: a compressed
sparse graph per travel mode (car follows one-way rules at OSMnx speeds; foot
walks every street both ways at a set pace), a spatial index of the streets for
snapping, many-to-many travel times by ``scipy.sparse.csgraph`` and the street
geometry of the path between two points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely import LineString, STRtree, points

from patrols import defaults
from patrols.errors import InputError

MODES = ("car", "foot")
# Ways a car cannot use, and ways nobody walks, when an extract holds all highways.
_NOT_FOR_CARS = {
    "footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "corridor",
    "elevator", "platform", "track", "escalator", "busway", "bus_guideway",
}
_NOT_FOR_FEET = {"motorway", "motorway_link"}


def load_graph(path: str | Path) -> nx.MultiDiGraph:
    """Read a street graph from GraphML (OSMnx) or OSM XML (``.osm``, ``.osm.bz2``).

    Parameters
    ----------
    path
        The network file named by the area.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (EPSG:4326) OSMnx graph.
    """
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise InputError(path, "network file not found")
    try:
        if name.endswith(".graphml"):
            graph = ox.load_graphml(path)
        elif name.endswith((".osm", ".osm.bz2", ".xml", ".osm.xml")):
            graph = ox.graph_from_xml(path, retain_all=True)
        elif name.endswith(".pbf"):
            raise InputError(
                path, "OSM PBF is not read directly; convert it to .osm.bz2 (osmium cat)"
            )
        else:
            raise InputError(path, "unknown network format (use .graphml, .osm or .osm.bz2)")
    except InputError:
        raise
    except Exception as exc:  # any parser failure is the file's fault
        raise InputError(path, f"cannot read network: {exc}".splitlines()[0]) from None
    if graph.number_of_edges() == 0:
        raise InputError(path, "network has no streets")
    return graph


def _highways(data: dict) -> set[str]:
    hwy = data.get("highway", "")
    return set(hwy) if isinstance(hwy, list) else {str(hwy)}


@dataclass(frozen=True)
class Snap:
    """Where points meet the network: nearest node, street and distances."""

    node: np.ndarray
    """Index (into ``Network.node_ids``) of the node each point is routed from."""
    distance_m: np.ndarray
    """Straight-line distance from each point to the nearest street."""
    edge: np.ndarray
    """Index (into ``Network.edge_u``) of the nearest street edge."""


class Network:
    """A street network ready for routing by car and on foot.

    Parameters
    ----------
    graph
        An unprojected OSMnx graph (as from :func:`load_graph`).
    foot_speed_kmh
        Walking pace of foot patrols.
    """

    def __init__(self, graph: nx.MultiDiGraph, foot_speed_kmh: float = defaults.FOOT_SPEED_KMH):
        graph = graph.copy()
        car_edges = [
            (u, v, k) for u, v, k, d in graph.edges(keys=True, data=True)
            if not (_highways(d) & _NOT_FOR_CARS)
        ]
        if car_edges:
            car_graph = graph.edge_subgraph(car_edges)
            core = max(nx.strongly_connected_components(car_graph), key=len)
        else:
            core = max(nx.weakly_connected_components(graph), key=len)
        walk = nx.node_connected_component(graph.to_undirected(as_view=True), next(iter(core)))
        graph = graph.subgraph(walk).copy()
        graph = ox.routing.add_edge_speeds(graph, fallback=30.0)
        graph = ox.routing.add_edge_travel_times(graph)

        self.graph = graph
        self.node_ids = np.array(list(graph.nodes), dtype=np.int64)
        index = {n: i for i, n in enumerate(self.node_ids.tolist())}
        self._index = index
        self.lon = np.array([graph.nodes[n]["x"] for n in self.node_ids], dtype=float)
        self.lat = np.array([graph.nodes[n]["y"] for n in self.node_ids], dtype=float)
        self.crs = _utm_crs(float(np.median(self.lon)), float(np.median(self.lat)))
        self._to_xy = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self.x, self.y = self._to_xy.transform(self.lon, self.lat)
        self.foot_speed_ms = foot_speed_kmh / 3.6

        core_idx = np.array(sorted(index[n] for n in core if n in index), dtype=np.int64)
        self._in_core = np.zeros(len(self.node_ids), dtype=bool)
        self._in_core[core_idx] = True

        us, vs, lengths, times, car_ok, foot_ok, geoms = [], [], [], [], [], [], []
        for u, v, data in graph.edges(data=True):
            hw = _highways(data)
            us.append(index[u])
            vs.append(index[v])
            lengths.append(float(data.get("length", 0.0)))
            times.append(float(data.get("travel_time", 0.0)))
            car_ok.append(not (hw & _NOT_FOR_CARS))
            foot_ok.append(not (hw & _NOT_FOR_FEET))
            geom = data.get("geometry")
            coords = (
                np.asarray(geom.coords, dtype=float)
                if geom is not None
                else np.array([[self.lon[index[u]], self.lat[index[u]]],
                               [self.lon[index[v]], self.lat[index[v]]]])
            )
            geoms.append(coords)
        self.edge_u = np.array(us, dtype=np.int64)
        self.edge_v = np.array(vs, dtype=np.int64)
        self.edge_length = np.array(lengths, dtype=float)
        self.edge_car_time = np.array(times, dtype=float)
        self.edge_car_ok = np.array(car_ok, dtype=bool)
        self.edge_foot_ok = np.array(foot_ok, dtype=bool)
        self.edge_lonlat: list[np.ndarray] = geoms
        self.edge_xy = [np.column_stack(self._to_xy.transform(g[:, 0], g[:, 1])) for g in geoms]
        self._csr: dict[str, csr_matrix] = {}
        self._arc_edge: dict[str, dict[tuple[int, int], tuple[int, bool]]] = {}
        self._build_mode("car")
        self._build_mode("foot")
        # Snapping is to streets both modes can use and that lie in the routable core.
        snappable = np.flatnonzero(
            self.edge_car_ok & self._in_core[self.edge_u] & self._in_core[self.edge_v]
        ) if car_edges else np.arange(len(self.edge_u))
        self.snap_edges = snappable
        self._tree = STRtree([LineString(self.edge_xy[i]) for i in snappable])

    # ------------------------------------------------------------------ modes
    def _build_mode(self, mode: str) -> None:
        n = len(self.node_ids)
        best: dict[tuple[int, int], tuple[float, int, bool]] = {}
        for e in range(len(self.edge_u)):
            u, v = int(self.edge_u[e]), int(self.edge_v[e])
            if u == v:
                continue
            if mode == "car":
                if not self.edge_car_ok[e]:
                    continue
                arcs = [((u, v), self.edge_car_time[e], False)]
            else:
                if not self.edge_foot_ok[e]:
                    continue
                t = self.edge_length[e] / self.foot_speed_ms
                arcs = [((u, v), t, False), ((v, u), t, True)]
            for key, t, rev in arcs:
                t = max(float(t), 1e-3)  # csgraph drops explicit zeros
                if key not in best or t < best[key][0]:
                    best[key] = (t, e, rev)
        rows = np.fromiter((k[0] for k in best), dtype=np.int64, count=len(best))
        cols = np.fromiter((k[1] for k in best), dtype=np.int64, count=len(best))
        vals = np.fromiter((b[0] for b in best.values()), dtype=float, count=len(best))
        self._csr[mode] = csr_matrix((vals, (rows, cols)), shape=(n, n))
        self._arc_edge[mode] = {k: (b[1], b[2]) for k, b in best.items()}

    # --------------------------------------------------------------- snapping
    def project(self, lat: Sequence[float], lon: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Project WGS84 latitudes and longitudes to the network's metric CRS."""
        x, y = self._to_xy.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def snap(self, lat: Sequence[float], lon: Sequence[float]) -> Snap:
        """Snap points to the nearest street and to that street's nearer end node.

        Parameters
        ----------
        lat, lon
            WGS84 coordinates of the points.

        Returns
        -------
        Snap
            Node, street-distance and edge per point. Callers refuse points
            whose ``distance_m`` is too large.
        """
        x, y = self.project(lat, lon)
        if len(x) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Snap(empty, np.zeros(0), empty)
        pts = points(np.column_stack([x, y]))
        (idx_pts, idx_tree), dist = self._tree.query_nearest(pts, return_distance=True, all_matches=False)
        order = np.argsort(idx_pts, kind="stable")
        edge = self.snap_edges[idx_tree[order]]
        dist = dist[order]
        u, v = self.edge_u[edge], self.edge_v[edge]
        du = np.hypot(self.x[u] - x, self.y[u] - y)
        dv = np.hypot(self.x[v] - x, self.y[v] - y)
        node = np.where(du <= dv, u, v)
        return Snap(node=node.astype(np.int64), distance_m=np.asarray(dist, dtype=float), edge=edge)

    # ---------------------------------------------------------------- routing
    def travel_times(self, mode: str, nodes: Sequence[int]) -> np.ndarray:
        """Many-to-many travel times in seconds between network nodes.

        Parameters
        ----------
        mode
            ``"car"`` or ``"foot"``.
        nodes
            Node indices (into ``node_ids``); repeats are allowed.

        Returns
        -------
        numpy.ndarray
            ``len(nodes) x len(nodes)`` matrix; ``inf`` where unreachable.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        uniq, inverse = np.unique(nodes, return_inverse=True)
        dist = dijkstra(self._csr[_mode(mode)], directed=True, indices=uniq)
        full = dist[:, uniq][inverse][:, inverse]
        np.fill_diagonal(full, 0.0)
        return full

    def paths(self, mode: str, legs: Sequence[tuple[int, int]]) -> list[list[tuple[float, float]]]:
        """Street geometry (lon, lat) of the fastest path for each (from, to) node pair."""
        mode = _mode(mode)
        sources = sorted({a for a, _ in legs})
        if not sources:
            return []
        _, pred = dijkstra(self._csr[mode], directed=True, indices=sources, return_predecessors=True)
        row = {s: i for i, s in enumerate(sources)}
        out = []
        for a, b in legs:
            if a == b:
                out.append([(float(self.lon[a]), float(self.lat[a]))])
                continue
            chain = [b]
            p = pred[row[a]]
            while chain[-1] != a:
                prev = p[chain[-1]]
                if prev < 0:
                    raise ValueError(f"node {b} unreachable from {a} by {mode}")
                chain.append(int(prev))
            chain.reverse()
            coords: list[tuple[float, float]] = []
            for i, j in pairwise(chain):
                e, rev = self._arc_edge[mode][(i, j)]
                seg = self.edge_lonlat[e][::-1] if rev else self.edge_lonlat[e]
                pts_ = [(float(x), float(y)) for x, y in seg]
                coords.extend(pts_[1:] if coords else pts_)
            out.append(coords)
        return out

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


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown travel mode {mode!r}; use one of {MODES}")
    return mode


def _utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The UTM zone holding a point: metric, and good to a few parts in 10,000 within it."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
