"""The hotspot focus: tension categories, ``[hotspots]`` in area.toml, and the blend with street counts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from patrols import defaults
from patrols.area import Settings, load_area
from patrols.backtest import backtest_month
from patrols.cli import main
from patrols.errors import InputError
from patrols.hotspots import choose_blend, mix, place_incidents, score_segments, street_count
from patrols.incidents import read_all
from patrols.kde import street_pieces
from patrols.network import Network

from conftest import LEEDS_AREA, WESTMINSTER_AREA, grid_graph

M_LAT = 1.0 / 111_320.0
M_LON = 1.0 / (111_320.0 * np.cos(np.radians(51.5)))
AS_OF = date(2018, 7, 1)
MONTHS = [str(p) for p in pd.period_range("2017-07", "2018-06", freq="M")]


def _ll(x: float, y: float) -> tuple[float, float]:
    """(lat, lon) of a point x metres east and y metres north of the grid's corner."""
    return 51.5 + y * M_LAT, -0.1 + x * M_LON


def _incidents(rows: list[tuple[float, float, str, str]]) -> pd.DataFrame:
    """Incidents from ``(x, y, category, when)``: month-only, the 15th, like police.uk."""
    lat, lon = zip(*(_ll(x, y) for x, y, _, _ in rows), strict=True)
    return pd.DataFrame({
        "incident_id": [f"i{k}" for k in range(len(rows))],
        "timestamp": pd.to_datetime([when for *_, when in rows], format="ISO8601"),
        "month_only": True, "lat": lat, "lon": lon,
        "category": [c for _, _, c, _ in rows], "severity": 1.0,
    })


def _monthly(points: list[tuple[float, float]], category: str, per_month: int,
             months: list[str]) -> list[tuple[float, float, str, str]]:
    return [(x, y, category, f"{m}-15") for m in months for x, y in points for _ in range(per_month)]


# Ten pieces on two streets, ten on two others 200 m north; each point is the middle of a 50 m piece.
SOUTH = [(i * 100 + 25, j * 100) for j in (0, 2) for i in range(5)]
NORTH = [(i * 100 + 25, j * 100) for j in (4, 6) for i in range(5)]


@pytest.fixture(scope="module")
def grid() -> Network:
    # 7 x 7 junctions, 100 m blocks: 8.4 km of street; 5% holds 8-12 pieces of 33-50 m.
    return Network(grid_graph(6))


def _value_at(seg: pd.DataFrame, net: Network, x: float, y: float) -> float:
    pieces = street_pieces(net)
    px, py = net.project(*map(list, zip(_ll(x, y), strict=True)))
    return float(seg.loc[int(pieces.snap(px, py, 50.0)[0]), "score"])


def test_theft_alone_does_not_raise_the_default_surface(grid):
    assert set(defaults.HOTSPOT_CATEGORIES) == {
        "public-order", "violent-crime", "criminal-damage-arson", "anti-social-behaviour"}
    theft = _incidents(_monthly(SOUTH, "shoplifting", 2, MONTHS) + _monthly(NORTH, "other-theft", 2, MONTHS))
    seg = score_segments(grid, theft, AS_OF, Settings())
    assert seg["score"].sum() == 0.0 and seg["count"].sum() == 0
    assert seg.attrs["hotspots"]["categories"] == list(defaults.HOTSPOT_CATEGORIES)
    # A tension category does; theft beside it adds nothing.
    fights = _incidents(_monthly(SOUTH[:1], "public-order", 1, MONTHS))
    both = score_segments(grid, pd.concat([theft, fights], ignore_index=True), AS_OF, Settings())
    alone = score_segments(grid, fights, AS_OF, Settings())
    assert both["score"].max() > 0
    pd.testing.assert_series_equal(both["score"], alone["score"])
    # Every category when the area asks for all of them.
    every = score_segments(grid, theft, AS_OF, Settings(hotspot_categories=()))
    assert every["score"].sum() > 0 and every.attrs["hotspots"]["categories"] == ["all"]


def _area_toml(tmp_path, hotspots: str, extra: str = "") -> str:
    leeds = LEEDS_AREA.parent
    toml = tmp_path / "area.toml"
    toml.write_text(f'''name = "Leeds focus test"
network = "{leeds / 'its_leeds_network.osm.bz2'}"
stations = "{leeds / 'stations.csv'}"
units = "{leeds / 'units.csv'}"
sites = "{leeds / 'sites.csv'}"
incidents = ["{leeds / 'incidents.csv'}"]
{extra}
[hotspots]
{hotspots}
''', encoding="utf-8")
    return str(toml)


