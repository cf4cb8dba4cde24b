"""Street graphs read straight from OpenStreetMap extracts (``.osm.pbf`` or OSM XML).

``read_osm_graph`` turns an extract into one ``networkx.MultiDiGraph`` for both
travel modes, with the semantics of OSMnx 2.x: the ways kept are those OSMnx's
``"drive"`` or ``"walk"`` network filters would ask Overpass for, each way
becomes edges between consecutive nodes as in ``osmnx.graph._add_paths``
(one-way rules, ``reversed``, the useful way tags of
``osmnx.settings.useful_tags_way``, great-circle ``length``), and the graph is
simplified by ``osmnx.simplify_graph``. Every edge says which mode may use it:
``car`` (the way passes the drive filter and cars may go this direction) and
``foot`` (the way passes the walk filter; walking is allowed both ways).

Why this is written here rather than taken from a library:

* OSMnx reads only OSM XML (``graph_from_xml``; a PBF fails with a
  UnicodeDecodeError) and applies no network filter to a file: every way
  becomes a street, footways, buildings and railways alike (OSMnx 2.1 makes
  them edges without a ``highway``), and all of them follow car one-way rules.
  It also fails ("Some edges missing nodes", in ``add_edge_lengths``) as soon
  as a way refers to a node the extract cut off at its border.
* pyrosm (0.25.0 has a cp311 wheel and would install here, adding
  python-rapidjson) reads only PBF, not XML, and its own network filters
  deliberately differ from OSMnx's (other access rules, busways, trails), so
  the car and foot networks would change with the reader. It is not used.

Memory stays bounded on a large PBF: pass 1 reads only ways, filtered to those
with a ``highway`` key inside libosmium (``osmium.filter.KeyFilter``), and keeps
their node references in one flat int64 array plus the few tags needed; pass 2
reads only nodes and keeps the locations of the referenced ids (a sorted
unique numpy array of needed ids, matched per batch with ``np.searchsorted``),
never a map of every node in the file. (``osmium.filter.IdFilter`` would do
the matching in C++, but its dense id set costs about 600 MB for modern node
ids even for a county, so the batches are matched in numpy instead.)

The built graph is cached as a pickle keyed by the file's content and the
settings (:mod:`patrols.graph_cache`). A cache file is a pickle: only point
``cache_dir`` at a folder you trust.
"""

from __future__ import annotations

import os
import re
from array import array
from dataclasses import dataclass, field
from importlib.metadata import version as _pkg_version
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon

from patrols.errors import InputError
from patrols.graph_cache import cached_graph

__all__ = ["read_osm_graph", "way_networks"]

# Bump when the graph this module builds changes, so that old caches are not used.
_FORMAT_VERSION = 1

# The network filters of OSMnx 2.x, as data: they mirror the "drive" and "walk"
# strings of ``osmnx._overpass._get_network_filter`` (with ``settings.default_access``,
# ``["access"!~"private"]``). Every filter also requires a ``highway`` tag
# (``["highway"]``). Each ``(key, regex)`` pair is an Overpass ``["key"!~"regex"]``
# clause: the way passes it when the tag is absent OR its value does not match the
# regex, searched unanchored and case-sensitively as Overpass does (so
# ``highway!~"motor"`` also excludes motorway_link). A way is kept for a network
# when it passes every clause.
_NETWORK_FILTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "drive": (
        ("area", "yes"),
        ("access", "private"),
        (
            "highway",
            "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|"
            "escalator|footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|"
            "rest_area|service|services|steps|track",
        ),
        ("motor_vehicle", "no"),
        ("motorcar", "no"),
        ("service", "alley|driveway|emergency_access|parking|parking_aisle|private"),
    ),
    "walk": (
        ("area", "yes"),
        ("access", "private"),
        (
            "highway",
            "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
            "proposed|raceway|razed|rest_area|services",
        ),
        ("foot", "no"),
        ("service", "private"),
        ("sidewalk", "separate"),
        ("sidewalk:both", "separate"),
        ("sidewalk:left", "separate"),
        ("sidewalk:right", "separate"),
    ),
}
_COMPILED = {
    net: tuple((key, re.compile(rx)) for key, rx in clauses) for net, clauses in _NETWORK_FILTERS.items()
}

