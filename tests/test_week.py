"""Week: shift templates in Europe/London time and unit-shifts."""

from __future__ import annotations

from datetime import date, time

import pytest

from patrols import defaults
from patrols.errors import InputError
from patrols.week import Unit, parse_days, shift_bounds, unit_shifts


@pytest.mark.parametrize(("day", "hours"), [
    (date(2018, 3, 24), 7.0),   # night into the spring clock change
    (date(2018, 10, 27), 9.0),  # night into the autumn clock change
    (date(2018, 7, 2), 8.0),
])
def test_night_shift_has_its_real_length_across_clock_changes(day, hours):
    start, end = shift_bounds(day, defaults.SHIFTS["night"])
    assert (end.timestamp() - start.timestamp()) / 3600 == hours
    assert (start.hour, end.hour) == (23, 7)


def test_summer_times_carry_bst_offset():
    start, end = shift_bounds(date(2018, 7, 2), defaults.SHIFTS["early"])
    assert start.isoformat() == "2018-07-02T07:00:00+01:00"
    assert end.isoformat() == "2018-07-02T15:00:00+01:00"
    winter, _ = shift_bounds(date(2018, 12, 3), defaults.SHIFTS["early"])
    assert winter.isoformat() == "2018-12-03T07:00:00+00:00"


@pytest.mark.parametrize(("text", "days"), [
    ("Mon-Fri", {0, 1, 2, 3, 4}), ("Sat,Sun", {5, 6}), ("all", set(range(7))),
    ("Fri-Mon", {4, 5, 6, 0}), ("mon,wed-thu", {0, 2, 3}),
])
def test_parse_days(text, days):
    assert parse_days(text) == days


def test_parse_days_refuses_nonsense():
    with pytest.raises(ValueError):
        parse_days("weekdays")


def test_unit_shifts_cover_the_week_in_order():
    units = [Unit("A", "car", "X", "early", frozenset(range(5))),
             Unit("B", "foot", "X", "night", frozenset({5, 6}))]
    shifts = unit_shifts(units, date(2018, 7, 2), defaults.SHIFTS)
    assert len(shifts) == 5 + 2
    assert [s.start for s in shifts] == sorted(s.start for s in shifts)
    assert shifts[-1].unit_id == "B" and shifts[-1].end.date() == date(2018, 7, 9)


def test_a_week_with_no_unit_shift_is_refused():
    units = [Unit("A", "car", "X", "early", frozenset())]
    with pytest.raises(InputError, match="no unit works"):
        unit_shifts(units, date(2018, 7, 2), {"early": (time(7), time(15))})
