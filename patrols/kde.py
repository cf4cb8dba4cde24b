"""Network kernel density: short street pieces and a kernel spread by distance along streets.

Every undirected street of a :class:`~patrols.network.Network` is cut into
equal pieces no longer than a set length (50 m by default). The pieces form a
graph whose vertices are the street junctions, the cut points and the middle of
every piece, so the shortest path between two piece middles is the distance a
person walks between them along the streets (one-way rules do not bind people
on foot, so the graph is undirected).

A kernel placed on a piece spreads over every piece within the bandwidth by
that network distance, never by straight lines: a street a block away as the
crow flies but a long walk round gets little or nothing. The kernel rows are
computed once per source piece and bandwidth and kept, so scoring a year of
incidents costs a sparse matrix product.
"""

from __future__ import annotations

import itertools
import math
import weakref
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely import LineString, STRtree, points

from patrols.network import Network

# Sources per Dijkstra call: bounds the dense distance block to about 10 MB.
_BATCH = 64


def quartic(distance_m: np.ndarray, bandwidth_m: float) -> np.ndarray:
    """The quartic (biweight) kernel along a line, per metre.

    Parameters
    ----------
    distance_m
        Distances from the kernel's centre.
    bandwidth_m
        Where the kernel falls to zero.

    Returns
    -------
    numpy.ndarray
        ``15 / (16 h) * (1 - (d / h)**2)**2`` inside the bandwidth, 0 beyond;
        it integrates to 1 along an unbranched street.
    """
    u = np.asarray(distance_m, dtype=float) / bandwidth_m
    return np.where(np.abs(u) < 1.0, 15.0 / (16.0 * bandwidth_m) * (1.0 - u * u) ** 2, 0.0)


@dataclass(eq=False)
class StreetPieces:
    """The streets of a network cut into short pieces, with a graph between their middles.

    Build with :func:`street_pieces`.
    """

    max_length_m: float
    street: np.ndarray
    """Index of the undirected street (its first edge in ``Network.edge_u``) of each piece."""
    edge: np.ndarray
    """Network edge index each piece was cut from."""
    length_m: np.ndarray
    mid_x: np.ndarray
    mid_y: np.ndarray
    mid_lon: np.ndarray
    mid_lat: np.ndarray
    xy: list[np.ndarray]
    lonlat: list[np.ndarray]
    graph: csr_matrix
    """Undirected graph over junctions, cut points and piece middles (metres)."""
    mid_vertex: np.ndarray
    """Vertex of ``graph`` at the middle of each piece."""
    _tree: STRtree = field(repr=False)
    _rows: dict[tuple[float, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.length_m)

    @property
    def total_length_m(self) -> float:
        """Length of every street, each counted once."""
        return float(self.length_m.sum())

    def snap(self, x: np.ndarray, y: np.ndarray, max_distance_m: float) -> np.ndarray:
        """The piece nearest to each projected point, or -1 when none is within ``max_distance_m``.

        Parameters
        ----------
        x, y
            Points in the network's metric CRS.
        max_distance_m
            Points farther than this from every street are left unplaced.

        Returns
        -------
        numpy.ndarray
            Piece index per point.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.full(len(x), -1, dtype=np.int64)
        if len(x) == 0:
            return out
        # Many records share a location (police.uk publishes snapped map points): query each once.
        uniq, inverse = np.unique(np.column_stack([x, y]), axis=0, return_inverse=True)
        (idx_pts, idx_tree), dist = self._tree.query_nearest(
            points(uniq), max_distance=max_distance_m, return_distance=True, all_matches=False)
        per_uniq = np.full(len(uniq), -1, dtype=np.int64)
        ok = dist <= max_distance_m
        per_uniq[idx_pts[ok]] = idx_tree[ok]
        out[:] = per_uniq[inverse.ravel()]
        return out

    def distances_from(self, sources: np.ndarray, limit_m: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Network distances from the middle of each source piece to every piece within ``limit_m``.

        Parameters
        ----------
        sources
            Piece indices.
        limit_m
            Largest distance kept.

        Returns
        -------
        list of (pieces, distances)
            One pair of arrays per source, pieces sorted by index.
        """
        sources = np.asarray(sources, dtype=np.int64)
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for start in range(0, len(sources), _BATCH):
            batch = sources[start:start + _BATCH]
            dist = dijkstra(self.graph, directed=False, indices=self.mid_vertex[batch], limit=limit_m)
            at_mid = dist[:, self.mid_vertex]
            for row in at_mid:
                near = np.flatnonzero(row <= limit_m)
                out.append((near, row[near]))
        return out

    def kernel_matrix(self, sources: np.ndarray, bandwidth_m: float) -> csr_matrix:
        """Quartic network kernel from each source piece to every piece (rows: sources).

        Rows are cached per bandwidth, so a later call with the same pieces is
        a lookup.

        Parameters
        ----------
        sources
            Piece indices, one row each.
        bandwidth_m
            Kernel bandwidth in metres of street.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``len(sources) x len(self)``, values per metre.
        """
        sources = np.asarray(sources, dtype=np.int64)
        key_bw = float(bandwidth_m)
        missing = np.array(sorted({int(s) for s in sources if (key_bw, int(s)) not in self._rows}),
                           dtype=np.int64)
        if len(missing):
            for s, (near, dist) in zip(missing, self.distances_from(missing, key_bw), strict=True):
                self._rows[(key_bw, int(s))] = (near, quartic(dist, key_bw))
        rows, cols, vals = [], [], []
        for i, s in enumerate(sources.tolist()):
            near, k = self._rows[(key_bw, s)]
            rows.append(np.full(len(near), i, dtype=np.int64))
            cols.append(near)
            vals.append(k)
        if not rows:
            return csr_matrix((0, len(self)))
        return coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(len(sources), len(self))).tocsr()

    def density(self, piece_weight: np.ndarray, bandwidth_m: float) -> np.ndarray:
        """Network kernel density of weights sitting on pieces.

        Parameters
        ----------
        piece_weight
            Weight on each piece (length ``len(self)``), or a 2-D array with one
            column per layer of weights.
        bandwidth_m
            Kernel bandwidth.

        Returns
        -------
        numpy.ndarray
            Density per metre at each piece's middle, same shape as ``piece_weight``.
        """
        w = np.asarray(piece_weight, dtype=float)
        flat = w.reshape(len(self), -1)
        sources = np.flatnonzero(np.any(flat != 0, axis=1))
        if len(sources) == 0:
            return np.zeros_like(w)
        k = self.kernel_matrix(sources, bandwidth_m)
        return np.asarray(k.T @ flat[sources]).reshape(w.shape)