# One-way values of ``osmnx.graph._add_paths``: these make a drivable way one-way
# (as does junction=roundabout), and the second set also reverses its node order.
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
_REVERSED_VALUES = frozenset({"-1", "reverse", "T"})

# File name endings read, and the libosmium format string for each.
_FORMATS = (
    (".osm.pbf", "pbf"),
    (".pbf", "pbf"),
    (".osm.bz2", "osm.bz2"),
    (".osm.gz", "osm.gz"),
    (".osm.xml", "xml"),
    (".osm", "xml"),
    (".xml", "xml"),
)
_BATCH = 1 << 20  # nodes matched per numpy batch in pass 2
# libosmium stores coordinates as int32 in 1e-7 degrees; an undefined one is out of range.
_COORD_PRECISION = 10_000_000
_CAR, _FOOT, _ONEWAY, _REVERSE = 1, 2, 4, 8


def way_networks(tags: dict[str, str]) -> tuple[bool, bool]:
    """Whether a way with ``tags`` passes OSMnx's "drive" and "walk" filters.

    Parameters
    ----------
    tags
        The way's OSM tags.

    Returns
    -------
    tuple of bool
        ``(drive, walk)``.
    """
    if "highway" not in tags:
        return False, False
    return tuple(  # type: ignore[return-value]
        not any((value := tags.get(key)) is not None and rx.search(value) for key, rx in clauses)
        for clauses in (_COMPILED["drive"], _COMPILED["walk"])
    )


@dataclass
class _Ways:
    """Pass 1: the kept ways, their node references flat in one array."""

    ids: array = field(default_factory=lambda: array("q"))
    flags: bytearray = field(default_factory=bytearray)
    tag_index: array = field(default_factory=lambda: array("l"))
    tag_sets: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    offsets: array = field(default_factory=lambda: array("q", [0]))
    refs: array = field(default_factory=lambda: array("q"))
    highways_seen: int = 0


def _osm_file(path: Path) -> osmium.io.File:
    name = path.name.lower()
    for suffix, fmt in _FORMATS:
        if name.endswith(suffix):
            return osmium.io.File(str(path), fmt)
    raise InputError(path, "not an OSM file (expected .osm.pbf, .osm, .osm.bz2, .osm.xml or .xml)")


def _read_ways(osm_file: osmium.io.File) -> _Ways:
    useful = tuple(ox.settings.useful_tags_way)
    ways = _Ways()
    interned: dict[tuple[tuple[str, str], ...], int] = {}
    processor = osmium.FileProcessor(osm_file, osmium.osm.WAY).with_filter(
        osmium.filter.KeyFilter("highway")
    )
    for way in processor:
        ways.highways_seen += 1
        tags = dict(way.tags)
        drive, walk = way_networks(tags)
        if not (drive or walk):
            continue
        flags = (_CAR if drive else 0) | (_FOOT if walk else 0)
        if drive:
            oneway = tags.get("oneway")
            if oneway in _ONEWAY_VALUES or tags.get("junction") == "roundabout":
                flags |= _ONEWAY
                if oneway in _REVERSED_VALUES:
                    flags |= _REVERSE
        kept = tuple((key, tags[key]) for key in useful if key in tags and key != "oneway")
        ways.tag_index.append(interned.setdefault(kept, len(interned)))
        ways.ids.append(way.id)
        ways.flags.append(flags)
        ways.refs.extend([node.ref for node in way.nodes])
        ways.offsets.append(len(ways.refs))
    ways.tag_sets = list(interned)
    return ways


