"""Network kernel density and the hotspot model on a small made-up street layout.

Two parallel streets 100 m apart, joined only at their far ends (a U): a
point on the other street is close in a straight line but 700 m away on foot.
"""

from __future__ import annotations

from datetime import date, datetime

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from patrols.area import Settings
from patrols.hotspots import choose_patrol_points, score_segments, surface
from patrols.kde import quartic, street_pieces
from patrols.network import Network
from patrols.tension import PlannedEvent, TensionArea, tension_uplift

LAT0, LON0 = 51.5, -0.14
M_LAT = 1.0 / 111_320.0
M_LON = 1.0 / (111_320.0 * np.cos(np.radians(LAT0)))


def _ll(x: float, y: float) -> tuple[float, float]:
    """(lat, lon) of a point x metres east and y metres north of the origin."""
    return LAT0 + y * M_LAT, LON0 + x * M_LON


def _u_network() -> Network:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    nodes = {1: (0, 0), 2: (300, 0), 3: (600, 0), 4: (0, 100), 5: (300, 100), 6: (600, 100)}
    for n, (x, y) in nodes.items():
        lat, lon = _ll(x, y)
        g.add_node(n, x=lon, y=lat)
    for a, b in [(1, 2), (2, 3), (3, 6), (6, 5), (5, 4)]:
        (xa, ya), (xb, yb) = nodes[a], nodes[b]
        length = float(np.hypot(xb - xa, yb - ya))
        for u, v in ((a, b), (b, a)):
            g.add_edge(u, v, length=length, highway="residential", oneway=False)
    return Network(g)


@pytest.fixture(scope="module")
def u_net() -> Network:
    return _u_network()


def _incidents(points: list[tuple[float, float]], when: str = "2018-05-01 12:00", month_only: bool = False,
               category: str = "violent-crime") -> pd.DataFrame:
    lat, lon = zip(*(_ll(x, y) for x, y in points), strict=True)
    n = len(points)
    return pd.DataFrame({
        "incident_id": [f"i{k}" for k in range(n)],
        "timestamp": pd.to_datetime([when] * n),
        "month_only": [month_only] * n, "lat": lat, "lon": lon,
        "category": [category] * n, "severity": [1.0] * n,
    })


def _piece_at(net: Network, x: float, y: float) -> int:
    pieces = street_pieces(net)
    px, py = net.project(*map(list, zip(_ll(x, y), strict=True)))
    return int(pieces.snap(px, py, 50.0)[0])


def test_pieces_are_short_and_cover_every_street_once(u_net):
    pieces = street_pieces(u_net, 50.0)
    assert pieces.length_m.max() <= 50.0 + 1e-6
    # 5 streets: 300+300+100+300+300 m, each counted once although both directions are edges.
    assert pieces.total_length_m == pytest.approx(1300.0, rel=2e-3)
    # Equal cuts: no sliver pieces (each street cut into the fewest pieces of <= 50 m).
    assert pieces.length_m.min() > 40.0
    assert 26 <= len(pieces) <= 30


def test_quartic_integrates_to_one_along_a_line():
    d = np.linspace(-300, 300, 60001)
    assert np.trapezoid(quartic(d, 250.0), d) == pytest.approx(1.0, rel=1e-4)
    assert quartic(np.array([250.0, 400.0]), 250.0).tolist() == [0.0, 0.0]


def test_network_distance_not_straight_line_is_what_counts(u_net):
    pieces = street_pieces(u_net)
    target = _piece_at(u_net, 290, 0)
    by_road = _piece_at(u_net, 400, 0)        # 100 m along the same street
    across = _piece_at(u_net, 290, 100)       # 100 m away in a straight line, 720 m on foot
    straight = np.hypot(pieces.mid_x[across] - pieces.mid_x[target],
                        pieces.mid_y[across] - pieces.mid_y[target])
    assert straight == pytest.approx(100.0, abs=10.0)
    near, dist = pieces.distances_from(np.array([across]), 2000.0)[0]
    assert dist[near == target][0] > 600.0

    def raised(piece: int) -> float:
        w = np.zeros(len(pieces))
        w[piece] = 1.0
        return float(pieces.density(w, 250.0)[target])

    assert raised(by_road) > 0.0
    assert raised(across) == 0.0
    # The same through the whole model (not blended with the street count), incidents placed
    # from coordinates.
    settings = Settings(kde_share=1.0, hotspot_blend=0.0)
    as_of = date(2018, 6, 1)
    s_road = score_segments(u_net, _incidents([(400, 0)]), as_of, settings)["score"].to_numpy()
    s_across = score_segments(u_net, _incidents([(290, 100)]), as_of, settings)["score"].to_numpy()
    assert s_road[target] > s_across[target]
    assert s_across[target] == 0.0


def test_own_history_and_kernel_mix(u_net):
    pieces = street_pieces(u_net)
    w = np.zeros(len(pieces))
    p = _piece_at(u_net, 150, 0)
    w[p] = 2.0
    own = surface(pieces, w, Settings(kde_share=0.0))
    assert own[p] == pytest.approx(2.0 / pieces.length_m[p])
    assert np.count_nonzero(own) == 1
    mixed = surface(pieces, w, Settings(kde_share=0.5))
    assert np.count_nonzero(mixed) > 1 and mixed[p] == mixed.max()