def _cut(xy: np.ndarray, lonlat: np.ndarray, max_len: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Cut one polyline into equal pieces no longer than ``max_len``."""
    steps = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    total = float(cum[-1])
    n = max(1, math.ceil(total / max_len - 1e-9))
    cuts = np.linspace(0.0, total, n + 1)
    pieces = []
    for a, b in itertools.pairwise(cuts):
        inner = np.flatnonzero((cum > a) & (cum < b))
        where = np.concatenate([[a], cum[inner], [b]])
        px = np.interp(where, cum, xy[:, 0])
        py = np.interp(where, cum, xy[:, 1])
        plon = np.interp(where, cum, lonlat[:, 0])
        plat = np.interp(where, cum, lonlat[:, 1])
        pieces.append((np.column_stack([px, py]), np.column_stack([plon, plat]), float(b - a)))
    return pieces


def _build(network: Network, max_length_m: float) -> StreetPieces:
    # One street per undirected edge: both directions of a two-way street share it,
    # while two different streets joining the same junctions stay apart.
    lo = np.minimum(network.edge_u, network.edge_v)
    hi = np.maximum(network.edge_u, network.edge_v)
    seen: dict[tuple[int, int, int], int] = {}
    streets = []
    for e in range(len(lo)):
        key = (int(lo[e]), int(hi[e]), round(float(network.edge_length[e])))
        if key not in seen:
            seen[key] = e
            streets.append(e)
    n_nodes = len(network.node_ids)
    next_vertex = n_nodes
    g_a: list[int] = []
    g_b: list[int] = []
    g_w: list[float] = []
    street_of, edge_of, lengths, mids, xys, lonlats = [], [], [], [], [], []
    for e in streets:
        parts = _cut(network.edge_xy[e], network.edge_lonlat[e], max_length_m)
        start = int(network.edge_u[e])
        for k, (pxy, plonlat, length) in enumerate(parts):
            if k == len(parts) - 1:
                end = int(network.edge_v[e])
            else:
                end = next_vertex
                next_vertex += 1
            mid = next_vertex
            next_vertex += 1
            half = max(length / 2.0, 1e-3)  # csgraph drops explicit zeros
            g_a += [start, mid]
            g_b += [mid, end]
            g_w += [half, half]
            street_of.append(e)
            edge_of.append(e)
            lengths.append(length)
            mids.append(mid)
            xys.append(pxy)
            lonlats.append(plonlat)
            start = end
    graph = coo_matrix((g_w, (g_a, g_b)), shape=(next_vertex, next_vertex)).tocsr()
    mid_xy = np.array([_midpoint(p) for p in xys])
    mid_ll = np.array([_midpoint(p) for p in lonlats])
    tree = STRtree([LineString(p) for p in xys])
    return StreetPieces(
        max_length_m=max_length_m,
        street=np.array(street_of, dtype=np.int64),
        edge=np.array(edge_of, dtype=np.int64),
        length_m=np.array(lengths, dtype=float),
        mid_x=mid_xy[:, 0], mid_y=mid_xy[:, 1],
        mid_lon=mid_ll[:, 0], mid_lat=mid_ll[:, 1],
        xy=xys, lonlat=lonlats, graph=graph, mid_vertex=np.array(mids, dtype=np.int64),
        _tree=tree,
    )


def _midpoint(coords: np.ndarray) -> tuple[float, float]:
    steps = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    half = cum[-1] / 2.0
    return float(np.interp(half, cum, coords[:, 0])), float(np.interp(half, cum, coords[:, 1]))


_CACHE: weakref.WeakKeyDictionary[Network, dict[float, StreetPieces]] = weakref.WeakKeyDictionary()


def street_pieces(network: Network, max_length_m: float = 50.0) -> StreetPieces:
    """The network's streets cut into pieces of at most ``max_length_m`` (built once per network).

    Parameters
    ----------
    network
        The area's streets.
    max_length_m
        Longest piece; each street is cut into equal pieces.

    Returns
    -------
    StreetPieces
    """
    if max_length_m <= 0:
        raise ValueError("max_length_m must be positive")
    per_net = _CACHE.setdefault(network, {})
    key = float(max_length_m)
    if key not in per_net:
        per_net[key] = _build(network, key)
    return per_net[key]