def _read_locations(
    osm_file: osmium.io.File, needed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[int, dict[str, str]]]:
    """Pass 2: lon/lat (NaN where absent) of the ``needed`` ids, and their useful tags."""
    lon = np.full(len(needed), np.nan)
    lat = np.full(len(needed), np.nan)
    useful = tuple(ox.settings.useful_tags_node)
    node_tags: dict[int, dict[str, str]] = {}
    if len(needed) == 0:
        return lon, lat, node_tags
    batch_ids, batch_x, batch_y = array("q"), array("q"), array("q")
    tagged: list[tuple[int, dict[str, str]]] = []

    def match() -> None:
        ids = np.frombuffer(batch_ids, dtype=np.int64)
        pos = np.minimum(np.searchsorted(needed, ids), len(needed) - 1)
        hit = needed[pos] == ids
        x = np.frombuffer(batch_x, dtype=np.int64)
        y = np.frombuffer(batch_y, dtype=np.int64)
        hit &= (np.abs(x) <= 180 * _COORD_PRECISION) & (np.abs(y) <= 90 * _COORD_PRECISION)
        lon[pos[hit]] = x[hit] / _COORD_PRECISION
        lat[pos[hit]] = y[hit] / _COORD_PRECISION
        for node_id, tags in tagged:
            pos_one = np.searchsorted(needed, node_id)
            if pos_one < len(needed) and needed[pos_one] == node_id:
                node_tags[node_id] = tags

    for node in osmium.FileProcessor(osm_file, osmium.osm.NODE):
        loc = node.location
        batch_ids.append(node.id)
        batch_x.append(loc.x)
        batch_y.append(loc.y)
        if node.tags:
            tags = {key: node.tags[key] for key in useful if key in node.tags}
            if tags:
                tagged.append((node.id, tags))
        if len(batch_ids) >= _BATCH:
            match()
            batch_ids, batch_x, batch_y, tagged = array("q"), array("q"), array("q"), []
    match()
    return lon, lat, node_tags