def test_recency_and_harm_weight_the_score(u_net):
    as_of = date(2018, 6, 1)
    # The model alone, over every category (shoplifting is outside the default tension focus).
    settings = Settings(kde_share=0.0, hotspot_blend=0.0, hotspot_categories=())
    p = _piece_at(u_net, 150, 0)
    recent = score_segments(u_net, _incidents([(150, 0)], "2018-05-25"), as_of, settings)["score"][p]
    old = score_segments(u_net, _incidents([(150, 0)], "2018-01-25"), as_of, settings)["score"][p]
    minor = score_segments(u_net, _incidents([(150, 0)], "2018-05-25", category="shoplifting"),
                           as_of, settings)["score"][p]
    assert recent > old > 0
    assert recent > minor > 0
    # Incidents on or after the as-of date are never used.
    later = score_segments(u_net, _incidents([(150, 0)], "2018-06-01 00:00"), as_of, settings)
    assert later["score"].sum() == 0.0


def test_timed_incidents_give_shift_and_day_profiles(u_net):
    # Saturday nights at one end; month-only records elsewhere stay flat.
    timed = _incidents([(50, 0)] * 30, "2018-05-26 01:30")
    monthly = _incidents([(250, 100)] * 30, "2018-05-15", month_only=True)
    seg = score_segments(u_net, pd.concat([timed, monthly], ignore_index=True), date(2018, 6, 1), Settings())
    p, q = _piece_at(u_net, 50, 0), _piece_at(u_net, 250, 100)
    assert seg.loc[p, "shift_night"] > 2.0
    assert seg.loc[p, "shift_early"] < 0.5
    assert seg.loc[p, "day_sat"] > 3.0
    assert seg.loc[q, "shift_night"] == pytest.approx(1.0) and seg.loc[q, "day_sat"] == pytest.approx(1.0)
    hot = choose_patrol_points(seg, u_net, 2, 150.0)
    assert hot[0].segment_id in (p, q)
    night = next(h for h in hot if abs(h.lat - _ll(50, 0)[0]) < 1e-3)
    assert night.prize_for("night", 5) > night.prize > night.prize_for("early", 0)


def test_patrol_points_are_apart_and_carry_prizes(u_net):
    pts = [(30, 0)] * 5 + [(60, 0)] * 4 + [(560, 100)] * 3
    seg = score_segments(u_net, _incidents(pts), date(2018, 6, 1), Settings())
    hot = choose_patrol_points(seg, u_net, 5, 150.0)
    assert 2 <= len(hot) <= 5
    assert [h.prize for h in hot] == sorted((h.prize for h in hot), reverse=True)
    x, y = u_net.project([h.lat for h in hot], [h.lon for h in hot])
    gaps = [np.hypot(x[i] - x[j], y[i] - y[j]) for i in range(len(hot)) for j in range(i)]
    assert min(gaps) >= 150.0 - 1e-6
    assert abs(hot[0].lat - _ll(45, 0)[0]) < 60 * M_LAT  # the 9-incident end wins


def test_tension_raises_the_surface_while_valid(u_net):
    pieces = street_pieces(u_net)
    poly = Polygon([_ll(-10, -10)[::-1], _ll(200, -10)[::-1], _ll(200, 10)[::-1], _ll(-10, 10)[::-1]])
    area = TensionArea("T1", poly, 6, datetime(2018, 5, 1), datetime(2018, 7, 1))
    add = tension_uplift(pieces, u_net.project, [area], reference=2.0, bandwidth_m=250.0)
    inside = [_piece_at(u_net, x, 0) for x in (25, 125, 175)]
    assert np.allclose(add[inside], 2.0)
    assert add[_piece_at(u_net, 250, 0)] == 0.0 and add[_piece_at(u_net, 100, 100)] == 0.0
    # An event point fades by network distance: strong next to it, nothing across the U.
    ev = PlannedEvent("E1", "demonstration", *_ll(300, 0), datetime(2018, 6, 2, 12),
                      datetime(2018, 6, 2, 16), 3)
    add = tension_uplift(pieces, u_net.project, [ev], reference=2.0, bandwidth_m=250.0)
    assert add[_piece_at(u_net, 290, 0)] == pytest.approx(1.0, rel=0.05)
    assert 0 < add[_piece_at(u_net, 450, 0)] < add[_piece_at(u_net, 290, 0)]
    assert add[_piece_at(u_net, 300, 100)] == 0.0
    # Through the model: only while valid in the week from the as-of date.
    inc = _incidents([(400, 0)] * 3)
    during = score_segments(u_net, inc, date(2018, 6, 1), Settings(), tension=[area])
    after = score_segments(u_net, inc, date(2018, 7, 2), Settings(), tension=[area])
    assert during.loc[inside[0], "tension"] > 0 and after["tension"].sum() == 0.0
    assert during.loc[inside[0], "score"] > during.loc[inside[0], "crime_score"]