def test_area_hotspots_table_sets_the_categories_and_blend(tmp_path):
    assert load_area(LEEDS_AREA).settings.hotspot_categories == defaults.HOTSPOT_CATEGORIES
    assert load_area(LEEDS_AREA).settings.hotspot_blend is None
    area = load_area(_area_toml(tmp_path, 'categories = ["Public order", "robbery", "public-order"]\n'
                                          "blend = 0.25"))
    assert area.settings.hotspot_categories == ("public-order", "robbery")
    assert area.settings.hotspot_blend == 0.25
    every = load_area(_area_toml(tmp_path, 'categories = ["all"]\nblend = "auto"')).settings
    assert every.hotspot_categories == () and every.hotspot_blend is None
    # A category of the area's own, once it has a harm weight.
    own = load_area(_area_toml(tmp_path, 'categories = ["hate-crime"]', "[weights]\nhate-crime = 20\n"))
    assert own.settings.hotspot_categories == ("hate-crime",)


@pytest.mark.parametrize(("hotspots", "extra", "field", "says"), [
    ('categories = ["jaywalking"]', "", "hotspots.categories", "unknown category 'jaywalking'"),
    ("categories = []", "", "hotspots.categories", "must be a list"),
    ('categories = "public-order"', "", "hotspots.categories", "must be a list"),
    ("blend = 1.5", "", "hotspots.blend", "share from 0 to 1"),
    ('blend = "best"', "", "hotspots.blend", "share from 0 to 1"),
    ("colour = 1", "", "hotspots.colour", "unknown setting"),
    ("", '[defaults]\nhotspot_categories = ["robbery"]\n', "defaults.hotspot_categories", "unknown setting"),
])
def test_bad_hotspots_settings_are_one_line_errors(tmp_path, capsys, hotspots, extra, field, says):
    toml = _area_toml(tmp_path, hotspots, extra)
    with pytest.raises(InputError) as err:
        load_area(toml)
    assert err.value.field == field and says in err.value.message
    out = tmp_path / "hot.geojson"
    assert main(["hotspots", "--area", toml, "--as-of", "2018-07-02", "--out", str(out), "--quiet"]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and field in message and says in message
    assert not out.exists()


def test_street_count_is_twelve_months_halved_every_quarter(grid):
    pieces = street_pieces(grid)
    # One incident 1, 3, 4, 7, 12 and 13 months back from July 2018, and one in July before the as-of date.
    months = ["2018-06", "2018-04", "2018-03", "2017-12", "2017-07", "2017-06"]
    inc = _incidents([(25, 0, "public-order", f"{m}-15") for m in months]
                     + [(25, 0, "public-order", "2018-07-02")])
    piece = place_incidents(pieces, grid, inc, 50.0)
    p = piece[0]
    assert (piece == p).all()
    on = street_count(pieces, inc, piece, date(2018, 7, 1))
    assert on[p] * pieces.length_m[p] == pytest.approx(1 + 1 + 0.5 + 0.25 + 0.125)
    assert np.count_nonzero(on) == 1
    # Mid-month, the month's own days count with the month before it.
    mid = street_count(pieces, inc, piece, date(2018, 7, 20))
    assert mid[p] * pieces.length_m[p] == pytest.approx(1 + 1 + 1 + 0.5 + 0.25 + 0.125)


def test_mix_keeps_the_models_total():
    length = np.array([10.0, 20.0, 30.0])
    model, count = np.array([1.0, 0.5, 0.0]), np.array([0.0, 0.1, 0.2])
    for b in (0.0, 0.3, 1.0):
        assert (mix(model, count, b, length) * length).sum() == pytest.approx((model * length).sum())
    assert mix(model, count, 1.0, length)[0] == 0.0 and mix(model, count, 0.0, length)[2] == 0.0
    # Nothing to count: the model alone.
    assert np.array_equal(mix(model, np.zeros(3), 1.0, length), model)


def test_blend_falls_back_to_counts_where_counts_predict_better(grid):
    # Harm weighting says the violent north (40 a crime); the months say the noisy south (5 reports
    # of anti-social behaviour a month on each of ten pieces against one violent crime).
    inc = _incidents(_monthly(SOUTH, "anti-social-behaviour", 5, MONTHS)
                     + _monthly(NORTH, "violent-crime", 1, MONTHS))
    model_alone = score_segments(grid, inc, AS_OF, Settings(hotspot_blend=0.0))
    assert _value_at(model_alone, grid, *NORTH[0]) > _value_at(model_alone, grid, *SOUTH[0])
    seg = score_segments(grid, inc, AS_OF, Settings())
    focus = seg.attrs["hotspots"]
    assert focus["blend"] == 1.0 and focus["chosen_on"] == ["2018-04", "2018-05", "2018-06"]
    assert focus["caught"]["1"] >= 3 * 8 * 5 > focus["caught"]["0"]
    assert _value_at(seg, grid, *SOUTH[0]) > _value_at(seg, grid, *NORTH[0])
    # The scale stays the model's (predicted harm per metre), only its shape is the count's.
    length = seg["length_m"].to_numpy()
    assert (seg["score"] * length).sum() == pytest.approx((model_alone["score"] * length).sum())


def test_blend_keeps_the_model_where_it_predicts_better(grid):
    # Risk moved: 20 a month in the south until January, then 3 a month in the north. A short
    # half-life follows the move; the year's count still points south.
    inc = _incidents(_monthly(SOUTH, "violent-crime", 20, MONTHS[:7])
                     + _monthly(NORTH, "violent-crime", 3, MONTHS[7:]))
    settings = Settings(half_life_days={}, default_half_life_days=10.0)
    seg = score_segments(grid, inc, AS_OF, settings)
    focus = seg.attrs["hotspots"]
    assert focus["blend"] < 1.0
    assert focus["caught"][f"{focus['blend']:g}"] >= 3 * 8 * 3 > focus["caught"]["1"]
    assert _value_at(seg, grid, *NORTH[0]) > _value_at(seg, grid, *SOUTH[0])
    # A fixed blend is taken as given, with no months to choose on.
    fixed = score_segments(grid, inc, AS_OF, Settings(half_life_days={}, default_half_life_days=10.0,
                                                      hotspot_blend=1.0))
    assert fixed.attrs["hotspots"]["blend"] == 1.0 and fixed.attrs["hotspots"]["chosen_on"] == []
    assert _value_at(fixed, grid, *SOUTH[0]) > _value_at(fixed, grid, *NORTH[0])


def test_blend_is_chosen_only_from_data_before_the_as_of_date(grid):
    past = _incidents(_monthly(SOUTH, "anti-social-behaviour", 5, MONTHS)
                      + _monthly(NORTH, "violent-crime", 1, MONTHS))
    # On and after the as-of date: everything moves north, loudly.
    future = _incidents(_monthly(NORTH, "anti-social-behaviour", 50, ["2018-07", "2018-08"])
                        + [(x, y, "public-order", "2018-07-01 00:00") for x, y in NORTH] * 30)
    both = pd.concat([past, future], ignore_index=True)
    pieces = street_pieces(grid)
    settings = Settings()
    for as_of in (AS_OF, date(2018, 6, 20)):
        cut = past[past["timestamp"] < pd.Timestamp(as_of)]
        base = choose_blend(pieces, cut, place_incidents(pieces, grid, cut, 50.0), as_of, settings)
        # choose_blend itself leaves out what it is handed from on or after the as-of date.
        mixed = pd.concat([cut, both[both["timestamp"] >= pd.Timestamp(as_of)]], ignore_index=True)
        again = choose_blend(pieces, mixed, place_incidents(pieces, grid, mixed, 50.0), as_of, settings)
        assert again == base
        a = score_segments(grid, past, as_of, settings)
        b = score_segments(grid, both, as_of, settings)
        pd.testing.assert_series_equal(a["score"], b["score"])
        assert a.attrs["hotspots"] == b.attrs["hotspots"]
    # Mid-June: the whole months before June, not June itself.
    assert base[1] == ("2018-03", "2018-04", "2018-05")


def test_no_month_to_judge_by_falls_back_to_the_count(grid):
    inc = _incidents(_monthly(SOUTH, "public-order", 2, ["2018-06"]))
    seg = score_segments(grid, inc, AS_OF, Settings())
    assert seg.attrs["hotspots"]["blend"] == defaults.HOTSPOT_BLEND_FALLBACK == 1.0
    assert seg.attrs["hotspots"]["chosen_on"] == []


def test_plan_reports_the_focus(leeds_area, leeds_network, leeds_incidents):
    from patrols.planning import plan_week

    plan = plan_week(leeds_area, leeds_network, leeds_incidents, date(2018, 7, 2), seed=0, time_limit_s=0.2)
    focus = plan.extra["hotspots"]
    assert focus["categories"] == list(defaults.HOTSPOT_CATEGORIES)
    assert focus["chosen_on"] == ["2018-04", "2018-05", "2018-06"] and 0.0 <= focus["blend"] <= 1.0


def test_westminster_model_never_below_the_street_count():
    """The bundled target months, tension categories: the product at least level with the 12-month count."""
    from patrols.inputs import load_area_data

    data = load_area_data(WESTMINSTER_AREA)
    inc = read_all(data.area.incident_paths)
    inc = inc[inc["category"].isin(defaults.HOTSPOT_CATEGORIES)]
    for month in ("2018-04", "2018-05", "2018-06"):
        res = backtest_month(data.network, inc, month, 12, data.area.settings)
        at5 = res.table[np.isclose(res.table["coverage"], 0.05)].set_index("method")
        assert at5.loc["model", "pai"] >= at5.loc["months12_halved", "pai"] - 1e-9
        assert at5.loc["model", "pei"] >= 0.76
        assert at5.loc["model", "pai"] >= 2.0 * at5.loc["grid_kde", "pai"]
        assert res.focus.chosen_on == tuple(str(pd.Period(month, "M") - k) for k in (3, 2, 1))
