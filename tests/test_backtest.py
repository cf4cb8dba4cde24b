"""Back-test measures on hand-made numbers, and the back-test on the bundled Westminster data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from patrols.area import Settings
from patrols.backtest import backtest_month, best_possible, count_calibrated, grid_kde, hit_curve, measure
from patrols.cli import main
from patrols.incidents import read_all
from patrols.kde import street_pieces

from conftest import WESTMINSTER_AREA

CRIMES = WESTMINSTER_AREA.parent / "westminster_street_crime_2017-07_2018-06.csv.gz"
TARGET = ["public-order", "violent-crime", "criminal-damage-arson"]


def test_measures_on_hand_made_pieces():
    length = np.array([10.0, 10.0, 20.0, 60.0])           # A = 100 m
    test = np.array([3.0, 0.0, 4.0, 3.0])                 # N = 10
    harm = np.array([30.0, 0.0, 4.0, 6.0])
    score = np.array([0.9, 0.8, 0.1, 0.0])                # picks piece 0, then 1, ...
    m = measure(score, length, test, harm, 0.20)          # budget 20 m: pieces 0 and 1
    assert m["length_m"] == 20.0 and m["hits"] == 3.0
    assert m["hit_rate"] == pytest.approx(0.3)
    assert m["pai"] == pytest.approx(0.3 / 0.2)
    # Best 20 m: piece 0 (0.3 per m) then half of piece 2 (0.2 per m) = 3 + 2.
    assert best_possible(length, test, 20.0) == pytest.approx(5.0)
    assert m["pei"] == pytest.approx(3.0 / 5.0)
    assert m["harm_share"] == pytest.approx(0.75)
    assert hit_curve(score, length, test, np.array([0.0, 0.1, 0.4, 1.0])).tolist() == [0.0, 0.3, 0.7, 1.0]


def test_count_calibrated_weighs_the_evaluated_categories_alike():
    base = Settings()
    calibrated = count_calibrated(base, pd.Series(["violent-crime", "public-order", "violent-crime"]))
    assert calibrated.harm_weight("violent-crime") == calibrated.harm_weight("public-order") == 1.0
    # Other categories, half-lives and the kernel are untouched.
    assert calibrated.harm_weight("robbery") == base.harm_weight("robbery")
    assert calibrated.half_life_days == base.half_life_days and calibrated.kde_share == base.kde_share
    assert base.harm_weight("violent-crime") == 40.0


def test_grid_kde_is_highest_by_the_incidents(westminster_network):
    pieces = street_pieces(westminster_network)
    x, y = westminster_network.project([51.5136] * 20, [-0.1310] * 20)
    value = grid_kde(pieces, x, y)
    d = np.hypot(pieces.mid_x - x[0], pieces.mid_y - y[0])
    assert value[d < 50].min() > 0
    assert value[d > 400].max() == 0.0
    # Pieces in the same 150 m cell share one value.
    assert len(np.unique(value[d < 60])) <= 4


@pytest.fixture(scope="module")
def target_crimes() -> pd.DataFrame:
    inc = read_all([CRIMES])
    return inc[inc["category"].isin(TARGET)]


def test_westminster_backtest_beats_grid_and_keeps_up_with_street_counts(westminster_network,
                                                                          target_crimes):
    # A validation month (not one of the three target months).
    res = backtest_month(westminster_network, target_crimes, "2018-02", 12, Settings())
    at5 = res.table[np.isclose(res.table["coverage"], 0.05)].set_index("method")
    assert res.n_test == 1199
    assert at5.loc["model", "pai"] >= 2.0 * at5.loc["grid_kde", "pai"]
    best_street = max(at5.loc["last_month", "pai"], at5.loc["months12_halved", "pai"])
    assert at5.loc["model", "pai"] >= 0.93 * best_street
    # Measured 0.994x on this validation month (docs/hotspots.md).
    assert at5.loc["model_count", "pai"] >= 0.97 * best_street
    assert 0.6 < at5.loc["model", "pei"] <= 1.0
    # Measures grow with coverage; PAI falls.
    model = res.table[res.table["method"] == "model"].sort_values("coverage")
    assert model["hit_rate"].is_monotonic_increasing and model["pai"].is_monotonic_decreasing
    assert res.curves["model"][0] == 0.0 and np.all(np.diff(res.curves["model"]) >= 0)


def test_backtest_never_sees_the_test_month(westminster_network, target_crimes):
    month = "2018-03"
    base = backtest_month(westminster_network, target_crimes, month, 6, Settings())
    # Move every test-month record to one quiet street: the predictions (and so the selection)
    # cannot change, only what they are measured against.
    moved = target_crimes.copy()
    in_test = moved["timestamp"].dt.strftime("%Y-%m") == month
    moved.loc[in_test, "lat"] = 51.4870
    moved.loc[in_test, "lon"] = -0.1600
    again = backtest_month(westminster_network, moved, month, 6, Settings())
    assert base.n_train == again.n_train
    assert base.table["hits"].sum() > 0 and again.table["hits"].sum() == 0
    later = moved[moved["timestamp"].dt.strftime("%Y-%m") <= month]
    assert backtest_month(westminster_network, later, month, 6, Settings()).table.equals(again.table)


def test_cli_backtest_writes_table_and_plot(tmp_path):
    out = tmp_path / "bt"
    assert main(["backtest", "--area", str(WESTMINSTER_AREA), "--test-month", "2018-06",
                 "--train-months", "3", "--categories", "public order", "criminal-damage-arson",
                 "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["backtest.csv", "backtest.md", "hit_rate.png",
                                                      "target.json"]
    table = pd.read_csv(out / "backtest.csv")
    assert set(table["method"]) == {"model", "model_harm", "model_count", "grid_kde", "last_month",
                                    "months12_halved"}
    assert sorted(set(table["coverage"])) == [0.01, 0.05, 0.1]
    assert (out / "hit_rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = json.loads((out / "target.json").read_text())
    assert [(t["month"], t["method"]) for t in target] == [
        ("2018-06", "model"), ("2018-06", "model_harm"), ("2018-06", "model_count")]
    # The product row says how it was blended, and on which months before the test month: 2018-03
    # opens the 3-month training window, with nothing before it to learn from.
    assert target[0]["chosen_on"] == ["2018-04", "2018-05"] and 0 <= target[0]["blend"] <= 1
    assert "street count share" in (out / "backtest.md").read_text()


def test_cli_backtest_refuses_bad_input_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["backtest", "--area", str(WESTMINSTER_AREA), "--test-month", "2018-06",
                 "--categories", "jaywalking", "--out", str(out), "--quiet"]) == 2
    assert "no incidents of category jaywalking" in capsys.readouterr().err
    assert main(["backtest", "--area", str(WESTMINSTER_AREA), "--test-month", "2017-07",
                 "--out", str(out), "--quiet"]) == 2
    assert "no incidents before test month 2017-07" in capsys.readouterr().err
    assert not out.exists()