def buffered(boundary: Polygon | MultiPolygon, buffer_m: float) -> Polygon | MultiPolygon:
    """``boundary`` (EPSG:4326) buffered by ``buffer_m`` metres in its UTM zone.

    Parameters
    ----------
    boundary
        The area's polygon(s), WGS84.
    buffer_m
        How far the network may reach beyond it.

    Returns
    -------
    Polygon or MultiPolygon
        The grown polygon, WGS84.
    """
    if buffer_m == 0:
        return boundary
    centre = boundary.centroid
    zone = int((centre.x + 180) // 6) % 60 + 1
    utm = pyproj.CRS.from_epsg((32600 if centre.y >= 0 else 32700) + zone)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform
    to_wgs = pyproj.Transformer.from_crs(utm, "EPSG:4326", always_xy=True).transform
    metric = shapely.transform(boundary, to_utm, interleaved=False).buffer(buffer_m)
    return shapely.transform(metric, to_wgs, interleaved=False)


def _endpoints(u: np.ndarray, v: np.ndarray, n_nodes: int) -> np.ndarray:
    """Nodes OSMnx's ``_is_endpoint`` rules 1-3 keep in the directed graph of edges ``u -> v``."""
    out_deg = np.bincount(u, minlength=n_nodes)
    in_deg = np.bincount(v, minlength=n_nodes)
    pairs = np.unique(np.concatenate([np.stack([u, v], 1), np.stack([v, u], 1)]), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    neighbours = np.bincount(pairs[:, 0], minlength=n_nodes)
    degree = in_deg + out_deg
    keep = (out_deg == 0) | (in_deg == 0) | ~((neighbours == 2) & ((degree == 2) | (degree == 4)))
    keep[u[u == v]] = True
    return keep & (degree > 0)


def _build_graph(path: Path, boundary: Polygon | MultiPolygon | None, buffer_m: float) -> nx.MultiDiGraph:
    """Read, clip and build the unsimplified graph (OSMnx ``_create_graph`` semantics)."""
    osm_file = _osm_file(path)
    try:
        ways = _read_ways(osm_file)
        if ways.highways_seen == 0:
            raise InputError(path, "the file holds no highway (no OSM way with a highway tag)")
        if len(ways.ids) == 0:
            raise InputError(path, "no highway in the file is a street for cars or on foot")
        refs = np.frombuffer(ways.refs, dtype=np.int64)
        needed = np.unique(refs)
        lon, lat, node_tags = _read_locations(osm_file, needed)
    except RuntimeError as exc:  # libosmium: cannot open, decompress or parse
        raise InputError(path, f"cannot read OSM data: {exc}".splitlines()[0]) from None

    usable = ~np.isnan(lon)
    if not usable.any():
        raise InputError(path, "no street has node locations in the file")
    if boundary is not None:
        clip = buffered(boundary, buffer_m)
        usable[usable] = shapely.contains_xy(clip, lon[usable], lat[usable])

    # Segments between consecutive references of one way, both ends usable. Ways are
    # split where a node has no location (cut at the extract's border) or lies
    # outside the clip, like OSMnx's truncate_graph_polygon(truncate_by_edge=False).
    offsets = np.frombuffer(ways.offsets, dtype=np.int64)
    way_of_ref = np.repeat(np.arange(len(ways.ids)), np.diff(offsets))
    index = np.searchsorted(needed, refs)
    same_way = way_of_ref[1:] == way_of_ref[:-1]
    seg = same_way & (index[1:] != index[:-1]) & usable[index[1:]] & usable[index[:-1]]
    u_idx, v_idx, seg_way = index[:-1][seg], index[1:][seg], way_of_ref[:-1][seg]
    if len(seg_way) == 0:
        where = "inside the boundary" if boundary is not None else "with node locations"
        raise InputError(path, f"no street {where} (buffer {buffer_m:g} m)")
    length = ox.distance.great_circle(lat[u_idx], lon[u_idx], lat[v_idx], lon[v_idx])

    flags = np.frombuffer(ways.flags, dtype=np.uint8)[seg_way]
    reverse = (flags & _REVERSE) != 0
    u_idx, v_idx = np.where(reverse, v_idx, u_idx), np.where(reverse, u_idx, v_idx)
    is_car = (flags & _CAR) != 0
    is_foot = (flags & _FOOT) != 0
    is_oneway = (flags & _ONEWAY) != 0
    backward = is_foot | ~is_oneway  # the way may be used against its (travel) order

    graph = nx.MultiDiGraph(
        crs=ox.settings.default_crs,
        created_with=f"patrols.osm (OSMnx {_pkg_version('osmnx')} semantics)",
    )
    used = np.unique(np.concatenate([u_idx, v_idx]))
    node_ids = needed[used].tolist()
    graph.add_nodes_from(
        (node, {"y": y, "x": x, **node_tags.get(node, {})})
        for node, x, y in zip(node_ids, lon[used].tolist(), lat[used].tolist(), strict=True)
    )
    way_ids = np.frombuffer(ways.ids, dtype=np.int64)
    tag_index = np.frombuffer(ways.tag_index, dtype=ways.tag_index.typecode)
    flags_all = np.frombuffer(ways.flags, dtype=np.uint8)
    base_cache: dict[int, dict] = {}

    def base(way: int) -> dict:
        if way not in base_cache:
            base_cache[way] = {
                "osmid": int(way_ids[way]),
                **dict(ways.tag_sets[tag_index[way]]),
                "oneway": bool(flags_all[way] & _ONEWAY),
            }
        return base_cache[way]

    u_ids, v_ids = needed[u_idx].tolist(), needed[v_idx].tolist()
    rows = zip(
        u_ids, v_ids, seg_way.tolist(), length.tolist(), is_car.tolist(), is_foot.tolist(),
        is_oneway.tolist(), backward.tolist(), strict=True,
    )
    forward_edges, backward_edges = [], []
    for u, v, way, metres, car, foot, oneway, back in rows:
        attrs = base(way)
        forward_edges.append((u, v, {**attrs, "car": car, "foot": foot, "reversed": False, "length": metres}))
        if back:
            backward_edges.append(
                (v, u, {**attrs, "car": car and not oneway, "foot": foot, "reversed": True, "length": metres})
            )
    # Forward edges first, then reverse ones (this order only sets the keys of parallel edges).
    graph.add_edges_from(forward_edges)
    graph.add_edges_from(backward_edges)
    return graph


def _simplify(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Simplify with ``osmnx.simplify_graph`` so that no merged edge mixes modes.

    ``edge_attrs_differ=["car", "foot"]`` alone would keep every node of a walkable
    one-way street (its forward edges have car=True, its reverse ones car=False, and
    OSMnx compares the values of all incident edges together): 6,417 nodes instead of
    5,766 for the whole of Rutland, with the same routes. Instead a node is kept
    when OSMnx's endpoint rules keep it in the car network or in the foot network on
    their own (``node_attrs_include``), and ``foot`` must not differ. Then along any
    merged chain every piece has the same car direction and the same foot value.
    """
    nodes = np.fromiter(graph.nodes, dtype=np.int64, count=len(graph))
    nodes.sort()
    edges = list(graph.edges(data=True))
    u = np.fromiter((e[0] for e in edges), dtype=np.int64, count=len(edges))
    v = np.fromiter((e[1] for e in edges), dtype=np.int64, count=len(edges))
    car = np.fromiter((e[2]["car"] for e in edges), dtype=bool, count=len(edges))
    foot = np.fromiter((e[2]["foot"] for e in edges), dtype=bool, count=len(edges))
    ui, vi = np.searchsorted(nodes, u), np.searchsorted(nodes, v)
    keep = _endpoints(ui[car], vi[car], len(nodes)) | _endpoints(ui[foot], vi[foot], len(nodes))
    nx.set_node_attributes(graph, dict.fromkeys(nodes[keep].tolist(), True), "_keep")
    graph = ox.simplify_graph(graph, node_attrs_include=["_keep"], edge_attrs_differ=["foot"])
    for _, data in graph.nodes(data=True):
        data.pop("_keep", None)
    for _, _, data in graph.edges(data=True):
        for mode in ("car", "foot"):
            if isinstance(data[mode], list):
                # Should not happen (see above), but a merged edge that mixed modes is
                # usable by a mode only if all its pieces were.
                data[mode] = all(data[mode])
    return graph


def read_osm_graph(
    path: str | os.PathLike[str],
    *,
    boundary: Polygon | MultiPolygon | None = None,
    buffer_m: float = 500.0,
    cache_dir: str | os.PathLike[str] | bool | None = None,
) -> nx.MultiDiGraph:
    """Read the car and foot street network of an OpenStreetMap extract.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.xml`` or ``.xml`` extract.
    boundary
        Optional (Multi)Polygon in EPSG:4326. Only nodes inside it, buffered by
        ``buffer_m`` metres, are kept (ways are cut where they leave it).
    buffer_m
        Buffer around ``boundary`` in metres (in the UTM zone of its centroid).
    cache_dir
        Folder of the graph cache. None: ``.patrols-cache`` beside the file if
        writable, else ``$XDG_CACHE_HOME/patrols`` (or ``~/.cache/patrols``).
        False: no cache.

    Returns
    -------
    networkx.MultiDiGraph
        Simplified OSMnx-style graph in EPSG:4326: nodes keyed by OSM id with
        ``x``, ``y``, ``street_count`` (and OSMnx's useful node tags); edges
        with ``osmid``, ``highway``, ``oneway`` (one-way for cars),
        ``reversed`` (runs against the way's node order, itself reversed for
        ``oneway=-1`` as OSMnx does), ``length`` (m, great-circle), the useful
        way tags, and the booleans ``car`` and ``foot``. Merged edges hold
        lists of differing values and a ``geometry``, as in OSMnx. No speeds
        are added: ``osmnx.routing.add_edge_speeds`` works on the result.

    Raises
    ------
    InputError
        If the file cannot be read, holds no highway, or the boundary leaves
        no street.
    """
    path = Path(path)
    if boundary is not None and not isinstance(boundary, (Polygon, MultiPolygon)):
        raise TypeError("boundary must be a shapely Polygon or MultiPolygon in EPSG:4326")
    if not buffer_m >= 0:
        raise ValueError(f"buffer_m must be >= 0, not {buffer_m!r}")
    if not path.is_file():
        raise InputError(path, "OSM file not found")
    _osm_file(path)  # refuse an unknown format before hashing the file

    def build() -> nx.MultiDiGraph:
        graph = _simplify(_build_graph(path, boundary, buffer_m))
        nx.set_node_attributes(graph, ox.stats.count_streets_per_node(graph), name="street_count")
        graph.graph["crs"] = "epsg:4326"
        graph.graph["simplified"] = True
        return graph

    return cached_graph(path, build, boundary=boundary, buffer_m=buffer_m, cache_dir=cache_dir,
                        kind="osm", version=_FORMAT_VERSION)


