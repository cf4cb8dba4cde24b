"""Re-planning a planned week (issue 13): each change type, the boundary at ``from``, stability,
refusals and the predictability warnings, on the demo week (``demo_week`` fixture)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from patrols.errors import InputError
from patrols.plan import Plan, Route, plan_from_dict, plan_to_dict
from patrols.replan import replan_week
from patrols.replan.diff import RETIME_TOLERANCE_S

from conftest import WESTMINSTER_AREA

LONDON = ZoneInfo("Europe/London")
WED_NOON = datetime(2018, 7, 4, 12, 0, tzinfo=LONDON)
CAR_OFF = {"unit_off": [{"unit": "CX-C2", "from": "2018-07-04T15:00:00", "to": "2018-07-06T07:00:00"}]}


@pytest.fixture(scope="module")
def week(demo_week):
    from patrols.inputs import load_area_data

    area, network, plan = demo_week
    events = load_area_data(WESTMINSTER_AREA, incidents=False).events
    return area, network, plan, events


def run(week, doc, start=WED_NOON, parent=None, **kw) -> Plan:
    area, network, plan, events = week
    return replan_week(area, network, parent or plan, "parent-1", start, doc, "CHANGES.toml",
                       events=events, workers=1, **kw)


@pytest.fixture(scope="module")
def car_off(week) -> Plan:
    return run(week, CAR_OFF)


def by_key(plan: Plan) -> dict[str, Route]:
    return {r.key: r for r in plan.routes}


def slot_of(route: Route) -> str:
    return f"{route.date.isoformat()}/{route.shift}"


def stops(route: Route) -> list[tuple]:
    return [(s.kind, s.ref, s.arrive, s.depart) for s in route.stops]


# ------------------------------------------------------------------ unit_off
def test_car_off_touches_only_its_shifts_and_keeps_the_rest(week, car_off):
    parent = week[2]
    rp = car_off.extra["replan"]
    assert rp["shifts_solved"] == ["2018-07-04/late", "2018-07-05/late"]
    solved = set(rp["shifts_solved"])
    old, new = by_key(parent), by_key(car_off)
    for key, route in old.items():
        if slot_of(route) not in solved:
            assert new[key] == route, f"{key} changed though its shift was not touched"
    assert "CX-C2/2018-07-04/late" not in new and "CX-C2/2018-07-05/late" not in new
    assert "CX-C2/2018-07-03/late" in new and "CX-C2/2018-07-06/late" in new


def test_car_off_keeps_most_of_the_other_units_stops(car_off):
    rp = car_off.extra["replan"]
    # The issue's target is 80% on the demo as `patrols demo` plans it, measured by bench/replan.py
    # (83% since the demo's Thursday evening holds a protest watch: issue 15). The fixture's parent is
    # planned with a short solver time, and its Thursday late shift, one car short and with the watch,
    # moves more (73.5%).
    assert rp["other_units_kept_share"] >= 0.7
    per_unit = rp["unit_shifts"]
    kept = sum(v["kept"] for k, v in per_unit.items() if not k.startswith("CX-C2"))
    assert kept > 0
    total = rp["stops_kept"] + rp["stops_moved"] + rp["stops_retimed"] + rp["stops_added"]
    assert total == sum(len(r.stops) - 2 for r in car_off.routes)


def test_car_off_serves_every_protective_visit_or_says_why(week, car_off):
    """Every required visit of the touched shifts is on a route or listed as unserved, with
    the extra unit-shifts that would serve it when it is the routes that fall short."""
    parent = week[2]
    solved = set(car_off.extra["replan"]["shifts_solved"])

    def protective(plan):
        return sorted((s.ref, r.date, r.shift) for r in plan.routes for s in r.stops
                      if s.kind == "protective" and slot_of(r) in solved)

    before = protective(parent) + sorted((u.site_id, u.date, u.shift) for u in parent.unserved
                                         if f"{u.date.isoformat()}/{u.shift}" in solved)
    after = protective(car_off) + sorted((u.site_id, u.date, u.shift) for u in car_off.unserved
                                         if f"{u.date.isoformat()}/{u.shift}" in solved)
    assert sorted(before) == sorted(after)
    short = {(s["date"], s["shift"]) for s in car_off.extra["shortfall"]}
    for u in car_off.unserved:
        if f"{u.date.isoformat()}/{u.shift}" in solved and not u.reason.startswith("no unit"):
            assert u.reason and (u.date.isoformat(), u.shift) in short


def test_stop_changes_are_marked_and_counted(week, car_off):
    rp = car_off.extra["replan"]
    marks = defaultdict(int)
    for r in car_off.routes:
        for s in r.stops[1:-1]:
            marks[s.change] += 1
            if s.change in ("moved", "retimed"):
                assert s.was
    assert marks["moved"] == rp["stops_moved"] and marks["added"] == rp["stops_added"]
    assert marks["retimed"] == rp["stops_retimed"]
    assert len(rp["dropped"]) == rp["stops_dropped"]
    assert {d["unit"] for d in rp["dropped"]} >= {"CX-C2"}
    # A kept stop is the same unit's, within the tolerance of its old time.
    parent = by_key(week[2])
    for key, route in by_key(car_off).items():
        if slot_of(route) not in rp["shifts_solved"]:
            continue
        for s in route.stops[1:-1]:
            if s.change == "":
                olds = [o for o in parent[key].stops if (o.kind, o.ref) == (s.kind, s.ref)]
                assert any(abs((o.arrive - s.arrive).total_seconds()) <= RETIME_TOLERANCE_S for o in olds)


def test_replan_is_deterministic(week, car_off):
    assert run(week, CAR_OFF).routes == car_off.routes


def test_replan_survives_json(car_off):
    again = plan_from_dict(json.loads(json.dumps(plan_to_dict(car_off))))
    assert again.routes == car_off.routes and again.extra["replan"] == car_off.extra["replan"]


# ------------------------------------------------------------- the boundary
def test_stop_in_progress_at_from_is_kept(week):
    """``from`` falls in the middle of a stop: it and everything before it stay as they were."""
    parent = week[2]
    route = next(r for r in parent.routes if r.date == date(2018, 7, 4) and r.shift == "early"
                 and r.unit_id == "CX-C1" and len(r.stops) > 4)
    stop = route.stops[2]
    start = stop.arrive + (stop.depart - stop.arrive) / 2
    # Another unit of the same shift goes off from then: the shift is solved again.
    other = next(r for r in parent.routes if r.date == route.date and r.shift == route.shift
                 and r.unit_id != route.unit_id)
    doc = {"unit_off": [{"unit": other.unit_id, "from": start.isoformat(), "to": "2018-07-04T23:00:00"}]}
    new = run(week, doc, start=start)
    assert "2018-07-04/early" in new.extra["replan"]["shifts_solved"]
    mine = by_key(new)[route.key]
    assert mine.stops[0] == route.stops[0]
    assert mine.stops[1:3] == route.stops[1:3], "the stops before and at --from must not change"
    for r in new.routes:
        if r.date == route.date and r.shift == route.shift:
            made = [s for s in r.stops[1:-1] if s.arrive < start]
            had = [s for s in by_key(parent)[r.key].stops[1:-1] if s.arrive < start]
            assert made == had
            assert all(s.arrive >= start for s in r.stops[1:-1] if s not in had)


def test_from_outside_the_week_is_refused(week):
    with pytest.raises(InputError, match="outside the planned week"):
        run(week, CAR_OFF, start=datetime(2018, 7, 20, 12, 0, tzinfo=LONDON))


def test_changes_wholly_before_from_are_refused(week):
    doc = {"unit_off": [{"unit": "CX-C2", "from": "2018-07-02T15:00:00", "to": "2018-07-03T07:00:00"}]}
    with pytest.raises(InputError, match=r"unit_off\[0\]\.to.*before --from"):
        run(week, doc)
    doc = {"pin": [{"site_id": "Sd94842", "unit": "CX-C1", "at": "2018-07-03T09:00:00"}]}
    with pytest.raises(InputError, match=r"pin\[0\]\.at.*before --from"):
        run(week, doc)


# ------------------------------------------------------------- other changes
def test_unit_extra_gets_a_route_in_its_shift_only(week):
    doc = {"unit_extra": [{"unit": "CX-C9", "mode": "car", "station": "CX", "date": "2018-07-05",
                           "shift": "late"}]}
    new = run(week, doc)
    assert new.extra["replan"]["shifts_solved"] == ["2018-07-05/late"]
    extra = by_key(new)["CX-C9/2018-07-05/late"]
    assert len(extra.stops) > 2 and all(s.change == "added" for s in extra.stops[1:-1])


def test_new_site_is_visited_and_other_sites_keep_their_visits(week):
    doc = {"site": [{"site_id": "S-new1", "kind": "office", "lat": 51.4975, "lon": -0.1357, "tier": 1}]}
    new = run(week, doc)
    visits = [(r.date, s.arrive) for r in new.routes for s in r.stops if s.ref == "S-new1"]
    assert len(visits) >= 6 and all(t >= WED_NOON for _, t in visits)
    assert "S-new1" in {s.site_id for s in new.sites}
    parent = week[2]
    solved = set(new.extra["replan"]["shifts_solved"])
    for key, route in by_key(parent).items():
        if slot_of(route) not in solved:
            assert by_key(new)[key] == route


def test_site_off_cancels_its_visits_in_the_period(week):
    doc = {"site_off": [{"site_id": "Sd94842", "from": "2018-07-05T00:00:00", "to": "2018-07-08T00:00:00"}]}
    new = run(week, doc)
    lo, hi = datetime(2018, 7, 5, tzinfo=LONDON), datetime(2018, 7, 8, tzinfo=LONDON)
    assert not [s for r in new.routes for s in r.stops if s.ref == "Sd94842" and lo <= s.arrive < hi]
    cancelled = new.extra["replan"]["visits_cancelled"]
    assert cancelled and all(c["site_id"] == "Sd94842" and c["by"] == "site_off[0]" for c in cancelled)
    assert not [u for u in new.unserved if u.site_id == "Sd94842" and lo.date() <= u.date < hi.date()]


def test_forbid_keeps_a_site_and_a_hotspot_clear(week):
    parent = week[2]
    hot = next(s.ref for r in parent.routes if r.date == date(2018, 7, 6) for s in r.stops
               if s.kind == "hotspot")
    lo, hi = datetime(2018, 7, 6, 0, tzinfo=LONDON), datetime(2018, 7, 7, 0, tzinfo=LONDON)
    doc = {"forbid": [{"ref": hot, "from": lo.isoformat(), "to": hi.isoformat()},
                      {"ref": "S0a96fe", "from": "2018-07-06T09:00:00", "to": "2018-07-06T13:00:00"}]}
    new = run(week, doc)
    for r in new.routes:
        for s in r.stops[1:-1]:
            if s.ref == hot:
                assert s.depart <= lo or s.arrive >= hi
            if s.ref == "S0a96fe":
                assert not (s.arrive < datetime(2018, 7, 6, 13, tzinfo=LONDON)
                            and s.depart > datetime(2018, 7, 6, 9, tzinfo=LONDON))


def test_event_is_patrolled_while_it_lasts_and_protects_a_site_it_is_held_at(week):
    area = week[0]
    site = next(s for s in area.sites if s.kind == "home")
    doc = {"event": [
        {"event_id": "E-protest1", "kind": "protest", "lat": 51.4966, "lon": -0.1448,
         "start": "2018-07-05T18:00:00", "end": "2018-07-05T21:00:00", "level": 5},
        {"event_id": "E-home", "kind": "protest", "lat": site.lat, "lon": site.lon,
         "start": "2018-07-06T19:00:00", "end": "2018-07-06T21:00:00", "level": 5}]}
    new = run(week, doc)
    at_event = [s for r in new.routes for s in r.stops if s.ref == "E-protest1"]
    # It draws a patrol at it, or (135 m from office Sd94842, so escalating it) calls there at least
    # every two hours through it: either way police at the protest while it lasts.
    watched = [e for e in new.extra["escalations"] if e["event_id"] == "E-protest1"]
    assert [e["site_id"] for e in watched] == ["Sd94842"]
    assert at_event or all(e["met"] for e in watched), "a level-5 protest should draw a patrol while it lasts"
    for s in at_event:
        assert datetime(2018, 7, 5, 18, tzinfo=LONDON) <= s.arrive and s.depart <= datetime(
            2018, 7, 5, 21, tzinfo=LONDON)
    lo, hi = datetime(2018, 7, 6, 19, tzinfo=LONDON), datetime(2018, 7, 6, 21, tzinfo=LONDON)
    home = [s for r in new.routes for s in r.stops if s.ref == site.site_id and lo <= s.arrive <= hi]
    assert home, "the home the protest is held at needs a visit during it"
    assert "E-protest1" in {h.hotspot_id for h in new.hotspots}


def test_pin_fixes_the_visit_to_its_unit_and_time(week):
    at = datetime(2018, 7, 6, 9, 0, tzinfo=LONDON)
    new = run(week, {"pin": [{"site_id": "Sd94842", "unit": "CX-C1", "at": at.isoformat()}]})
    route = by_key(new)["CX-C1/2018-07-06/early"]
    assert any(s.ref == "Sd94842" and s.arrive == at for s in route.stops)
    # The pin takes the place of the visit the site had in that shift, not one more.
    def count(plan):
        return sum(1 for r in plan.routes if r.date == at.date() for s in r.stops
                   if s.ref == "Sd94842" and s.arrive.hour < 15)
    assert count(new) == count(week[2])


def test_a_replan_of_a_replan_keeps_the_first_changes(week, car_off):
    pin = {"pin": [{"site_id": "Sd94842", "unit": "CX-C1", "at": "2018-07-07T09:00:00"}]}
    second = run(week, pin, start=datetime(2018, 7, 5, 8, 0, tzinfo=LONDON), parent=car_off)
    assert "CX-C2/2018-07-05/late" not in by_key(second), "the car is still off"
    changes = second.extra["replan"]["changes"]
    assert changes["unit_off"] and changes["pin"]
    applied = second.extra["replan"]["applied"]
    assert list(applied) == ["pin"] and applied["pin"][0]["at"] == "2018-07-07T09:00:00+01:00"
    assert second.extra["replan"]["shifts_solved"] == ["2018-07-07/early"]


# ----------------------------------------------------------------- refusals
def test_pin_outside_the_sites_window_is_refused(week):
    area = week[0]
    home = next(s for s in area.sites if s.kind == "home" and s.window_start is None)
    doc = {"pin": [{"site_id": home.site_id, "unit": "CX-C1", "at": "2018-07-06T12:00:00"}]}
    with pytest.raises(InputError, match=r"field 'pin\[0\]\.at'.*outside site .* window \(17:00-07:00\)"):
        run(week, doc)


def test_pin_that_cannot_be_reached_is_refused(week):
    doc = {"pin": [{"site_id": "Sd94842", "unit": "CX-C1", "at": "2018-07-06T14:55:00"}]}
    with pytest.raises(InputError, match=r"field 'pin\[0\]\.at'.*CX-C1 cannot reach site Sd94842 by 14:55 "
                                         r".* back by 15:00"):
        run(week, doc)


def test_bad_changes_name_the_table_index_and_field(week):
    doc = {"unit_off": [CAR_OFF["unit_off"][0], {"unit": "XX-9", "from": "2018-07-05T00:00:00",
                                                 "to": "2018-07-05T06:00:00"}]}
    with pytest.raises(InputError, match=r"CHANGES\.toml: field 'unit_off\[1\]\.unit': unknown unit 'XX-9'"):
        run(week, doc)


def test_redacted_or_foreign_parents_are_refused(week):
    from dataclasses import replace

    with pytest.raises(InputError, match="redacted"):
        run(week, CAR_OFF, parent=replace(week[2], redacted=True))
    with pytest.raises(InputError, match="the plan is for"):
        run(week, CAR_OFF, parent=replace(week[2], area="Elsewhere"))


# ----------------------------------------------------------------- warnings
def test_pins_at_the_same_hour_every_day_warn(week):
    days = [date(2018, 7, 5) + timedelta(days=d) for d in range(4)]
    doc = {"pin": [{"site_id": "Sd94842", "unit": "CX-C1", "at": f"{d.isoformat()}T09:00:00"} for d in days]
           + [{"site_id": "Sd94842", "unit": "BG-C1", "at": f"{d.isoformat()}T16:00:00"} for d in days]}
    new = run(week, doc)
    warnings = new.extra["warnings"]
    kinds = {w["kind"] for w in warnings}
    assert kinds == {"same_hour", "spread"}
    assert all(w["site_id"] == "Sd94842" for w in warnings)
    spread = next(w for w in warnings if w["kind"] == "spread")
    assert "below 0.90" in spread["message"] and "pin[0]" in spread["by"]
    # Every flagged pair involves a visit from --from on.
    for w in warnings:
        if w["kind"] == "same_hour":
            assert "Tue" not in w["message"].split(" and ")[1]


def test_no_warning_without_pins_or_narrowed_windows(car_off):
    assert car_off.extra["warnings"] == []


# ----------------------------------------------------------------- command
def test_replan_command_writes_a_bundle_and_refuses_bad_changes(tmp_path, week, capsys):
    from patrols.cli import main
    from patrols.outputs.bundle import write_bundle

    parent_dir = write_bundle(week[2], tmp_path / "parent")
    changes = tmp_path / "CHANGES.toml"
    changes.write_text('[[unit_off]]\nunit = "CX-C2"\nfrom = 2018-07-04T15:00:00\nto = 2018-07-06T07:00:00\n')
    out = tmp_path / "new"
    assert main(["replan", "--area", str(WESTMINSTER_AREA), "--plan", str(parent_dir), "--from",
                 "2018-07-04T12:00", "--changes", str(changes), "--out", str(out), "--workers", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replan"]["shifts_solved"] == ["2018-07-04/late", "2018-07-05/late"]
    assert len(summary["replan"]["parent"]) == 16
    # Unchanged routes' briefings are the parent's, byte for byte.
    name = "briefings/CX-C1_2018-07-02_early.html"
    assert (out / name).read_bytes() == (parent_dir / name).read_bytes()

    bad = tmp_path / "BAD.toml"
    bad.write_text('[[pin]]\nsite_id = "Sd94842"\nunit = "CX-C1"\nat = 2018-07-06T14:55:00\n')
    capsys.readouterr()
    out2 = tmp_path / "never"
    assert main(["replan", "--area", str(WESTMINSTER_AREA), "--plan", str(parent_dir), "--from",
                 "2018-07-04T12:00", "--changes", str(bad), "--out", str(out2), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pin[0].at" in err[0] and "BAD.toml" in err[0]
    assert not out2.exists()


def test_restrict_renumbers_each_vehicles_allowed_points(week):
    """A re-plan's locked stops are allowed to their own unit; restricting the problem (hotspots out
    of prize) must renumber those sets with the points, or the locked stops fall off their routes."""
    from patrols.planning import restrict
    from patrols.solver.problem import ShiftProblem, Vehicle

    n = 5
    travel = {"car": np.ones((n, n))}
    veh = Vehicle(start=0, end=0, earliest=0.0, latest=100.0, profile="car", max_busy=100.0,
                  allowed=frozenset({1, 3, 4}))
    problem = ShiftProblem(travel=travel, service=np.zeros(n), prize=np.ones(n), required=np.zeros(n, bool),
                           window_open=np.zeros(n), window_close=np.full(n, 100.0), vehicles=(veh,), name="t")
    sub = restrict(problem, [0, 1, 3, 4])
    assert sub.vehicles[0].allowed == frozenset({1, 2, 3})
    assert restrict(problem, [0, 2, 4]).vehicles[0].allowed == frozenset({2})
