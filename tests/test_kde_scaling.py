"""Network kernel density at scale: distances found tile by tile, exact and linear in the area.

Synthetic square street grids (100 m blocks, two-way residential streets, as
OSMnx would give them) around lon -0.1, lat 51.5.
"""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from patrols import kde
from patrols.kde import street_pieces
from patrols.network import Network

from conftest import grid_graph

LAT0, LON0 = 51.5, -0.1
M_LAT = 1.0 / 111_320.0
M_LON = 1.0 / (111_320.0 * np.cos(np.radians(LAT0)))


def _grid(n: int, block_m: float = 100.0) -> Network:
    """An ``n x n`` block street grid: ``(n + 1)**2`` junctions, every street both ways."""
    return Network(grid_graph(n, block_m, LAT0, LON0))


def _whole_graph(pieces, sources: np.ndarray, limit: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The plain way: Dijkstra on the whole piece graph (quadratic, for reference)."""
    dist = dijkstra(pieces.graph, directed=False, indices=pieces.mid_vertex[sources], limit=limit)
    out = []
    for row in dist[:, pieces.mid_vertex]:
        near = np.flatnonzero(row <= limit)
        out.append((near, row[near]))
    return out


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    for (g_near, g_dist), (w_near, w_dist) in zip(got, want, strict=True):
        np.testing.assert_array_equal(g_near, w_near)
        np.testing.assert_allclose(g_dist, w_dist, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def grid20() -> Network:
    return _grid(20)


def test_vertices_sit_where_the_streets_are(grid20):
    pieces = street_pieces(grid20)
    xy = pieces.vertex_xy
    assert xy.shape == (pieces.graph.shape[0], 2)
    np.testing.assert_array_equal(xy[: len(grid20.node_ids), 0], grid20.x)
    np.testing.assert_array_equal(xy[pieces.mid_vertex, 0], pieces.mid_x)
    np.testing.assert_array_equal(xy[pieces.mid_vertex, 1], pieces.mid_y)
    # The locality argument: no edge is shorter than the straight line between its ends.
    g = pieces.graph.tocoo()
    chord = np.hypot(*(xy[g.row] - xy[g.col]).T)
    assert np.all(chord <= g.data * (1 + 1e-9) + 1e-9)
    assert pieces._stretch == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("min_tile_m", [600.0, 50.0])
@pytest.mark.parametrize("limit", [40.0, 150.0, 250.0, 700.0])
def test_tiled_distances_equal_dijkstra_on_the_whole_graph(grid20, monkeypatch, min_tile_m, limit):
    monkeypatch.setattr(kde, "_MIN_TILE_M", min_tile_m)  # 50 m: many small tiles
    pieces = street_pieces(grid20)
    sources = np.arange(len(pieces))
    _assert_same(pieces.distances_from(sources, limit), _whole_graph(pieces, sources, limit))


def test_distances_follow_the_streets(grid20):
    pieces = street_pieces(grid20)
    g = nx.Graph()
    coo = pieces.graph.tocoo()
    for a, b, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
        if not g.has_edge(a, b) or g[a][b]["weight"] > w:
            g.add_edge(a, b, weight=w)
    mid_piece = {int(v): p for p, v in enumerate(pieces.mid_vertex.tolist())}
    rng = np.random.default_rng(3)
    sources = rng.choice(len(pieces), 6, replace=False)
    for (near, dist), s in zip(pieces.distances_from(sources, 250.0), sources, strict=True):
        lengths = nx.single_source_dijkstra_path_length(g, int(pieces.mid_vertex[s]), cutoff=250.0)
        want = sorted((mid_piece[v], d) for v, d in lengths.items() if v in mid_piece)
        np.testing.assert_array_equal(near, [p for p, _ in want])
        np.testing.assert_allclose(dist, [d for _, d in want], atol=1e-6)
        assert dist[near == s][0] == 0.0


def test_sources_in_any_order_with_repeats(grid20):
    pieces = street_pieces(grid20)
    sources = np.array([17, 3, 900, 17, 3, len(pieces) - 1])
    _assert_same(pieces.distances_from(sources, 250.0), _whole_graph(pieces, sources, 250.0))
    assert pieces.distances_from(np.array([], dtype=int), 250.0) == []
    # No limit: every piece, through the whole graph in one region.
    _assert_same(pieces.distances_from(sources[:2], np.inf), _whole_graph(pieces, sources[:2], np.inf))


def test_kernel_matrix_and_density_match_the_whole_graph(grid20):
    pieces = kde._build(grid20, 50.0)
    rng = np.random.default_rng(5)
    w = np.where(rng.random(len(pieces)) < 0.3, rng.random(len(pieces)), 0.0)
    got = pieces.density(w, 250.0)
    sources = np.flatnonzero(w)
    want = np.zeros(len(pieces))
    for s, (near, dist) in zip(sources, _whole_graph(pieces, sources, 250.0), strict=True):
        want[near] += w[s] * kde.quartic(dist, 250.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_midpoints_are_np_interp_bit_for_bit():
    rng = np.random.default_rng(7)
    lines = [rng.normal(size=(k, 2)) * 50 for k in (2, 2, 3, 5, 9, 9)]
    lines.append(np.array([[1.0, 2.0], [1.0, 2.0]]))                 # zero length
    lines.append(np.array([[0.0, 0.0], [0.0, 0.0], [4.0, 0.0]]))     # repeated point
    lines.append(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))  # knot at half-way
    got = kde._midpoints(lines)
    for line, (x, y) in zip(lines, got, strict=True):
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
        assert x == np.interp(cum[-1] / 2, cum, line[:, 0])
        assert y == np.interp(cum[-1] / 2, cum, line[:, 1])


def _best_density_time(pieces, weights: np.ndarray) -> float:
    best = np.inf
    for _ in range(3):
        pieces._rows.clear()  # no cached kernel rows: time the distances
        began = time.perf_counter()
        pieces.density(weights, 250.0)
        best = min(best, time.perf_counter() - began)
    return best


def test_density_time_grows_linearly_with_the_area():
    # A kernel source on every piece; 4x the area is 4x the pieces and the sources.
    times, sizes = [], []
    for n in (30, 60):
        pieces = kde._build(_grid(n), 50.0)
        times.append(_best_density_time(pieces, np.ones(len(pieces))))
        sizes.append(len(pieces))
    assert sizes[1] / sizes[0] == pytest.approx(4.0, rel=0.05)
    # Dijkstra on the whole graph per batch of sources took 18x here (0.33 s -> 5.9 s).
    assert times[1] <= 6.0 * times[0], f"density took {times[0]:.3f} s then {times[1]:.3f} s at 4x the area"


def test_tiled_distances_on_real_streets(westminster_network):
    # Curved OSM geometry, dead ends, parallel streets: the same as the whole graph.
    pieces = street_pieces(westminster_network)
    rng = np.random.default_rng(11)
    sources = rng.choice(len(pieces), 1000, replace=False)
    for limit in (75.0, 250.0):
        _assert_same(pieces.distances_from(sources, limit), _whole_graph(pieces, sources, limit))
