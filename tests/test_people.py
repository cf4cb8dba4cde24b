"""People behind the sites, their contacts, election periods and escalation (issue 15)."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from patrols import defaults
from patrols.area import EscalationRule, load_area
from patrols.demand import prorated, protective_visits, watch_visits, week_slots
from patrols.errors import InputError
from patrols.escalation import find_escalations, merged_watches
from patrols.outputs.briefing import briefings
from patrols.outputs.redaction import redact
from patrols.outputs.summary import summarize
from patrols.people import Election, Person, protected_days
from patrols.plan import plan_from_dict, plan_to_dict
from patrols.sites import Site
from patrols.week import unit_shifts

from conftest import WESTMINSTER_AREA

LONDON = ZoneInfo("Europe/London")
WEEK = date(2018, 7, 2)
THURSDAY = date(2018, 7, 5)


@pytest.fixture()
def area_copy(tmp_path: Path) -> Path:
    """The demo area's small files in a temporary folder (the network is referred to, not copied)."""
    src = WESTMINSTER_AREA.parent
    for name in ("police_stations.csv", "units.csv", "sites.csv", "events.csv", "people.csv", "contacts.csv"):
        shutil.copy(src / name, tmp_path / name)
    text = WESTMINSTER_AREA.read_text()
    text = text.replace('network = "westminster_drive_osmnx.graphml"',
                        f'network = "{(src / "westminster_drive_osmnx.graphml").as_posix()}"')
    text = text.replace('incidents = ["westminster_street_crime_2017-07_2018-06.csv.gz"]', "")
    (tmp_path / "area.toml").write_text(text)
    return tmp_path / "area.toml"


# ------------------------------------------------------------------ reading


def test_demo_people_and_contacts_load_and_are_synthetic():
    area = load_area(WESTMINSTER_AREA)
    assert len(area.people) == 12 and len(area.contacts) == 6
    assert {p.role for p in area.people.values()} == {"mp", "candidate", "councillor", "other"}
    assert all(s.person_id in area.people for s in area.sites)
    assert all(c.name.startswith("SYNTHETIC") for c in area.contacts.values())
    assert area.election == Election(THURSDAY, date(2018, 8, 2))


@pytest.mark.parametrize(("file", "find", "put", "expected"), [
    ("people.csv", ",candidate,", ",senator,", "line 3: field 'role': 'senator' is not one of"),
    ("people.csv", "P5334fe,candidate,C6ddfb4,,", "P5334fe,candidate,Cnobody,,",
     "field 'contact_id': unknown contact 'Cnobody'"),
    ("people.csv", "P5334fe,candidate,C6ddfb4,,", "P5334fe,candidate,C6ddfb4,2018-13-01,",
     "field 'valid_from': '2018-13-01' is not a date"),
    ("people.csv", "P5334fe,candidate,C6ddfb4,,", "P5334fe,candidate,C6ddfb4,2018-07-05,2018-07-01",
     "field 'valid_to': 2018-07-01 is before valid_from 2018-07-05"),
    ("people.csv", "P61bb36", "P5334fe", "field 'person_id': duplicate person id 'P5334fe'"),
    ("contacts.csv", ",BG,", ",XX,", "field 'station_id': unknown station 'XX'"),
    ("sites.csv", ",Pc63b1d\n", ",Pnobody\n", "field 'person_id': unknown person 'Pnobody'"),
    ("area.toml", "polling_day = 2018-08-02", "polling_day = 2018-06-02",
     "field 'election.polling_day': polling day is before the start"),
    ("area.toml", "polling_day = 2018-08-02", "polling = 2018-08-02", "field 'election.polling'"),
    ("area.toml", "[election]", "[escalation]\nevery_h = 0.5\n\n[election]",
     "field 'escalation.every_h'"),
    ("area.toml", "[election]", "[escalation]\nkinds = 'protest'\n\n[election]", "field 'escalation.kinds'"),
])
def test_bad_people_input_is_one_line_naming_file_row_and_field(area_copy, file, find, put, expected):
    path = area_copy.parent / file
    text = path.read_text()
    assert find in text
    path.write_text(text.replace(find, put, 1))
    with pytest.raises(InputError) as err:
        load_area(area_copy)
    assert expected in str(err.value)
    assert "\n" not in str(err.value) and file in str(err.value)


def test_contacts_without_people_and_person_ids_without_people_are_refused(area_copy):
    text = area_copy.read_text()
    area_copy.write_text(text.replace('people = "people.csv"', ""))
    with pytest.raises(InputError, match="contacts are named but no people file"):
        load_area(area_copy)
    area_copy.write_text(text.replace('people = "people.csv"', "").replace('contacts = "contacts.csv"', ""))
    with pytest.raises(InputError,
                       match=r"sites.csv: line 2: field 'person_id': unknown person .* no people file"):
        load_area(area_copy)


# ------------------------------------------------------------------ validity


