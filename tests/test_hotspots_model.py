"""The hotspot model on the bundled Westminster year: speed, the as-of cut and the CLI."""

from __future__ import annotations

import json
import time
from datetime import date

import pandas as pd
import pytest

from patrols import defaults
from patrols.area import Settings
from patrols.cli import main
from patrols.hotspots import choose_patrol_points, score_segments
from patrols.incidents import read_all

from conftest import WESTMINSTER_AREA

CRIMES = WESTMINSTER_AREA.parent / "westminster_street_crime_2017-07_2018-06.csv.gz"


@pytest.fixture(scope="module")
def year() -> pd.DataFrame:
    return read_all([CRIMES])


def test_scoring_a_year_takes_seconds(westminster_network, year):
    assert len(year) > 70_000
    began = time.perf_counter()
    seg = score_segments(westminster_network, year, date(2018, 7, 2), Settings())
    took = time.perf_counter() - began
    # Measured about 1 s cold (cutting the pieces and the kernel rows) on 2 cores; generous bound.
    assert took < 20.0, f"scoring {len(year)} incidents took {took:.1f} s"
    # Only the tension categories count; a few records lie more than 250 m from any street of
    # the extract and are not placed.
    focus = year[year["category"].isin(defaults.HOTSPOT_CATEGORIES)]
    assert len(focus) - 10 <= seg["count"].sum() <= len(focus) < len(year)
    assert seg["length_m"].max() <= 50.0 + 1e-6
    assert (seg["score"] > 0).mean() > 0.1
    assert seg.attrs["hotspots"]["categories"] == list(defaults.HOTSPOT_CATEGORIES)


def test_incidents_on_or_after_as_of_are_never_used(westminster_network, year):
    as_of = date(2018, 3, 1)
    before = score_segments(westminster_network, year, as_of, Settings())
    only_past = year[year["timestamp"] < pd.Timestamp(as_of)]
    again = score_segments(westminster_network, only_past, as_of, Settings())
    pd.testing.assert_series_equal(before["score"], again["score"])
    focus = only_past["category"].isin(defaults.HOTSPOT_CATEGORIES)
    assert before["count"].sum() == focus.sum() < len(year)


def test_patrol_points_on_westminster(westminster_network, year):
    seg = score_segments(westminster_network, year, date(2018, 7, 2), Settings())
    hot = choose_patrol_points(seg, westminster_network, 40, 150.0)
    assert len(hot) == 40
    assert len({h.segment_id for h in hot}) == 40
    assert all(h.prize > 0 and h.score > 0 for h in hot)
    # police.uk dates are month-only: flat profiles.
    assert all(set(h.shift_weights.values()) == {1.0} and set(h.day_weights) == {1.0} for h in hot)
    top = seg.nlargest(200, "score")["segment_id"]
    assert hot[0].segment_id in set(top)


def test_cli_hotspots_writes_scored_linestrings(tmp_path):
    out = tmp_path / "hot.geojson"
    assert main(["hotspots", "--area", str(WESTMINSTER_AREA), "--as-of", "2018-07-02",
                 "--out", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    feats = doc["features"]
    assert len(feats) > 1000
    assert {f["geometry"]["type"] for f in feats} == {"LineString"}
    props = feats[0]["properties"]
    assert {"score", "length_m", "segment_id", "shift_early"} <= set(props)
    assert all(f["properties"]["score"] > 0 and f["properties"]["length_m"] <= 50.0 for f in feats)
