"""Stops an officer can act on: named by their streets, on a street their unit uses, on their route."""

from __future__ import annotations

import numpy as np
from shapely.geometry import LineString, Point

from patrols.places import Places

from conftest import grid_graph


def test_every_stop_has_a_place_and_stations_their_names(demo_week) -> None:
    area, _, plan = demo_week
    stops = [s for r in plan.routes for s in r.stops]
    assert stops and all(s.place for s in stops)
    names = {st.name for st in area.stations.values()}
    assert {s.place for s in stops if s.kind == "station"} <= names
    visits = [s.place for s in stops if s.kind != "station"]
    # Street and crossing street for most; never a code or coordinates.
    assert sum(" / " in p for p in visits) >= 0.9 * len(visits)
    assert not any(p.startswith(("H", "S")) and p[1:].isalnum() and " " not in p for p in visits)


def test_every_stop_lies_on_its_units_own_path(demo_week) -> None:
    # The 25 m rule: a unit is sent to a point on its own route, never to a spot in a park or a block.
    _, network, plan = demo_week
    worst = 0.0
    for r in plan.routes:
        if len(r.stops) <= 2:
            continue
        xs, ys = network.project([p[1] for p in r.path], [p[0] for p in r.path])
        line = LineString(np.column_stack([xs, ys]))
        sx, sy = network.project([s.lat for s in r.stops[1:-1]], [s.lon for s in r.stops[1:-1]])
        worst = max(worst, max(line.distance(Point(x, y)) for x, y in zip(sx, sy, strict=True)))
    assert worst <= 25.0


def test_places_on_a_named_grid() -> None:
    from patrols.network import Network

    n = 2
    g = grid_graph(n)  # (n + 1)^2 junctions 100 m apart; node id = i * (n + 1) + j
    for u, v, d in g.edges(data=True):
        (iu, ju), (iv, _) = divmod(u, n + 1), divmod(v, n + 1)
        d["name"] = f"North Street {iu}" if iu == iv else f"East Road {ju}"
    net = Network(g, max_edge_m=40.0)  # every block split into 3 parts
    places = Places(net)
    middle = net._index[1 * (n + 1) + 1]
    assert places.name(middle) == "East Road 1 / North Street 1"
    # A split point along North Street 0 between junctions (0, 0) and (0, 1): its street, then the
    # nearest crossing (East Road 0 or 1, 33 m or 67 m away).
    split = [i for i, node in enumerate(net.node_ids.tolist()) if node < 0]
    named = [places.name(i) for i in split]
    assert all(" / " in p for p in named)
    assert any(p.startswith("North Street 0 / East Road") for p in named)
