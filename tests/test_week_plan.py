"""The week as a whole: dosage, predictability, the naive baseline, shortfall, parallel solving."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from patrols.area import load_area
from patrols.hotspots import choose_patrol_points, score_segments
from patrols.incidents import read_all
from patrols.outputs.summary import summarize
from patrols.planning import plan_week
from patrols.predictability import hour_entropy, max_hour_share, site_spread, uniform_reference

from conftest import LEEDS_AREA

WEEK = date(2018, 7, 2)
LONDON = ZoneInfo("Europe/London")


def test_hour_entropy_and_share():
    assert hour_entropy([1, 1, 2, 2]) == pytest.approx(1.0)
    assert hour_entropy([5] * 7) == 0.0
    assert max_hour_share([5, 5, 5, 6]) == 0.75


def test_uniform_reference_is_a_fair_yardstick():
    # Seven visits each anywhere in a 1-hour window: always the same hour.
    one_hour = [(datetime(2018, 7, d, 10, tzinfo=LONDON).timestamp(),
                 datetime(2018, 7, d, 10, 59, tzinfo=LONDON).timestamp()) for d in range(2, 9)]
    assert uniform_reference(one_hour, "Europe/London") == (0.0, 1.0)
    # Fourteen visits in a 14-hour window: random times collide, so below log2(14).
    wide = [(datetime(2018, 7, 2 + d // 2, 17, tzinfo=LONDON).timestamp(),
             datetime(2018, 7, 3 + d // 2, 7, tzinfo=LONDON).timestamp()) for d in range(14)]
    ent, share = uniform_reference(wide, "Europe/London")
    assert 2.8 < ent < 3.6 and 0.14 < share < 0.4
    # A visit at a different hour every time beats it; the same hour every day does not.
    spread = site_spread([datetime(2018, 7, 2, 17 + h % 7, tzinfo=LONDON) for h in range(14)], wide,
                         "Europe/London")
    fixed = site_spread([datetime(2018, 7, 2, 18, tzinfo=LONDON)] * 14, wide, "Europe/London")
    assert spread["ratio"] < 1.0 < site_spread(
        [datetime.fromtimestamp(a + (b - a) * i / 14, LONDON) for i, (a, b) in enumerate(wide)],
        wide, "Europe/London")["ratio"]
    assert fixed["ratio"] == 0.0 and fixed["max_hour_share"] == 1.0


def test_a_reference_drawn_once_serves_every_spread_in_the_same_windows(monkeypatch):
    """`prepare_week` draws the references of the visits as allocated; the plan's spread and the naive
    plan's take them from the memo when their windows match, with the very figures a fresh draw gives."""
    import patrols.predictability as predictability

    wide = [(datetime(2018, 7, 2 + d // 2, 17, tzinfo=LONDON).timestamp(),
             datetime(2018, 7, 3 + d // 2, 7, tzinfo=LONDON).timestamp()) for d in range(14)]
    times = [datetime(2018, 7, 2, 17 + h % 7, tzinfo=LONDON) for h in range(14)]
    fresh = site_spread(times, wide, "Europe/London", seed=3)
    memo: dict = {}
    drawn = []
    real = predictability.uniform_reference
    monkeypatch.setattr(predictability, "uniform_reference", lambda *a: drawn.append(a) or real(*a))
    assert site_spread(times, wide, "Europe/London", 3, memo) == fresh
    assert site_spread(times[::-1], wide, "Europe/London", 3, memo) == fresh
    assert len(drawn) == 1 and len(memo) == 1
    # Other windows, or another seed, are drawn anew.
    site_spread(times, [*wide[:-1], (wide[-1][0], wide[-1][1] + 3600)], "Europe/London", 3, memo)
    site_spread(times, wide, "Europe/London", 4, memo)
    assert len(drawn) == 3


@pytest.fixture(scope="module")
def week(leeds_area, leeds_network, leeds_incidents):
    return plan_week(leeds_area, leeds_network, leeds_incidents, WEEK, seed=4, time_limit_s=0.3)


def test_hotspot_dosage_is_capped_and_discounted(week, leeds_area, leeds_network, leeds_incidents):
    settings = leeds_area.settings
    segments = score_segments(leeds_network, leeds_incidents, WEEK, settings, shifts=leeds_area.shifts)
    hotspots = {h.hotspot_id: h for h in choose_patrol_points(
        segments, leeds_network, settings.hotspot_candidates, settings.hotspot_min_separation_m)}
    visits: dict[tuple[date, str], list[tuple[datetime, float, str]]] = {}
    for route in week.routes:
        for stop in route.stops:
            if stop.kind == "hotspot":
                visits.setdefault((route.date, stop.ref), []).append((stop.arrive, stop.value, route.shift))
    assert visits
    assert max(len(v) for v in visits.values()) <= settings.hotspot_daily_cap
    repeats = 0
    for (day, ref), made in visits.items():
        for k, (_, value, shift) in enumerate(sorted(made)):
            full = hotspots[ref].prize_for(shift, day.weekday())
            # The k-th visit of the day is worth repeat_value ** k of a first visit.
            assert value == pytest.approx(full * settings.hotspot_repeat_value ** k, rel=1e-3)
            repeats += k > 0
    assert repeats > 0


def test_summary_reports_predictability_and_the_baseline(week):
    s = summarize(week)
    pred = s["predictability"]
    assert pred["spread"] > 0 and pred["spread_uniform"] > 0
    assert set(pred["sites"]) <= {site.site_id for site in week.sites}
    base = s["baseline"]
    assert base["harm_per_patrol_hour"] > 0 and "predictability" in base
    # The naive planner visits at fixed times: its spread is far below ours.
    assert base["predictability"]["spread"] < pred["spread"]
    assert s["hotspots"]["harm_per_patrol_hour"] > 0 and s["hotspots"]["harm_per_planned_hour"] > 0


def test_parallel_days_give_the_same_plan_as_one_process(leeds_area, leeds_network, leeds_incidents, week):
    one = plan_week(leeds_area, leeds_network, leeds_incidents, WEEK, seed=4, time_limit_s=0.3, workers=1)
    assert one.routes == week.routes


def test_a_week_that_does_not_fit_says_what_it_would_take(tmp_path, leeds_network):
    dest = tmp_path / "area"
    shutil.copytree(LEEDS_AREA.parent, dest)
    # Ten tier-1 sites with long dwells for one foot patrol a day: far more than it can do.
    rows = (dest / "sites.csv").read_text().splitlines()
    extra = []
    for i in range(10):
        base = rows[1 + i % 5].split(",")
        base[0] = f"X{i:02d}"
        base[4] = "1"
        base[7] = "45"
        extra.append(",".join(base))
    (dest / "sites.csv").write_text("\n".join(rows + extra) + "\n")
    (dest / "units.csv").write_text("unit_id,mode,station_id,shift,days\nLU-F1,foot,LU,late,all\n")
    area = load_area(dest / "area.toml")
    plan = plan_week(area, leeds_network, read_all(area.incident_paths), WEEK, seed=1, time_limit_s=0.3)
    s = summarize(plan)
    unserved = s["protective"]["unserved"]
    assert unserved and all(u["reason"] for u in unserved)
    short = s["shortfall"]
    assert short
    capacity = [x for x in short if x["mode"] == "car"]
    assert capacity, short
    for x in capacity:
        assert x["extra_unit_shifts"] >= 1 and x["station_id"] == "LU"
        assert x["would_serve"] <= x["unserved_visits"]