def test_protected_days_follow_dates_election_and_roles():
    election = Election(THURSDAY, date(2018, 8, 2))
    people = {
        "cand": Person("cand", "candidate"),
        "dated": Person("dated", "candidate", valid_from=date(2018, 7, 3), valid_to=date(2018, 7, 4)),
        "mp": Person("mp", "mp"),
        "gone": Person("gone", "other", valid_to=date(2018, 7, 3)),
    }
    sites = [SimpleNamespace(site_id=k, person_id=k) for k in people] + [
        SimpleNamespace(site_id="none", person_id="")]
    days = protected_days(sites, people, election, WEEK)
    assert sorted(days["cand"]) == [THURSDAY + timedelta(days=i) for i in range(4)]
    assert sorted(days["dated"]) == [date(2018, 7, 3), date(2018, 7, 4)]
    assert len(days["mp"]) == 7 and len(days["none"]) == 7
    assert sorted(days["gone"]) == [date(2018, 7, 2), date(2018, 7, 3)]
    # Without an election an undated candidate is protected all week.
    assert len(protected_days(sites, people, None, WEEK)["cand"]) == 7


@pytest.mark.parametrize(("need", "days", "expected"), [
    (14, 7, 14), (14, 4, 8), (7, 4, 4), (3, 4, 2), (3, 1, 1), (3, 0, 0), (0, 4, 0), (7, 2, 2)])
def test_prorated_quota(need, days, expected):
    assert prorated(need, days) == expected


def _visits(area, sites, protected=None, watches=None, events=None):
    slots = week_slots(WEEK, area.shifts, area.settings.timezone)
    shifts = unit_shifts(area.units, WEEK, area.shifts, area.settings.timezone)
    return protective_visits(sites, slots, shifts, area.settings, defaults.SITE_WINDOWS, 7, events,
                             protected, watches)


def test_a_site_gets_visits_only_on_its_persons_days_prorated():
    area = load_area(WESTMINSTER_AREA)
    site = next(s for s in area.sites if s.tier == 2 and s.kind == "office")
    for lo, hi in [(THURSDAY, None), (None, date(2018, 7, 3)), (date(2018, 7, 4), date(2018, 7, 6))]:
        person = Person("p", "mp", valid_from=lo, valid_to=hi)
        days = protected_days([replace(site, person_id="p")], {"p": person}, None, WEEK)
        visits, unserved = _visits(area, [site], days)
        assert not unserved
        assert len(visits) == prorated(7, len(days[site.site_id]))
        assert {v.target.date() for v in visits} <= days[site.site_id]
    # Protected all week, the draws are exactly those without any people at all.
    everyday = protected_days([site], {}, None, WEEK)
    assert _visits(area, [site], everyday) == _visits(area, [site])


def test_demo_candidates_valid_from_thursday_get_no_visit_before_thursday(demo_week):
    area, _, plan = demo_week
    candidates = {p.person_id for p in area.people.values() if p.role == "candidate"}
    sites = {s.site_id for s in area.sites if s.person_id in candidates}
    assert sites
    stops = [(r, s) for r in plan.routes for s in r.stops if s.kind == "protective" and s.ref in sites]
    assert stops and all(s.arrive.date() >= THURSDAY for _, s in stops)
    # Each gets its quota for four days of seven, and nothing is left unserved for it.
    tiers = {s.site_id: s.tier for s in area.sites}
    for sid in sites:
        made = sum(1 for _, s in stops if s.ref == sid)
        missed = sum(1 for u in plan.unserved if u.site_id == sid)
        assert made + missed == prorated(area.settings.visits_per_week_by_tier[tiers[sid]], 4)
    summary = summarize(plan)
    assert summary["election"]["days_in_week"] == 4 and summary["election"]["candidates"] == 4
    late = {p["person_id"]: p for p in summary["people"]["protected_part_of_week"]}
    assert set(late) == candidates
    assert all(p["from"] == "2018-07-05" and p["days"] == 4 for p in late.values())


# ------------------------------------------------------------------ escalation


def test_watch_calls_never_leave_a_gap_longer_than_every():
    rng = random.Random(3)
    for _ in range(300):
        lo = 1_500_000_000.0
        hi = lo + rng.uniform(0.2, 30.0) * 3600.0
        every = rng.uniform(0.75, 6.0)
        calls = watch_visits(lo, hi, every)
        for _ in range(5):
            starts = sorted(rng.uniform(a, b) for _, a, b in calls)
            marks = [lo, *starts, hi]
            assert max(b - a for a, b in itertools.pairwise(marks)) <= every * 3600.0 + 1e-6
        assert all(b - a >= 2 * defaults.ESCALATION_SLACK_MIN * 60.0 - 1e-6 for _, a, b in calls)


def _event(kind="protest", level=2, lat=51.5, lon=-0.15, day=THURSDAY, start=18, end=21, eid="E1"):
    return SimpleNamespace(event_id=eid, kind=kind, level=level, lat=lat, lon=lon,
                           start=datetime(day.year, day.month, day.day, start),
                           end=datetime(day.year, day.month, day.day, end))


