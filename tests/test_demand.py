"""Demand: protective visits per tier, spread over shifts, within windows."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, time

from patrols import defaults
from patrols.area import Settings
from patrols.demand import match_events, protective_visits, week_slots
from patrols.sites import Site
from patrols.week import Unit, unit_shifts

WEEK = date(2018, 7, 2)


def _everyone():
    units = [Unit(f"U{s}", "car", "X", s, frozenset(range(7))) for s in defaults.SHIFTS]
    return unit_shifts(units, WEEK, defaults.SHIFTS)


def test_visits_per_tier_gap_and_spread():
    sites = [Site("t1", "home", 51.5, -0.1, 1), Site("t2", "office", 51.5, -0.1, 2),
             Site("t3", "home", 51.5, -0.1, 3)]
    slots = week_slots(WEEK, defaults.SHIFTS, defaults.TIMEZONE)
    visits, unserved = protective_visits(sites, slots, _everyone(), Settings(), defaults.SITE_WINDOWS, 1)
    assert not unserved
    per_site = Counter(v.site_id for v in visits)
    assert per_site == {"t1": 14, "t2": 7, "t3": 3}
    for site in ("t1", "t2", "t3"):
        mine = sorted((v for v in visits if v.site_id == site), key=lambda v: v.target)
        for a, b in itertools.pairwise(mine):
            # Whole windows keep the gap, so any served times do too.
            assert b.window_open.timestamp() - a.window_close.timestamp() >= 4 * 3600
    t1 = [v for v in visits if v.site_id == "t1"]
    # Stratified times: 14 visits in a 14-hour window land in (almost) 14 different hours.
    assert len({v.target.hour for v in t1}) >= 12
    assert {v.slot.shift for v in t1} == {"late", "night"}
    # Tier 3 falls on three different days.
    assert len({v.target.date() for v in visits if v.site_id == "t3"}) == 3


def test_a_planned_event_at_a_site_gets_a_visit_in_its_window():
    from datetime import datetime
    from types import SimpleNamespace

    site = Site("s", "surgery", 51.5, -0.1, 2)
    ev = SimpleNamespace(event_id="E1", lat=51.5003, lon=-0.1002, start=datetime(2018, 7, 6, 10),
                         end=datetime(2018, 7, 6, 12))
    far = SimpleNamespace(event_id="E2", lat=51.6, lon=-0.1, start=datetime(2018, 7, 6, 10),
                          end=datetime(2018, 7, 6, 12))
    events = match_events([ev, far], [site], WEEK, defaults.TIMEZONE)
    assert [e.event_id for e in events] == ["E1"]
    slots = week_slots(WEEK, defaults.SHIFTS, defaults.TIMEZONE)
    visits, unserved = protective_visits([site], slots, _everyone(), Settings(), defaults.SITE_WINDOWS, 2,
                                         events)
    assert not unserved
    at_event = [v for v in visits if v.source == "event:E1"]
    assert len(at_event) == 1
    v = at_event[0]
    assert v.window_open.isoformat() == "2018-07-06T10:00:00+01:00"
    assert v.window_close.isoformat() == "2018-07-06T11:50:00+01:00"  # service ends by 12:00
    others = [w for w in visits if w.source == "tier"]
    assert len(others) == 7
    assert all(abs(w.target.timestamp() - v.target.timestamp()) >= 4 * 3600 for w in others)


def test_windows_lie_inside_the_slot_and_the_site_window():
    office = Site("o", "office", 51.5, -0.1, 2)
    evening = Site("e", "home", 51.5, -0.1, 2, window_start=time(18), window_end=time(22), dwell_min=12)
    slots = week_slots(WEEK, defaults.SHIFTS, defaults.TIMEZONE)
    visits, unserved = protective_visits([office, evening], slots, _everyone(), Settings(),
                                         defaults.SITE_WINDOWS, 3)
    assert not unserved
    for v in visits:
        assert v.slot.start <= v.window_open <= v.window_close <= v.slot.end
        local_open, local_close = v.window_open.time(), v.window_close.time()
        if v.site_id == "o":
            assert time(8) <= local_open and local_close <= time(19)
        else:
            assert v.slot.shift == "late" and v.dwell_min == 12
            assert time(18) <= local_open and local_close <= time(21, 48)
    assert len({v.target.hour for v in visits if v.site_id == "o"}) >= 5


def test_unstaffed_window_is_reported_with_its_reason():
    units = [Unit("N", "car", "X", "night", frozenset(range(7)))]
    shifts = unit_shifts(units, WEEK, defaults.SHIFTS)
    office = Site("o", "office", 51.5, -0.1, 2)
    slots = week_slots(WEEK, defaults.SHIFTS, defaults.TIMEZONE)
    visits, unserved = protective_visits([office], slots, shifts, Settings(), defaults.SITE_WINDOWS, 0)
    assert not visits
    assert len(unserved) == 7
    assert all(u.reason == "no unit on duty in the site's window" for u in unserved)


def test_same_seed_same_visits_other_seed_other_times():
    sites = [Site(f"s{i}", "home", 51.5, -0.1, 1) for i in range(5)]
    slots = week_slots(WEEK, defaults.SHIFTS, defaults.TIMEZONE)
    a, _ = protective_visits(sites, slots, _everyone(), Settings(), defaults.SITE_WINDOWS, 5)
    b, _ = protective_visits(sites, slots, _everyone(), Settings(), defaults.SITE_WINDOWS, 5)
    c, _ = protective_visits(sites, slots, _everyone(), Settings(), defaults.SITE_WINDOWS, 6)
    assert a == b
    assert [v.window_open for v in a] != [v.window_open for v in c]
