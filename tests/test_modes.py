"""Cars and foot patrols on their own networks: a park with a footway across it.

A 400 m square block of two-way streets (one side one-way for cars) with a
footway running corner to corner through a park in the middle. A car must
drive round the block; a foot patrol takes the path; a protected site in the
middle of the park is 200 m from the nearest road, so only a foot patrol can
stand at it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from patrols.area import Station
from patrols.network import Network
from patrols.planning import plan_week, travel_table
from patrols.sites import Site
from patrols.week import Unit

LAT0, LON0 = 51.5, -0.14
M_LAT = 1.0 / 111_320.0
M_LON = 1.0 / (111_320.0 * np.cos(np.radians(LAT0)))
CORNERS = {1: (0, 0), 2: (400, 0), 3: (400, 400), 4: (0, 400), 5: (200, 200)}


def _ll(x: float, y: float) -> tuple[float, float]:
    return LAT0 + y * M_LAT, LON0 + x * M_LON


def _park() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in CORNERS.items():
        lat, lon = _ll(x, y)
        g.add_node(n, x=lon, y=lat)

    def street(a: int, b: int, car: bool, oneway: bool = False, highway: str = "residential") -> None:
        (xa, ya), (xb, yb) = CORNERS[a], CORNERS[b]
        length = float(np.hypot(xb - xa, yb - ya))
        g.add_edge(a, b, length=length, highway=highway, oneway=oneway, car=car, foot=True,
                   maxspeed="20 mph")
        g.add_edge(b, a, length=length, highway=highway, oneway=oneway, car=car and not oneway, foot=True,
                   maxspeed="20 mph")

    street(1, 2, car=True, oneway=True)  # cars only 1 -> 2
    street(2, 3, car=True)
    street(3, 4, car=True)
    street(4, 1, car=True)
    street(1, 5, car=False, highway="footway")
    street(5, 3, car=False, highway="footway")
    return g


@pytest.fixture(scope="module")
def park() -> Network:
    return Network(_park())


def _node(net: Network, osm_id: int) -> int:
    return int(np.flatnonzero(net.node_ids == osm_id)[0])


def test_a_flagged_graph_gives_each_mode_its_own_network(park):
    assert park.walk_network
    a, c = _node(park, 1), _node(park, 3)
    car = park.travel_times("car", [a, c])
    foot = park.travel_times("foot", [a, c])
    # Cars drive round the block (800 m at 20 mph); feet take the 566 m path.
    assert car[0, 1] == pytest.approx(800.0 / (20 * 1.609344 / 3.6), rel=1e-3)
    assert foot[0, 1] == pytest.approx(400 * np.sqrt(2) / (4.8 / 3.6), rel=1e-3)
    # One way for cars: 2 -> 1 goes round three sides; on foot it is one side.
    b = _node(park, 2)
    car_b = park.travel_times("car", [a, b])
    assert car_b[1, 0] == pytest.approx(3 * car_b[0, 1], rel=1e-3)
    assert park.travel_times("foot", [a, b])[1, 0] == pytest.approx(400 / (4.8 / 3.6), rel=1e-3)


def test_points_snap_per_mode(park):
    lat, lon = _ll(205, 195)
    by_car = park.snap([lat], [lon], "car")
    on_foot = park.snap([lat], [lon], "foot")
    assert by_car.distance_m[0] > 190
    assert on_foot.distance_m[0] < 10
    assert not park.edge_car_ok[on_foot.edge[0]]


def test_a_site_in_the_park_is_reached_on_foot_only(park, leeds_area):
    lat, lon = _ll(0, 0)
    station = Station("ST", "Test station", lat - 0.0001, lon)
    s_lat, s_lon = _ll(205, 195)
    site = Site("S-park", "office", s_lat, s_lon, 1, line=2)
    area = replace(leeds_area, stations={"ST": station}, sites=[site],
                   settings=replace(leeds_area.settings, max_snap_m=150.0))
    table = travel_table(area, park, [], ["car", "foot"])
    row = table.index[("protective", "S-park")]
    home = table.index[("station", "ST")]
    assert table.node["car"][row] == -1
    assert np.isinf(table.travel["car"][home, row])
    assert np.isfinite(table.travel["foot"][home, row])

    units = [Unit("ST-C1", "car", "ST", "early", frozenset(range(7))),
             Unit("ST-F1", "foot", "ST", "early", frozenset(range(7)))]
    area = replace(area, units=units)
    incidents = pd.DataFrame({
        "incident_id": ["i1", "i2"], "timestamp": pd.to_datetime(["2018-06-01", "2018-06-02"]),
        "month_only": [False, False], "lat": [_ll(400, 200)[0]] * 2, "lon": [_ll(400, 200)[1]] * 2,
        "category": ["violent-crime"] * 2, "severity": [1.0, 1.0],
    })
    plan = plan_week(area, park, incidents, date(2018, 7, 2), seed=1, time_limit_s=0.2, workers=1)
    served = [(r.unit_id, s) for r in plan.routes for s in r.stops if s.kind == "protective"]
    assert served, plan.unserved
    assert {u for u, _ in served} == {"ST-F1"}
    # The stop is where the foot patrol stands: on the footway, not the site's own point.
    node = _node(park, 5)
    for _, stop in served:
        assert (stop.lat, stop.lon) == pytest.approx((park.lat[node], park.lon[node]), abs=3e-4)


def test_a_large_shift_is_planned_as_districts(park, leeds_area):
    # Two stations at opposite corners; with districts from 2 units a shift, each station's
    # units serve the places nearest to it.
    a_lat, a_lon = _ll(0, 0)
    c_lat, c_lon = _ll(400, 400)
    stations = {"SA": Station("SA", "A", a_lat, a_lon), "SC": Station("SC", "C", c_lat, c_lon)}
    near_a = Site("S-a", "office", *_ll(150, 0), 1, line=2)
    near_c = Site("S-c", "office", *_ll(400, 300), 1, line=3)
    units = [Unit(f"{s}-C{i}", "car", s, "early", frozenset(range(7))) for s in ("SA", "SC") for i in (1, 2)]
    area = replace(leeds_area, stations=stations, sites=[near_a, near_c], units=units,
                   settings=replace(leeds_area.settings, district_units=2))
    incidents = pd.DataFrame({
        "incident_id": ["i1", "i2"], "timestamp": pd.to_datetime(["2018-06-01", "2018-06-02"]),
        "month_only": [False, False], "lat": [_ll(0, 200)[0], _ll(400, 100)[0]],
        "lon": [_ll(0, 200)[1], _ll(400, 100)[1]], "category": ["violent-crime"] * 2, "severity": [1.0, 1.0],
    })
    plan = plan_week(area, park, incidents, date(2018, 7, 2), seed=1, time_limit_s=0.2, workers=1)
    assert plan.extra["districts"] == 2 * 7
    served = {s.ref: r.station_id for r in plan.routes for s in r.stops if s.kind == "protective"}
    assert served == {"S-a": "SA", "S-c": "SC"}
    assert not plan.unserved
