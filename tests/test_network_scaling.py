"""Building a network grows linearly with it (a ratio measured in one run)."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np

from patrols.network import Network

from conftest import grid_graph

LAT0, LON0 = 51.5, -0.14
M_LAT = 1.0 / 111_320.0
M_LON = 1.0 / (111_320.0 * np.cos(np.radians(LAT0)))


def _grid_graph(n: int, block_m: float = 150.0) -> nx.MultiDiGraph:
    """An ``n x n`` block grid whose streets (150 m) are each split in two by the network."""
    return grid_graph(n, block_m, LAT0, LON0)


def _best_build_s(sizes: tuple[int, ...], runs: int = 5) -> list[float]:
    """The fastest of ``runs`` builds of each size, the sizes taken in turn so both see the same load."""
    best = [float("inf")] * len(sizes)
    for _ in range(runs):
        for k, n in enumerate(sizes):
            graph = _grid_graph(n)
            began = time.perf_counter()
            Network(graph)
            best[k] = min(best[k], time.perf_counter() - began)
    return best


def test_network_build_grows_linearly():
    small, large = _best_build_s((25, 50))   # 676 and 2,601 junctions: about 4x
    assert large / small < 6.0, f"4x the streets took {large / small:.1f}x the time"


def test_split_streets_keep_both_directions_on_one_chain():
    net = Network(_grid_graph(3))
    # Every 150 m street is split once; both directions share the new node.
    assert len(net.node_ids) == 16 + 24
    assert net.edge_length.max() <= 100.0
    a, b = [int(np.flatnonzero(net.node_ids == k)[0]) for k in (0, 1)]
    t = net.travel_times("car", [a, b])
    assert t[0, 1] == t[1, 0] > 0
