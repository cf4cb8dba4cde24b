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

Distances are found tile by tile so that their cost grows linearly with the
area (see :meth:`StreetPieces.distances_from`): a walk of length ``L`` never
ends farther than ``L`` in a straight line from where it began, so the
distances from a patch of sources need only the streets around that patch.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely import STRtree, linestrings, points

from patrols.network import Network

# Most sources per Dijkstra call.
_BATCH = 64
# Largest dense distance block per Dijkstra call (cells; 8 bytes each): about 8 MB.
_BLOCK = 1 << 20
# Side of the source tiles: 1.5 x the distance limit, and at least 600 m so that a tile holds
# enough sources to pay for cutting out its sub-graph (both measured on a city street grid).
_TILE = 1.5
_MIN_TILE_M = 600.0
# Extra margin (m) around a tile's neighbourhood: absorbs float rounding of coordinates and sums.
_SLACK_M = 1.0


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
    vertex_xy: np.ndarray
    """Projected position (metres, ``V x 2``) of every vertex of ``graph``: junctions at their
    network node, cut points and middles on the piece geometry."""
    _tree: STRtree = field(repr=False)
    _sym: csr_matrix = field(repr=False)
    """``graph`` made symmetric (both directions of every edge), for directed Dijkstra."""
    _vertex_piece: np.ndarray = field(repr=False)
    """Piece whose middle each vertex is, or -1."""
    _stretch: float = field(repr=False)
    """Largest straight-line length per metre of graph edge (1 when every edge weight is at
    least the straight distance between its ends, as for real geometry)."""
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

        The sources are grouped into square tiles (side ``1.5 x limit_m``, at
        least 600 m), and each tile's Dijkstra runs on the sub-graph induced by
        the vertices within ``stretch x limit_m`` (plus 1 m for rounding) of
        the bounding box of the tile's sources. ``stretch`` is the largest
        straight-line length per metre of any graph edge: 1 for the pieces,
        whose edge weights are half a piece's arc length, never less than the
        chord from its end to its middle (the 1e-3 floors only raise weights).

        Exact: every vertex on a shortest path of length ``d <= limit_m`` from
        a source is within network distance ``d`` of it, hence within
        straight-line distance ``stretch x d``; so the whole path lies in the
        sub-graph, and a sub-graph never makes a path shorter. The pieces and
        distances are those of Dijkstra on the whole graph.

        Cost: Dijkstra on the whole graph sets up ``O(V)`` per source, so
        ``O(sources x V)`` in all: quadratic in the area. A tile's sub-graph
        holds the streets of a fixed area around it, independent of the
        area's size, so the cost here is ``O(V log V + sources x street
        density x limit_m^2)``: linear in the area for a given street density
        and bandwidth. Dense blocks stay under ``_BLOCK`` cells.

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
        sources = np.asarray(sources, dtype=np.int64).ravel()
        if len(sources) == 0:
            return []
        limit = float(limit_m)
        uniq, inverse = np.unique(sources, return_inverse=True)
        found: list[tuple[np.ndarray, np.ndarray]] = [None] * len(uniq)  # type: ignore[list-item]
        vxy = self.vertex_xy
        n_vert = len(vxy)
        margin = self._stretch * limit + _SLACK_M if np.isfinite(limit) else np.inf
        side = max(_TILE * limit, _MIN_TILE_M)
        src_xy = vxy[self.mid_vertex[uniq]]
        lo = vxy.min(axis=0)
        span = vxy.max(axis=0) - lo
        if not np.isfinite(margin) or np.all(margin >= span):
            # The neighbourhood of any source is the whole graph: one region.
            tiles: Iterator[tuple[np.ndarray, np.ndarray]] = iter([(np.arange(len(uniq)), np.arange(n_vert))])
        else:
            tiles = self._tiles(src_xy, side, margin)
        local = np.full(n_vert, -1, dtype=np.int64)
        for members, idx in tiles:
            local[idx] = np.arange(len(idx))
            sub = self._sym[idx]
            cols = local[sub.indices]
            keep = cols >= 0
            row_of = np.repeat(np.arange(len(idx)), np.diff(sub.indptr))
            indptr = np.zeros(len(idx) + 1, dtype=np.int64)
            np.cumsum(np.bincount(row_of[keep], minlength=len(idx)), out=indptr[1:])
            graph = csr_matrix((sub.data[keep], cols[keep], indptr), shape=(len(idx), len(idx)))
            at_piece = self._vertex_piece[idx]
            mids = np.flatnonzero(at_piece >= 0)  # local vertices, in piece order
            mid_piece = at_piece[mids]
            starts = local[self.mid_vertex[uniq[members]]]
            local[idx] = -1
            batch = int(max(1, min(_BATCH, _BLOCK // max(len(idx), 1))))
            for b0 in range(0, len(members), batch):
                rows = members[b0:b0 + batch]
                dist = dijkstra(graph, directed=True, indices=starts[b0:b0 + batch], limit=limit)
                at_mid = dist[:, mids]
                r, c = np.nonzero(at_mid <= limit)
                cut = np.searchsorted(r, np.arange(1, len(rows)))
                for k, (rc, cc) in enumerate(zip(np.split(r, cut), np.split(c, cut), strict=True)):
                    found[rows[k]] = (mid_piece[cc], at_mid[rc, cc])
        return [found[i] for i in inverse.tolist()]

    def _tiles(self, src_xy: np.ndarray, side: float,
               margin: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per square tile: its sources (rows of ``src_xy``), and the vertices within
        ``margin`` of their bounding box, sorted."""
        vxy = self.vertex_xy
        lo = vxy.min(axis=0)
        n_cols = int((vxy[:, 0].max() - lo[0]) // side) + 1
        n_rows = int((vxy[:, 1].max() - lo[1]) // side) + 1
        # Vertices sorted by cell (row-major), so one row of cells is one slice.
        v_cell = np.floor((vxy - lo) / side).astype(np.int64)
        v_key = v_cell[:, 1] * n_cols + v_cell[:, 0]
        v_order = np.argsort(v_key, kind="stable")
        v_sorted = v_key[v_order]
        s_cell = np.floor((src_xy - lo) / side).astype(np.int64)
        s_key = s_cell[:, 1] * n_cols + s_cell[:, 0]
        s_order = np.argsort(s_key, kind="stable")
        s_sorted = s_key[s_order]
        bounds = np.flatnonzero(np.diff(s_sorted)) + 1
        for members in np.split(s_order, bounds):
            pts = src_xy[members]
            box_lo = pts.min(axis=0) - margin
            box_hi = pts.max(axis=0) + margin
            c0, r0 = np.clip(np.floor((box_lo - lo) / side).astype(np.int64), 0, [n_cols - 1, n_rows - 1])
            c1, r1 = np.clip(np.floor((box_hi - lo) / side).astype(np.int64), 0, [n_cols - 1, n_rows - 1])
            row_keys = np.arange(r0, r1 + 1) * n_cols
            a = np.searchsorted(v_sorted, row_keys + c0, side="left")
            b = np.searchsorted(v_sorted, row_keys + c1, side="right")
            cand = np.concatenate([v_order[i:j] for i, j in zip(a.tolist(), b.tolist(), strict=True)])
            # Straight-line distance from each candidate to the sources' bounding box.
            p = vxy[cand]
            gap = np.maximum(np.maximum(pts.min(axis=0) - p, p - pts.max(axis=0)), 0.0)
            yield members, np.sort(cand[np.hypot(gap[:, 0], gap[:, 1]) <= margin])

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
        cache = self._rows
        listed = sources.tolist()
        missing = np.array(sorted({s for s in listed if (key_bw, s) not in cache}), dtype=np.int64)
        if len(missing):
            found = self.distances_from(missing, key_bw)
            # One kernel evaluation for all new rows (elementwise: the same values as row by row).
            kernel = quartic(np.concatenate([dist for _, dist in found]), key_bw)
            ends = np.cumsum([len(near) for near, _ in found]).tolist()
            for s, (near, _), a, b in zip(missing.tolist(), found, [0, *ends[:-1]], ends, strict=True):
                cache[(key_bw, s)] = (near, kernel[a:b])
        if not listed:
            return csr_matrix((0, len(self)))
        got = [cache[(key_bw, s)] for s in listed]
        # Each cached row holds distinct pieces in increasing order: already CSR rows.
        indptr = np.zeros(len(got) + 1, dtype=np.int64)
        np.cumsum([len(near) for near, _ in got], out=indptr[1:])
        return csr_matrix((np.concatenate([k for _, k in got]), np.concatenate([near for near, _ in got]),
                           indptr), shape=(len(sources), len(self)))

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
    d = xy[1:] - xy[:-1]
    steps = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    total = float(cum[-1])
    n = max(1, math.ceil(total / max_len - 1e-9))
    cuts = np.linspace(0.0, total, n + 1)
    # cum is sorted: the points strictly inside each (a, b) are one slice of it. All the
    # pieces' points are interpolated at once (np.interp is pointwise: same values).
    inner_from = np.searchsorted(cum, cuts[:-1], side="right").tolist()
    inner_to = np.searchsorted(cum, cuts[1:], side="left").tolist()
    where = np.concatenate([np.concatenate([cuts[k:k + 1], cum[i:j], cuts[k + 1:k + 2]])
                            for k, (i, j) in enumerate(zip(inner_from, inner_to, strict=True))])
    pxy = np.column_stack([np.interp(where, cum, xy[:, 0]), np.interp(where, cum, xy[:, 1])])
    pll = np.column_stack([np.interp(where, cum, lonlat[:, 0]), np.interp(where, cum, lonlat[:, 1])])
    ends = np.cumsum([j - i + 2 for i, j in zip(inner_from, inner_to, strict=True)]).tolist()
    starts = [0, *ends[:-1]]
    lengths = (cuts[1:] - cuts[:-1]).tolist()
    return [(pxy[a:b], pll[a:b], length) for a, b, length in zip(starts, ends, lengths, strict=True)]


def _whole_streets(network: Network) -> list[tuple[int, int, int, np.ndarray, np.ndarray]]:
    """Each graph edge as one street again: (first part, start node, end node, xy, lonlat).

    The network splits long streets into parts for snapping (see
    :mod:`patrols.network`); pieces are cut from whole streets so that they do
    not depend on that split. Both directions of a two-way street give one
    street; two different streets joining the same junctions stay apart.
    """
    first, stop = network.graph_edges()
    last = stop - 1
    lo = np.minimum(network.edge_u[first], network.edge_v[last])
    hi = np.maximum(network.edge_u[first], network.edge_v[last])
    length = np.add.reduceat(network.edge_length, first) if len(first) else np.zeros(0)
    seen: set[tuple[int, int, int]] = set()
    out = []
    for k, (a, b) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        key = (int(lo[k]), int(hi[k]), round(float(length[k])))
        if key in seen:
            continue
        seen.add(key)
        xy, lonlat = network.joined(a, b + 1, projected=True), network.joined(a, b + 1)
        out.append((a, int(network.edge_u[a]), int(network.edge_v[b]), xy, lonlat))
    return out


def _build(network: Network, max_length_m: float) -> StreetPieces:
    streets = _whole_streets(network)
    n_nodes = len(network.node_ids)
    next_vertex = n_nodes
    g_a: list[int] = []
    g_b: list[int] = []
    g_w: list[float] = []
    street_of, lengths, mids, xys, lonlats = [], [], [], [], []
    cut_vertex: list[int] = []
    cut_xy: list[np.ndarray] = []
    # A linear loop over the streets: most of the build's time (the rest is vectorised).
    for e, street_start, street_end, street_xy, street_lonlat in streets:
        parts = _cut(street_xy, street_lonlat, max_length_m)
        start = street_start
        for k, (pxy, plonlat, length) in enumerate(parts):
            if k == len(parts) - 1:
                end = street_end
            else:
                end = next_vertex
                next_vertex += 1
                cut_vertex.append(end)
                cut_xy.append(pxy[-1])
            mid = next_vertex
            next_vertex += 1
            half = max(length / 2.0, 1e-3)  # csgraph drops explicit zeros
            g_a += [start, mid]
            g_b += [mid, end]
            g_w += [half, half]
            street_of.append(e)
            lengths.append(length)
            mids.append(mid)
            xys.append(pxy)
            lonlats.append(plonlat)
            start = end
    graph = coo_matrix((g_w, (g_a, g_b)), shape=(next_vertex, next_vertex)).tocsr()
    mid_vertex = np.array(mids, dtype=np.int64)
    mid_xy = _midpoints(xys)
    mid_ll = _midpoints(lonlats)
    # Where every vertex is: junctions at their node, cut points and middles on the pieces.
    vertex_xy = np.empty((next_vertex, 2))
    vertex_xy[:n_nodes, 0], vertex_xy[:n_nodes, 1] = network.x, network.y
    vertex_xy[np.array(cut_vertex, dtype=np.int64)] = np.reshape(cut_xy, (-1, 2))
    vertex_xy[mid_vertex] = mid_xy
    a, b, w = np.asarray(g_a, dtype=np.int64), np.asarray(g_b, dtype=np.int64), np.asarray(g_w, dtype=float)
    chord = np.hypot(*(vertex_xy[a] - vertex_xy[b]).T)
    stretch = float(max(1.0, np.max(chord / w, initial=0.0)))
    vertex_piece = np.full(next_vertex, -1, dtype=np.int64)
    vertex_piece[mid_vertex] = np.arange(len(mid_vertex))
    sizes = np.array([len(p) for p in xys], dtype=np.int64)
    tree = STRtree(linestrings(np.concatenate(xys), indices=np.repeat(np.arange(len(xys)), sizes)))
    street = np.array(street_of, dtype=np.int64)
    return StreetPieces(
        max_length_m=max_length_m,
        street=street,
        edge=street.copy(),
        length_m=np.array(lengths, dtype=float),
        mid_x=mid_xy[:, 0], mid_y=mid_xy[:, 1],
        mid_lon=mid_ll[:, 0], mid_lat=mid_ll[:, 1],
        xy=xys, lonlat=lonlats, graph=graph, mid_vertex=mid_vertex, vertex_xy=vertex_xy,
        _tree=tree, _sym=_symmetric(a, b, w, next_vertex), _vertex_piece=vertex_piece, _stretch=stretch,
    )


def _symmetric(a: np.ndarray, b: np.ndarray, w: np.ndarray, n: int) -> csr_matrix:
    """Both directions of every edge, the lightest where two join the same vertices.

    Dijkstra with ``directed=False`` reads an edge either way at its lighter
    weight; this matrix gives the same distances with ``directed=True``, without
    transposing the graph on every call.
    """
    rows, cols, vals = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w])
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return csr_matrix((vals[first], (rows[first], cols[first])), shape=(n, n))


def _midpoints(lines: list[np.ndarray]) -> np.ndarray:
    """The point half-way along each polyline (``n x 2``), as ``np.interp`` finds it, bit for bit.

    Polylines with the same number of points are stacked; the interpolation is
    ``np.interp``'s own arithmetic (knot ``j`` is the last at or before the
    half-way mark; an exact hit or the last knot takes the knot's value).
    """
    out = np.empty((len(lines), 2))
    sizes = np.array([len(c) for c in lines], dtype=np.int64)
    for k in np.unique(sizes).tolist():
        which = np.flatnonzero(sizes == k)
        c = np.stack([lines[i] for i in which.tolist()])
        d = c[:, 1:] - c[:, :-1]
        cum = np.zeros((len(which), k))
        cum[:, 1:] = np.cumsum(np.hypot(d[..., 0], d[..., 1]), axis=1)
        half = cum[:, -1] / 2.0
        rows = np.arange(len(which))
        j = np.count_nonzero(cum <= half[:, None], axis=1) - 1
        j1 = np.minimum(j + 1, k - 1)
        x0, x1 = cum[rows, j], cum[rows, j1]
        at_knot = (j == k - 1) | (x0 == half)
        for axis in (0, 1):
            y0, y1 = c[rows, j, axis], c[rows, j1, axis]
            with np.errstate(invalid="ignore", divide="ignore"):
                between = (y1 - y0) / (x1 - x0) * (half - x0) + y0
            out[which, axis] = np.where(at_knot, y0, between)
    return out


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
