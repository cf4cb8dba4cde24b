"""Loading everything an area names, at the edge, into plain objects for the core.

One loader for the command line, the service and ``patrols plan-many``: the
service's and plan-many's workers pass :data:`WORKER_INPUTS`, so the network and
incidents of an area are read once per worker process and again only when their
files change.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from patrols.area import Area, load_area
from patrols.errors import InputError
from patrols.incidents import read_all
from patrols.network import Network, load_graph
from patrols.tension import PlannedEvent, TensionArea, read_events, read_tension


class RecentInputs(OrderedDict):
    """Loaded networks and incidents (:func:`load_area_data`'s cache), the ``size`` most recently
    used kept: a worker serving hundreds of areas keeps a few in memory."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


# Per worker process (the service's jobs and plan-many's tasks alike): networks and incidents by file and
# modification time, for a few areas at once.
WORKER_INPUTS = RecentInputs(size=8)


@dataclass(frozen=True)
class AreaData:
    """An area with its network, incidents, tension layer and planned events loaded."""

    area: Area
    network: Network
    incidents: pd.DataFrame
    tension: list[TensionArea]
    events: list[PlannedEvent]


def read_boundary(path: str | Path) -> BaseGeometry:
    """Read an area's boundary: the union of the polygons of a GeoJSON file (EPSG:4326).

    Raises
    ------
    patrols.errors.InputError
        When the file is not GeoJSON or holds no polygon.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid GeoJSON: {exc}".splitlines()[0]) from None
    if not isinstance(doc, dict):
        raise InputError(path, "expected a GeoJSON object")
    if doc.get("type") == "FeatureCollection":
        geoms = [(f or {}).get("geometry") for f in doc.get("features") or []]
    elif doc.get("type") == "Feature":
        geoms = [doc.get("geometry")]
    else:
        geoms = [doc]
    polys = []
    for i, g in enumerate(geoms):
        try:
            geom = shape(g)
        except Exception:
            raise InputError(path, "missing or invalid geometry", field=f"features[{i}].geometry") from None
        if geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_empty:
            polys.append(geom.buffer(0) if not geom.is_valid else geom)
    if not polys:
        raise InputError(path, "no polygon in the boundary file")
    return shapely.union_all(polys)


def _join_walk(drive: nx.MultiDiGraph, walk: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """One graph holding a drive network (cars) and a walking network (feet).

    Both are OSM graphs, so a junction has the same node id in each; edges keep
    their own keys so a street present in both is one car edge and one foot edge.
    """
    out = nx.MultiDiGraph(**drive.graph)
    out.add_nodes_from(drive.nodes(data=True))
    out.add_nodes_from((n, d) for n, d in walk.nodes(data=True) if n not in out)
    for u, v, d in drive.edges(data=True):
        out.add_edge(u, v, **{**d, "car": True, "foot": False})
    for u, v, d in walk.edges(data=True):
        out.add_edge(u, v, **{**d, "car": False, "foot": bool(d.get("foot", True))})
    return out


def load_network(area: Area) -> Network:
    """The area's street network: clipped to its boundary, with a walking network where it has one."""
    settings = area.settings
    boundary = read_boundary(area.boundary_path) if area.boundary_path else None
    graph = load_graph(area.network_path, boundary=boundary, buffer_m=settings.boundary_buffer_m)
    if area.walk_network_path:
        walk = load_graph(area.walk_network_path, boundary=boundary, buffer_m=settings.boundary_buffer_m)
        drive = graph
        if any("car" in d for _, _, d in drive.edges(data=True)):
            raise InputError(area.path, "walk_network is for a drive-only network; an OSM extract "
                             "already holds its walking network", field="walk_network")
        graph = _join_walk(drive, walk)
    return Network(graph, settings.foot_speed_kmh, settings.max_edge_m)


def _stamp(paths: list[Path | None]) -> tuple[tuple[str, int], ...]:
    return tuple((str(p), p.stat().st_mtime_ns) for p in paths if p is not None)


def load_area_data(path: str | Path, cache: MutableMapping[Any, Any] | None = None, *,
                   incidents: bool = True) -> AreaData:
    """Read and check ``area.toml`` and every file it names.

    Parameters
    ----------
    path
        The area's TOML file.
    cache
        Optional mapping kept between calls (the service keeps one per
        worker): the network and the incidents are taken from it while their
        files are unchanged. The small files are read every time.
    incidents
        Read the incidents (a re-plan prices hotspots from its plan and needs none:
        the table is then empty).

    Raises
    ------
    patrols.errors.InputError
        On the first bad file, line or field, before anything is planned.
    """
    area = load_area(path)
    s = area.settings
    net_key = ("network", _stamp([area.network_path, area.walk_network_path, area.boundary_path]),
               s.foot_speed_kmh, s.boundary_buffer_m, s.max_edge_m)
    inc_key = ("incidents", _stamp(list(area.incident_paths)))
    if cache is not None and net_key in cache:
        network = cache[net_key]
    else:
        network = load_network(area)
        if cache is not None:
            cache[net_key] = network
    if not incidents:
        table = pd.DataFrame()
    elif cache is not None and inc_key in cache:
        table = cache[inc_key]
    else:
        table = read_all(area.incident_paths)
        if cache is not None:
            cache[inc_key] = table
    return AreaData(
        area=area,
        network=network,
        incidents=table,
        tension=read_tension(area.tension_path) if area.tension_path else [],
        events=read_events(area.events_path) if area.events_path else [],
    )
