"""The Rutland demo area end to end: a Geofabrik PBF planned directly, foot patrols on footways."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely

from patrols.cli import main
from patrols.inputs import load_area_data, read_boundary
from patrols.plan import load_plan

from conftest import REPO

RUTLAND_AREA = REPO / "data" / "rutland" / "area.toml"


@pytest.fixture(scope="module")
def rutland(tmp_path_factory):
    return load_area_data(RUTLAND_AREA)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rutland") / "plan"
    assert main(["plan", "--area", str(RUTLAND_AREA), "--week", "2018-07-02", "--out", str(out),
                 "--time-limit", "0.3", "--quiet"]) == 0
    return out


def test_the_pbf_is_clipped_to_the_buffered_boundary(rutland):
    net = rutland.network
    boundary = read_boundary(rutland.area.boundary_path)
    # Every node lies within the boundary grown by its buffer (1 km; 0.02 degrees is ~1.4-2.2 km).
    assert shapely.contains_xy(boundary.buffer(0.02), net.lon, net.lat).all()
    # ... and the network does go beyond the line itself, so routes may leave and re-enter.
    assert not shapely.contains_xy(boundary, net.lon, net.lat).all()
    assert net.walk_network
    # Footways, paths and alleys: edges only feet may use.
    foot_only = net.edge_foot_ok & ~net.edge_car_ok
    assert foot_only.sum() > 1000
    assert net.length_km("foot") > 1.3 * net.length_km("car")


def test_foot_patrols_walk_footways_and_cars_keep_to_roads(bundle, rutland):
    plan = load_plan(bundle / "plan.json")
    net = rutland.network

    def mids(mode: str) -> np.ndarray:
        return np.array([((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for r in plan.routes if r.mode == mode
                         for a, b in zip(r.path[:-1], r.path[1:], strict=True) if a != b])

    # Every stretch a car drives lies on a drivable street.
    car = mids("car")
    assert net.snap(car[:, 1], car[:, 0], "car").distance_m.max() < 1.0
    # Foot patrols also take ways no car may use: stretches far from every drivable street.
    foot = mids("foot")
    off_road = net.snap(foot[:, 1], foot[:, 0], "car").distance_m > 15.0
    assert off_road.mean() > 0.05
    assert net.snap(foot[:, 1], foot[:, 0], "foot").distance_m.max() < 1.0


def test_every_unit_shift_has_work_and_every_visit_is_served(bundle):
    summary = json.loads((bundle / "summary.json").read_text())
    assert summary["routes"]["empty_unit_shifts"] == 0
    assert summary["protective"]["unserved"] == []
    assert summary["unit_shifts_by_mode"]["foot"] > 10
    shares = summary["routes"]["planned_share"]
    assert len(shares) == summary["unit_shifts"]
    assert all(0 < s <= 0.6 + 1e-6 for s in shares.values())


def test_the_week_starts_from_a_cached_network(tmp_path, rutland):
    # A second load of the same PBF comes from the cache beside it, in a fraction of the first.
    import time

    from patrols.osm import read_osm_graph

    boundary = read_boundary(rutland.area.boundary_path)
    began = time.perf_counter()
    cold = read_osm_graph(rutland.area.network_path, boundary=boundary, cache_dir=tmp_path)
    cold_s = time.perf_counter() - began
    began = time.perf_counter()
    warm = read_osm_graph(rutland.area.network_path, boundary=boundary, cache_dir=tmp_path)
    warm_s = time.perf_counter() - began
    assert warm.number_of_edges() == cold.number_of_edges()
    assert warm_s < cold_s / 3


def test_plan_week_is_deterministic_on_the_pbf(rutland):
    from patrols.planning import plan_week

    a = plan_week(rutland.area, rutland.network, rutland.incidents, date(2018, 7, 2), seed=3,
                  time_limit_s=0.2, workers=1)
    b = plan_week(rutland.area, rutland.network, rutland.incidents, date(2018, 7, 2), seed=3,
                  time_limit_s=0.2, workers=1)
    assert [r.stops for r in a.routes] == [r.stops for r in b.routes]


def test_a_drive_graphml_with_a_walk_graphml_beside_it(tmp_path):
    # An OSMnx drive GraphML and walk GraphML of the same streets (as a force might export them)
    # join into one network: cars on the first, foot patrols on the second.
    import osmnx as ox

    from patrols.area import load_area
    from patrols.inputs import load_network
    from patrols.osm import read_osm_graph

    box = shapely.box(-0.7436, 52.6638, -0.7136, 52.6818)
    graph = read_osm_graph(REPO / "data" / "rutland" / "rutland-latest.osm.pbf", boundary=box, buffer_m=0.0,
                           cache_dir=False)
    for mode in ("car", "foot"):
        part = graph.edge_subgraph([(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if d[mode]])
        part = part.copy()
        for _, _, d in part.edges(data=True):
            d.pop("car"), d.pop("foot")
        ox.save_graphml(part, tmp_path / f"{mode}.graphml")
    src = RUTLAND_AREA.parent
    for name in ("police_stations.csv", "units.csv", "sites.csv", "incidents.csv.gz"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "area.toml").write_text(
        'name = "two files"\nnetwork = "car.graphml"\nwalk_network = "foot.graphml"\n'
        'stations = "police_stations.csv"\nunits = "units.csv"\nsites = "sites.csv"\n'
        'incidents = ["incidents.csv.gz"]\n', encoding="utf-8")
    net = load_network(load_area(tmp_path / "area.toml"))
    assert net.walk_network
    assert (net.edge_foot_ok & ~net.edge_car_ok).sum() > 100
    assert (net.edge_car_ok & ~net.edge_foot_ok).sum() > 100  # car edges of the drive file
    # Without the walk file, foot patrols fall back to the drive streets both ways.
    (tmp_path / "area.toml").write_text(
        (tmp_path / "area.toml").read_text().replace('walk_network = "foot.graphml"\n', ""))
    drive_only = load_network(load_area(tmp_path / "area.toml"))
    assert not drive_only.walk_network
    assert (drive_only.edge_foot_ok == drive_only.edge_car_ok).mean() > 0.99
