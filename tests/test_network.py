"""Network: loading, travel times per mode, snapping, matrices and paths."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from patrols import graph_cache
from patrols.errors import InputError
from patrols.network import Network, load_graph

WESTMINSTER_GRAPHML = Path(__file__).resolve().parents[1] / "data/westminster/westminster_drive_osmnx.graphml"


def test_loads_graphml_and_osm_xml(westminster_network, leeds_network):
    # Westminster GraphML: 3,311 nodes; Leeds .osm.bz2 keeps its walkable component.
    assert len(westminster_network.node_ids) > 3000
    assert len(leeds_network.node_ids) > 100
    assert westminster_network.crs.to_epsg() == 32630


def test_graphml_read_once_then_from_the_cache_beside_it(tmp_path, monkeypatch):
    src = tmp_path / "area" / "streets.graphml"
    src.parent.mkdir()
    src.write_bytes(WESTMINSTER_GRAPHML.read_bytes())
    monkeypatch.setenv("PATROLS_GRAPH_CACHE", "off")
    plain = load_graph(src)
    assert not (src.parent / ".patrols-cache").exists()
    monkeypatch.delenv("PATROLS_GRAPH_CACHE")
    cold = load_graph(src)
    (cached,) = (src.parent / ".patrols-cache").glob("streets.graphml.*.graph.pickle")
    warm = load_graph(src)
    assert warm is not cold
    # The very graph the file gives: nodes, edges, attributes and their order.
    for a in (cold, warm):
        assert list(a.nodes(data=True)) == list(plain.nodes(data=True))
        assert list(a.edges(keys=True, data=True)) == list(plain.edges(keys=True, data=True))
        assert a.graph == plain.graph
    net_plain, net_warm = Network(plain), Network(warm)
    assert np.array_equal(net_plain.node_ids, net_warm.node_ids)
    assert np.array_equal(net_plain.edge_car_time, net_warm.edge_car_time)
    # What reads the file is part of the key, and an edited file is read again.
    assert graph_cache.cache_key(src, None, 0.0, "graphml") != graph_cache.cache_key(src, None, 0.0, "osm")
    cached.write_bytes(b"not a pickle")  # a broken cache is read again, not an error
    assert load_graph(src).number_of_edges() == plain.number_of_edges()
    src.write_bytes(src.read_bytes().replace(b"</graphml>", b"</graphml>\n"))
    load_graph(src)
    assert len(list((src.parent / ".patrols-cache").glob("*.pickle"))) == 2


def test_unknown_and_missing_network_files_are_refused(tmp_path):
    bad = tmp_path / "streets.shp"
    bad.write_text("x")
    with pytest.raises(InputError, match="unknown network format"):
        load_graph(bad)
    with pytest.raises(InputError, match="not found"):
        load_graph(tmp_path / "missing.graphml")
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1'")
    with pytest.raises(InputError, match="cannot read"):
        load_graph(broken)


def test_car_matrix_matches_networkx_shortest_paths(westminster_network):
    net = westminster_network
    rng = np.random.default_rng(4)
    snap = net.snap(rng.uniform(51.50, 51.52, 12), rng.uniform(-0.17, -0.13, 12))
    # Junctions of the OSMnx graph (split points of long streets have negative ids).
    nodes = [n for n in snap.node if net.node_ids[n] >= 0][:6]
    assert len(nodes) == 6
    times = net.travel_times("car", nodes)
    graph = net.graph
    for i in range(3):
        for j in range(3, 6):
            a, b = int(net.node_ids[nodes[i]]), int(net.node_ids[nodes[j]])
            expected = nx.shortest_path_length(graph, a, b, weight="travel_time")
            assert times[i, j] == pytest.approx(expected, rel=1e-6, abs=1e-2)


def test_car_obeys_one_way_rules_and_foot_does_not(westminster_network):
    net = westminster_network
    oneway = [(u, v) for u, v, d in net.graph.edges(data=True) if d.get("oneway") is True
              and not net.graph.has_edge(v, u)]
    assert oneway
    u, v = oneway[0]
    idx = [int(np.flatnonzero(net.node_ids == u)[0]), int(np.flatnonzero(net.node_ids == v)[0])]
    car = net.travel_times("car", idx)
    foot = net.travel_times("foot", idx)
    assert car[0, 1] < car[1, 0]  # against the flow a car must go round
    assert foot[0, 1] == pytest.approx(foot[1, 0])
    length = min(d["length"] for d in net.graph.get_edge_data(u, v).values())
    assert foot[0, 1] == pytest.approx(length / (4.8 / 3.6), rel=1e-6)


def test_long_streets_are_split_so_points_snap_close_along_them(westminster_network):
    net = westminster_network
    assert net.edge_length.max() <= 100.0 + 1e-6
    # Split points carry the street's geometry: both ends of each part lie on the part's line.
    split = np.flatnonzero(net.node_ids < 0)
    assert len(split) > 100
    e = int(np.flatnonzero(net.edge_u == split[0])[0])
    assert net.edge_lonlat[e][0] == pytest.approx((net.lon[split[0]], net.lat[split[0]]))
    # Any point on a street snaps to a node at most half a part away along it.
    rng = np.random.default_rng(1)
    edges = rng.choice(net.snap_edges, 300, replace=False)
    mids = np.array([net.edge_lonlat[e].mean(axis=0) for e in edges])
    snap = net.snap(mids[:, 1], mids[:, 0])
    x, y = net.project(mids[:, 1], mids[:, 0])
    to_node = np.hypot(net.x[snap.node] - x, net.y[snap.node] - y)
    assert np.quantile(to_node, 0.95) <= 50.0 + 5.0


def test_travel_times_to_targets_match_the_square_matrix(westminster_network):
    net = westminster_network
    nodes = [0, 10, 200, 1500, 3000]
    square = net.travel_times("car", nodes)
    rect = net.travel_times("car", nodes[:2], nodes[2:])
    assert rect == pytest.approx(square[:2, 2:])


def test_bounded_path_search_gives_the_same_path(westminster_network):
    net = westminster_network
    legs = [(0, 1500), (1500, 3000), (3000, 0)]
    times = net.travel_times("car", [0, 1500, 3000])
    limits = [times[0, 1], times[1, 2], times[2, 0]]
    assert net.paths("car", legs, limits) == net.paths("car", legs)


def test_snapping_reports_distance_to_the_nearest_street(westminster_network):
    # Charing Cross station is a few metres from a street; a point in Hyde Park's lake is not.
    snap = westminster_network.snap([51.5097, 51.5050], [-0.1245, -0.1700])
    assert snap.distance_m[0] < 30
    assert snap.distance_m[1] > 100


def test_path_geometry_runs_station_to_station(westminster_network):
    net = westminster_network
    snap = net.snap([51.5097, 51.4924], [-0.1245, -0.1490])
    a, b = int(snap.node[0]), int(snap.node[1])
    (path,) = net.paths("car", [(a, b)])
    assert path[0] == pytest.approx((net.lon[a], net.lat[a]))
    assert path[-1] == pytest.approx((net.lon[b], net.lat[b]))
    # The street path is longer than the crow flies but not absurdly so.
    x, y = net.project([net.lat[a], net.lat[b]], [net.lon[a], net.lon[b]])
    crow = float(np.hypot(x[1] - x[0], y[1] - y[0]))
    assert crow < net.path_length_m(path) < 2.5 * crow
