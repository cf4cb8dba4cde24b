"""Reading OSM extracts (PBF and XML) into car + foot graphs with OSMnx 2.x semantics."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pyproj
import pytest
import shapely
from osmnx.simplification import _is_endpoint

from patrols import graph_cache, osm
from patrols.errors import InputError
from patrols.osm import read_osm_graph, way_networks

REPO = Path(__file__).resolve().parent.parent
# The Geofabrik extract bundled with the Rutland demo area (data/rutland/README.md).
RUTLAND = REPO / "data" / "rutland" / "rutland-latest.osm.pbf"
LEEDS = Path(__file__).parent / "data" / "leeds" / "its_leeds_network.osm.bz2"
# About 2 km x 2 km around Oakham centre (-0.7286, 52.6728).
OAKHAM = shapely.box(-0.7286 - 0.0148, 52.6728 - 0.009, -0.7286 + 0.0148, 52.6728 + 0.009)
TO_UTM = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)


def _mode_graph(graph: nx.MultiDiGraph, mode: str) -> nx.MultiDiGraph:
    keep = [(u, v, k) for u, v, k, ok in graph.edges(keys=True, data=mode) if ok]
    return nx.MultiDiGraph(graph.edge_subgraph(keep))


def _metres_outside_box(graph: nx.MultiDiGraph, box) -> np.ndarray:
    x, y = TO_UTM.transform(
        [d["x"] for _, d in graph.nodes(data=True)], [d["y"] for _, d in graph.nodes(data=True)]
    )
    box_utm = shapely.transform(box, TO_UTM.transform, interleaved=False)
    return shapely.distance(box_utm, shapely.points(x, y))


@pytest.fixture(scope="module")
def oakham():
    return read_osm_graph(RUTLAND, boundary=OAKHAM, cache_dir=False)


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["drive", "walk"])
def test_filters_mirror_osmnx(network):
    # Parse OSMnx's own Overpass filter and compare it with the table in patrols.osm.
    text = ox._overpass._get_network_filter(network)
    clauses = re.findall(r'\["([^"]+)"(?:!~"([^"]*)")?\]', text)
    assert "".join(f'["{k}"]' if not rx else f'["{k}"!~"{rx}"]' for k, rx in clauses) == text
    assert clauses[0] == ("highway", "")  # tag present
    assert tuple(clauses[1:]) == osm._NETWORK_FILTERS[network]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "residential"}, (True, True)),
        ({"highway": "motorway"}, (True, False)),
        ({"highway": "motorway_link"}, (True, False)),  # !~"motor" is an unanchored search
        ({"highway": "footway"}, (False, True)),
        ({"highway": "steps"}, (False, True)),
        ({"highway": "cycleway"}, (False, False)),
        ({"highway": "service"}, (False, True)),
        ({"highway": "service", "service": "driveway"}, (False, True)),
        ({"highway": "residential", "access": "private"}, (False, False)),
        ({"highway": "residential", "foot": "no"}, (True, False)),
        ({"highway": "primary", "sidewalk": "separate"}, (True, False)),
        ({"highway": "residential", "motor_vehicle": "no"}, (False, True)),
        ({"highway": "pedestrian", "area": "yes"}, (False, False)),
        ({"highway": "proposed"}, (False, False)),
        ({"building": "yes"}, (False, False)),
    ],
)
def test_way_networks(tags, expected):
    assert way_networks(tags) == expected


# --- Rutland PBF clipped around Oakham -----------------------------------------------------------


def test_clip_keeps_only_nodes_inside_the_buffered_boundary(oakham):
    outside = _metres_outside_box(oakham, OAKHAM)
    assert len(oakham) > 300
    assert outside.max() <= 500.0 + 1.0  # buffer_m=500 (1 m for the UTM zone 30 vs local metric)
    assert (outside > 400).any(), "streets just inside the buffer zone are kept"
    assert (outside == 0).sum() > 0.5 * len(oakham)
    assert all(d["x"] > -0.9 and 52.5 < d["y"] < 52.8 for _, d in oakham.nodes(data=True))
    smaller = read_osm_graph(RUTLAND, boundary=OAKHAM, buffer_m=0.0, cache_dir=False)
    assert _metres_outside_box(smaller, OAKHAM).max() == 0.0
    assert len(smaller) < len(oakham)


def test_both_modes_and_highway_classes(oakham):
    edges = list(oakham.edges(keys=True, data=True))
    assert all(type(d["car"]) is bool and type(d["foot"]) is bool for *_, d in edges)
    assert all(d["car"] or d["foot"] for *_, d in edges)
    foot_only = [d for *_, d in edges if d["foot"] and not d["car"]]
    assert any(d["highway"] == "footway" for d in foot_only)
    assert sum(d["car"] for *_, d in edges) > 500
    for *_, d in edges:
        highways = set(d["highway"]) if isinstance(d["highway"], list) else {d["highway"]}
        assert "cycleway" not in highways  # excluded by both filters
        if d["car"]:
            assert not highways & {"footway", "path", "steps", "pedestrian", "track", "service", "bridleway"}
        if d["foot"]:
            assert not any(h.startswith("motorway") for h in highways)
    # footways go both ways, on foot only
    for u, v, _, d in edges:
        if d["highway"] == "footway" and not isinstance(d["osmid"], list):
            assert any(b["foot"] and not b["car"] for b in oakham.get_edge_data(v, u).values())


def test_lengths_and_osmnx_attributes(oakham):
    assert oakham.graph["crs"] == "epsg:4326" and oakham.graph["simplified"] is True
    lengths = np.array([d for *_, d in oakham.edges(data="length")], dtype=float)
    assert np.isfinite(lengths).all() and (lengths > 0).all()
    assert all(isinstance(d["street_count"], int) for _, d in oakham.nodes(data=True))
    assert any(d.get("name") for *_, d in oakham.edges(data=True))
    assert all(isinstance(d["oneway"], bool) for *_, d in oakham.edges(data=True))
    with_speeds = ox.routing.add_edge_travel_times(ox.routing.add_edge_speeds(oakham.copy()))
    assert all(d > 0 for *_, d in with_speeds.edges(data="travel_time"))


def _oneway_yes_ways_in(path: Path, box) -> dict[int, list[int]]:
    """Drivable ways tagged oneway=yes with every node inside ``box``: id -> node ids."""
    found = {}
    processor = osmium.FileProcessor(str(path)).with_locations()
    for way in processor.with_filter(osmium.filter.KeyFilter("oneway")):
        if not way.is_way() or way.tags.get("oneway") != "yes" or not way_networks(dict(way.tags))[0]:
            continue
        nodes = list(way.nodes)
        if nodes[0].ref != nodes[-1].ref and all(box.contains(shapely.Point(n.lon, n.lat)) for n in nodes):
            found[way.id] = [n.ref for n in nodes]
    return found


def test_oneway_streets_are_one_way_by_car_and_two_way_on_foot(oakham):
    ways = _oneway_yes_ways_in(RUTLAND, OAKHAM)
    assert ways, "Oakham has one-way streets"
    checked = 0
    for u, v, d in oakham.edges(data=True):
        if not isinstance(d["osmid"], int) or d["osmid"] not in ways or not d["car"]:
            continue
        order = ways[d["osmid"]]
        assert d["oneway"] is True and d["reversed"] is False
        assert order.index(u) < order.index(v), "cars go in the order of the way's nodes"
        back = oakham.get_edge_data(v, u)
        assert back is not None and all(not b["car"] for b in back.values() if b["osmid"] == d["osmid"])
        assert any(b["foot"] and b["reversed"] for b in back.values())
        checked += 1
    assert checked >= 3


def _write_network_xml(src: Path, network: str, area, out: Path) -> None:
    """The ways of ``network`` with a node in ``area``, and all their nodes, as OSM XML."""
    want = 0 if network == "drive" else 1
    ways, refs = [], set()
    processor = osmium.FileProcessor(str(src)).with_locations()
    for way in processor.with_filter(osmium.filter.KeyFilter("highway")):
        if way.is_way() and way_networks(dict(way.tags))[want]:
            nodes = list(way.nodes)
            if any(area.contains(shapely.Point(n.lon, n.lat)) for n in nodes if n.location.valid()):
                ids = [n.ref for n in nodes]
                ways.append(osmium.osm.mutable.Way(id=way.id, nodes=ids, tags=dict(way.tags)))
                refs.update(ids)
    writer = osmium.SimpleWriter(str(out))
    try:
        for node in osmium.FileProcessor(str(src), osmium.osm.NODE):
            if node.id in refs:
                writer.add_node(node)
        for way in ways:
            writer.add_way(way)
    finally:
        writer.close()


@pytest.mark.parametrize("network", ["drive", "walk"])
def test_matches_osmnx_pipeline_on_the_clip(network, oakham, tmp_path):
    """OSMnx itself (graph_from_xml + truncate + simplify) on the same ways gives the same network."""
    mode = "car" if network == "drive" else "foot"
    clip = osm.buffered(OAKHAM, 500.0)
    xml = tmp_path / f"{network}.osm"
    _write_network_xml(RUTLAND, network, clip, xml)
    theirs = ox.graph_from_xml(xml, bidirectional=network == "walk", simplify=False, retain_all=True)
    theirs = ox.truncate.truncate_graph_polygon(theirs, clip)
    theirs.remove_nodes_from([n for n in list(theirs) if theirs.degree(n) == 0])

    # Unsimplified: the same directed edges with the same OSMnx attributes.
    ours = _mode_graph(osm._build_graph(RUTLAND, OAKHAM, 500.0), mode)
    keys = ("osmid", "highway", "name") + (("oneway", "reversed") if mode == "car" else ())

    def rows(graph):
        return Counter(
            (u, v, round(d["length"], 6), *(d.get(k) for k in keys)) for u, v, d in graph.edges(data=True)
        )

    assert set(ours) == set(theirs)
    assert rows(ours) == rows(theirs)

    # Simplified: our graph keeps every junction of both modes, so compare the nodes that OSMnx's
    # endpoint rules keep in our mode's sub-graph with the nodes OSMnx's simplified graph has.
    simple = ox.simplify_graph(theirs)
    sub = _mode_graph(oakham, mode)
    ends = {n for n in sub if _is_endpoint(sub, n, None, None)}
    differ = ends ^ set(simple)
    assert len(differ) <= 0.02 * len(simple), (
        f"{len(ends)} {mode} junctions vs OSMnx {len(simple)}; the few differences are loops of one way "
        "that a path of the other mode splits (OSMnx makes them a self-loop on another node)"
    )
    assert sum(d for *_, d in sub.edges(data="length")) == pytest.approx(
        sum(d for *_, d in simple.edges(data="length")), rel=1e-9
    )
    # every node of ours in this mode is one OSMnx has too (same ids)
    assert set(sub) <= set(theirs)


# --- cache -----------------------------------------------------------------------------------------


def _same_graph(a: nx.MultiDiGraph, b: nx.MultiDiGraph) -> bool:
    return (
        dict(a.nodes(data=True)) == dict(b.nodes(data=True))
        and sorted(a.edges(keys=True)) == sorted(b.edges(keys=True))
        and all(a.edges[e] == b.edges[e] for e in a.edges(keys=True))
    )


def test_cache_hit_is_fast_and_the_same_graph(tmp_path):
    start = time.perf_counter()
    cold = read_osm_graph(RUTLAND, boundary=OAKHAM, cache_dir=tmp_path)
    cold_s = time.perf_counter() - start
    files = list(tmp_path.glob("*.pickle"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    start = time.perf_counter()
    warm = read_osm_graph(RUTLAND, boundary=OAKHAM, cache_dir=tmp_path)
    warm_s = time.perf_counter() - start
    assert warm_s < cold_s / 3, (cold_s, warm_s)
    assert warm is not cold and _same_graph(cold, warm)

    other = read_osm_graph(RUTLAND, boundary=OAKHAM, buffer_m=100.0, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pickle"))) == 2, "buffer_m is part of the cache key"
    assert len(other) < len(cold)
    assert graph_cache.cache_key(RUTLAND, OAKHAM, 500.0) != graph_cache.cache_key(RUTLAND, OAKHAM, 100.0)
    assert graph_cache.cache_key(RUTLAND, OAKHAM, 500.0) != graph_cache.cache_key(RUTLAND, None, 500.0)


def test_default_cache_dir_avoids_read_only_data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if not graph_cache.writable(RUTLAND.parent):  # shared data has no write bits (even for root)
        assert graph_cache.default_cache_dir(RUTLAND) == tmp_path / "patrols"
        assert not (RUTLAND.parent / ".patrols-cache").exists()


def test_default_cache_dir_beside_the_file_and_corrupt_cache(tmp_path):
    data = tmp_path / "area"
    data.mkdir()
    src = data / LEEDS.name
    src.write_bytes(LEEDS.read_bytes())
    first = read_osm_graph(src)
    (cached,) = (data / ".patrols-cache").glob("*.pickle")
    cached.write_bytes(b"not a pickle")  # a broken cache is rebuilt, not an error
    again = read_osm_graph(src)
    assert _same_graph(first, again)
    assert read_osm_graph(src, cache_dir=False) is not None


# --- Leeds XML ---------------------------------------------------------------------------------------


def test_leeds_xml_is_comparable_with_osmnx_graph_from_xml():
    ours = read_osm_graph(LEEDS, cache_dir=False)
    theirs = ox.graph_from_xml(LEEDS)  # largest component, no filter, car one-way rules on every way
    raw_theirs = ox.graph_from_xml(LEEDS, simplify=False, retain_all=True)
    raw_ours = osm._build_graph(LEEDS, None, 500.0)
    assert 150 < len(ours) < 300 and 350 < ours.number_of_edges() < 650  # OSMnx: 187 and 461

    # Same OSM node ids and coordinates; the ways OSMnx has and we do not fail both filters.
    assert set(raw_ours) <= set(raw_theirs)
    assert all(raw_ours.nodes[n]["x"] == raw_theirs.nodes[n]["x"] for n in raw_ours)
    missing = {d["osmid"]: d["highway"] for *_, d in raw_theirs.edges(data=True)}
    for way in {d for *_, d in raw_ours.edges(data="osmid")}:
        missing.pop(way)
    assert missing and all(way_networks({"highway": h}) == (False, False) for h in missing.values())
    # Our extra directed edges are walking against a one-way tag (OSMnx applies car one-way rules
    # to every way of a file, footways and non-drivable service roads too).
    theirs_uv = set(raw_theirs.edges())
    extra = [d for u, v, d in raw_ours.edges(data=True) if (u, v) not in theirs_uv]
    assert extra and all(d["foot"] and not d["car"] and d["reversed"] for d in extra)
    assert set(theirs_uv) <= set(raw_ours.edges()) | {
        (u, v) for u, v, d in raw_theirs.edges(data=True) if d["osmid"] in missing
    }

    # The car part of our largest component: its junctions are OSMnx's nodes, except where the
    # car network ends but the street goes on as a way cars may not use (OSMnx, unfiltered, has
    # no junction there).
    car = _mode_graph(ours, "car")
    car = car.subgraph(max(nx.weakly_connected_components(car), key=len))
    ends = {n for n in car if _is_endpoint(car, n, None, None)}
    assert len(ends) > 10
    for node in ends - set(theirs):
        assert any(not d["car"] for *_, d in raw_ours.edges(node, data=True)), (
            f"node {node}: car junction not explained by a way cars may not use"
        )


# --- small files written here --------------------------------------------------------------------

_NODES = {
    1: (-1.5600, 53.8000), 2: (-1.5590, 53.8000), 3: (-1.5580, 53.8000), 4: (-1.5570, 53.8000),
    5: (-1.5600, 53.8010), 6: (-1.5590, 53.8010), 7: (-1.5580, 53.8010), 8: (-1.5570, 53.8010),
    9: (-1.5600, 53.8020), 10: (-1.5590, 53.8020), 11: (-1.5580, 53.8020), 12: (-1.5570, 53.8020),
}


def _xml(ways: list[tuple[int, list[int], dict[str, str]]]) -> str:
    nodes = "".join(f'<node id="{i}" version="1" lat="{y}" lon="{x}"/>' for i, (x, y) in _NODES.items())
    body = ""
    for wid, refs, tags in ways:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tgs = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        body += f'<way id="{wid}" version="1">{nds}{tgs}</way>'
    return f'<?xml version="1.0" encoding="UTF-8"?><osm version="0.6">{nodes}{body}</osm>'


def test_non_highway_ways_are_ignored_and_ways_split_at_missing_nodes(tmp_path):
    path = tmp_path / "mixed.osm"
    path.write_text(
        _xml(
            [
                (100, [5, 6, 10, 9, 5], {"building": "yes"}),
                (101, [1, 5, 9], {"railway": "rail"}),
                (102, [4, 8, 12], {"waterway": "river", "name": "Aire"}),
                (103, [6, 7, 11, 10, 6], {"landuse": "grass"}),
                (104, [1, 2, 999, 3, 4], {"highway": "residential", "name": "Cut Street"}),
                (105, [9, 10], {"highway": "proposed"}),
            ]
        )
    )
    graph = read_osm_graph(path, cache_dir=False)
    assert {d["osmid"] for *_, d in graph.edges(data=True)} == {104}
    # node 999 is not in the file: the way is split into 1-2 and 3-4, both ways by car and foot
    assert sorted(graph.edges()) == [(1, 2), (2, 1), (3, 4), (4, 3)]
    assert all(d["car"] and d["foot"] and d["name"] == "Cut Street" for *_, d in graph.edges(data=True))
    assert graph.edges[1, 2, 0]["length"] == pytest.approx(66.0, abs=1.0)


def test_modes_and_one_way_rules_on_a_small_file(tmp_path):
    path = tmp_path / "modes.osm"
    path.write_text(
        _xml(
            [
                (200, [1, 2], {"highway": "motorway", "oneway": "yes"}),
                (201, [5, 6], {"highway": "footway", "oneway": "yes"}),
                (202, [9, 10], {"highway": "residential", "oneway": "-1", "name": "Back Lane"}),
                (203, [3, 4], {"highway": "residential", "junction": "roundabout"}),
                (204, [7, 8], {"highway": "cycleway"}),
                (205, [11, 12], {"highway": "primary", "maxspeed": "30 mph", "lanes": "2"}),
            ]
        )
    )
    graph = read_osm_graph(path, cache_dir=False)

    def modes(u, v):
        return sorted((d["car"], d["foot"]) for d in (graph.get_edge_data(u, v) or {}).values())

    assert modes(1, 2) == [(True, False)] and modes(2, 1) == []  # motorway: one-way, cars only
    assert modes(5, 6) == modes(6, 5) == [(False, True)]  # a footway's oneway is not for walkers
    assert modes(10, 9) == [(True, True)] and modes(9, 10) == [(False, True)]  # oneway=-1 reversed
    assert graph.edges[10, 9, 0]["reversed"] is False and graph.edges[9, 10, 0]["reversed"] is True
    assert graph.edges[10, 9, 0]["oneway"] is True
    assert modes(3, 4) == [(True, True)] and modes(4, 3) == [(False, True)]  # roundabout
    assert modes(7, 8) == modes(8, 7) == []  # cycleway: in neither network
    assert modes(11, 12) == modes(12, 11) == [(True, True)]
    primary = graph.edges[11, 12, 0]
    assert primary["maxspeed"] == "30 mph" and primary["lanes"] == "2" and primary["oneway"] is False


def test_chain_simplifies_without_mixing_modes(tmp_path):
    path = tmp_path / "chain.osm"
    path.write_text(
        _xml(
            [
                (300, [1, 2, 3], {"highway": "residential", "oneway": "yes"}),
                (301, [3, 4], {"highway": "residential", "oneway": "yes"}),  # same one-way chain
                (302, [4, 8, 12], {"highway": "footway"}),  # foot-only continuation at node 4
            ]
        )
    )
    graph = read_osm_graph(path, cache_dir=False)
    # 2 and 3 are interstitial on a one-way street walkable both ways; 4 and 8: mode changes / bend
    assert sorted(graph.nodes) == [1, 4, 12]
    assert {(u, v): (d["car"], d["foot"]) for u, v, d in graph.edges(data=True)} == {
        (1, 4): (True, True), (4, 1): (False, True), (4, 12): (False, True), (12, 4): (False, True)
    }
    assert graph.edges[1, 4, 0]["length"] == pytest.approx(3 * 66.0, abs=3.0)


# --- errors ----------------------------------------------------------------------------------------


def _one_line_error(path, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        read_osm_graph(path, cache_dir=False, **kwargs)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    return str(err.value)


def test_non_osm_files_give_input_error(tmp_path):
    csv_named_osm = tmp_path / "incidents.osm"
    csv_named_osm.write_text("id,lat,lon\n1,53.8,-1.55\n")
    assert "cannot read OSM data" in _one_line_error(csv_named_osm)
    fake_pbf = tmp_path / "fake.osm.pbf"
    fake_pbf.write_bytes(b"\x00\x00\x00\x0dnot protobuf at all" * 10)
    assert "cannot read OSM data" in _one_line_error(fake_pbf)
    other = tmp_path / "streets.csv"
    other.write_text("x")
    assert "not an OSM file" in _one_line_error(other)
    assert "not found" in _one_line_error(tmp_path / "missing.osm.pbf")


def test_file_without_highways_gives_input_error(tmp_path):
    path = tmp_path / "buildings.osm"
    path.write_text(_xml([(1, [1, 2, 6, 5, 1], {"building": "yes"}), (2, [3, 4], {"railway": "rail"})]))
    assert "no highway" in _one_line_error(path)


def test_boundary_without_streets_gives_input_error():
    sea = shapely.box(-30.0, 45.0, -29.99, 45.01)
    assert "no street inside the boundary" in _one_line_error(LEEDS, boundary=sea)


@pytest.mark.parametrize("name", ["streets.xml", "streets.osm.xml", "streets.OSM"])
def test_xml_file_names(tmp_path, name):
    path = tmp_path / name
    path.write_text(_xml([(1, [1, 2, 3], {"highway": "living_street"})]))
    graph = read_osm_graph(path, cache_dir=False)
    assert sorted(graph.edges()) == [(1, 3), (3, 1)]
    assert graph.nodes[1]["street_count"] == 1