def test_which_events_escalate_which_sites():
    site = Site("S1", "home", 51.5, -0.15, 3)
    rule = EscalationRule()
    near_lat = 51.5 + 250 / 111_320.0  # 250 m north
    far_lat = 51.5 + 350 / 111_320.0
    cases = [(_event(level=1, lat=near_lat), 1), (_event(kind="march", level=4), 1),
             (_event(kind="march", level=3), 0), (_event(lat=far_lat), 0),
             (_event(day=WEEK + timedelta(days=9)), 0)]
    for ev, n in cases:
        assert len(find_escalations([ev], [site], rule, WEEK, "Europe/London")) == n, ev
    # Not protected on the day: no escalation.
    assert find_escalations([_event()], [site], rule, WEEK, "Europe/London", {"S1": frozenset({WEEK})}) == []
    esc = find_escalations([_event()], [site], rule, WEEK, "Europe/London")[0]
    assert (esc.watch_from.hour, esc.watch_to.hour) == (17, 22)
    # A wider radius and another kind, from area.toml's [escalation].
    wide = replace(rule, radius_m=400.0, kinds=("march",), min_level=7)
    assert len(find_escalations([_event(kind="march", level=1, lat=far_lat)], [site], wide, WEEK,
                                "Europe/London")) == 1
    assert find_escalations([_event(kind="protest", level=6)], [site], wide, WEEK, "Europe/London") == []


def test_escalation_visits_whatever_the_tier_and_overlapping_watches_join():
    area = load_area(WESTMINSTER_AREA)
    site = replace(next(s for s in area.sites if s.kind == "home"), visits_per_week=0)
    events = [_event(lat=site.lat, lon=site.lon),
              _event(eid="E2", lat=site.lat, lon=site.lon, start=20, end=23)]
    escs = find_escalations(events, [site], area.escalation, WEEK, "Europe/London")
    watches = merged_watches(escs)
    assert len(watches[site.site_id]) == 1 and watches[site.site_id][0].source == "escalation:E1+E2"
    visits, unserved = _visits(area, [site], watches=watches)
    assert not unserved
    lo = datetime(2018, 7, 5, 17, tzinfo=LONDON).timestamp()
    hi = datetime(2018, 7, 6, 0, tzinfo=LONDON).timestamp()
    assert len(visits) == len(watch_visits(lo, hi, 2.0)) >= 4
    assert all(v.source == "escalation:E1+E2" and "E1" in v.note and "E2" in v.note for v in visits)
    marks = [lo, *sorted(v.window_close.timestamp() for v in visits), hi]
    assert max(b - a for a, b in itertools.pairwise(marks)) <= 2 * 3600 + 1
    # The event at the site itself makes no separate visit: the watch covers it.
    from patrols.demand import match_events
    at = match_events(events, [site], WEEK, "Europe/London")
    again, _ = _visits(area, [site], watches=watches, events=at)
    assert again == visits


def test_demo_protest_outside_a_tier_3_home_is_visited_every_two_hours(demo_week):
    area, _, plan = demo_week
    summary = summarize(plan)
    (esc,) = [e for e in summary["escalations"] if e["event_id"] == "EV-PROTEST-1"]
    site = next(s for s in area.sites if s.site_id == esc["site_id"])
    assert site.kind == "home" and site.tier == 3
    assert esc["watch_from"] == "2018-07-05T17:00:00+01:00" and esc["watch_to"] == "2018-07-05T22:00:00+01:00"
    assert esc["met"] and esc["longest_gap_min"] <= 120 and esc["unserved"] == 0
    assert len(esc["visits"]) >= esc["required_visits"] == 4
    # Every call is on a route, marked with the event.
    stops = [s for r in plan.routes for s in r.stops if s.kind == "protective" and s.ref == site.site_id
             and "EV-PROTEST-1" in s.note]
    assert len(stops) == esc["required_visits"]
    pages = briefings(plan)
    assert any("Escalation: protest EV-PROTEST-1" in page for page in pages.values())
    # The protest counts among the events at sites, escalated.
    assert any(e["event_id"] == "EV-PROTEST-1" and e["escalated"] for e in plan.extra["site_events"])


def test_people_and_escalations_survive_json_and_vanish_when_redacted(demo_week):
    _, network, plan = demo_week
    again = plan_from_dict(json.loads(json.dumps(plan_to_dict(plan))))
    assert again.extra["escalations"] == plan.extra["escalations"]
    assert [s.note for r in again.routes for s in r.stops] == [s.note for r in plan.routes for s in r.stops]
    assert {s.person_id for s in again.sites} == {s.person_id for s in plan.sites} != {""}
    hidden = redact(plan, network)
    text = json.dumps(plan_to_dict(hidden)) + json.dumps(summarize(hidden))
    for word in ("escalation", "EV-PROTEST-1", "person_id", "contact", "election", "SYNTHETIC contact"):
        assert word not in text
    assert all(s.note == "" for r in hidden.routes for s in r.stops)
