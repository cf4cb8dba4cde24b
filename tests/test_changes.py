"""Changes to a planned week: CHANGES.toml read and checked against the Leeds test area."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from patrols.changes import Changes, Forbid, Pin, SiteOff, UnitOff, parse_changes, read_changes
from patrols.errors import InputError
from patrols.sites import Site
from patrols.tension import PlannedEvent
from patrols.week import UnitShift

WEEK = date(2018, 7, 2)
LONDON = ZoneInfo("Europe/London")

# Leeds: LU-C1 car early (07-15) Mon-Fri, LU-F1 foot late (15-23) every day, station LU.
EVERY_TABLE = """
[[unit_off]]
unit = "LU-C1"
from = 2018-07-04T07:00:00
to = 2018-07-05

[[unit_extra]]
unit = "LU-C9"
mode = "car"
station = "LU"
date = 2018-07-07
shift = "night"

[[site]]
site_id = "S-new1"
kind = "home"
lat = 53.8071
lon = -1.5530
tier = 1
window_start = "18:00"
window_end = 06:00:00

[[site]]
site_id = "S1738f7"
kind = "office"
lat = 53.806070
lon = -1.549780
tier = 2

[[site_off]]
site_id = "Sa09f76"
from = 2018-07-05T00:00:00
to = 2018-07-08T00:00:00+01:00

[[event]]
event_id = "E-protest1"
kind = "protest"
lat = 53.8069
lon = -1.5521
start = 2018-07-05T18:00:00
end = 2018-07-05T21:00:00
level = 5

[[pin]]
site_id = "S-new1"
unit = "LU-C9"
at = 2018-07-08T02:00:00

[[pin]]
site_id = "S95e60a"
unit = "LU-F1"
at = 2018-07-06T20:00:00Z

[[forbid]]
ref = "H04"
from = 2018-07-06T22:00:00
to = 2018-07-07T06:00:00

[[forbid]]
ref = "S90c192"
from = 2018-07-02
to = 2018-07-02
"""


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def _parse(text: str, area) -> Changes:
    return parse_changes(tomllib.loads(text), area, WEEK, "CHANGES.toml")


def test_a_file_with_every_table_reads_as_typed_frozen_changes(leeds_area, tmp_path):
    path = tmp_path / "CHANGES.toml"
    path.write_text(EVERY_TABLE, encoding="utf-8")
    changes = read_changes(path, leeds_area, WEEK)
    assert changes.source == str(path)
    assert changes.unit_off == (UnitOff("LU-C1", _local(2018, 7, 4, 7), _local(2018, 7, 6)),)
    (extra,) = changes.unit_extra
    assert isinstance(extra, UnitShift)
    assert (extra.unit_id, extra.mode, extra.station_id, extra.shift) == ("LU-C9", "car", "LU", "night")
    assert (extra.start, extra.end) == (_local(2018, 7, 7, 23), _local(2018, 7, 8, 7))
    new, changed = changes.sites
    assert new == Site("S-new1", "home", 53.8071, -1.553, 1, time(18), time(6))
    assert (changed.site_id, changed.kind, changed.tier) == ("S1738f7", "office", 2)
    assert changes.site_off == (SiteOff("Sa09f76", _local(2018, 7, 5), _local(2018, 7, 8)),)
    assert changes.events == (PlannedEvent("E-protest1", "protest", 53.8069, -1.5521,
                                           datetime(2018, 7, 5, 18), datetime(2018, 7, 5, 21), 5),)
    assert changes.pins == (Pin("S-new1", "LU-C9", _local(2018, 7, 8, 2)),
                            Pin("S95e60a", "LU-F1", _local(2018, 7, 6, 21)))
    assert changes.forbids == (
        Forbid("H04", "hotspot", _local(2018, 7, 6, 22), _local(2018, 7, 7, 6)),
        Forbid("S90c192", "site", _local(2018, 7, 2), _local(2018, 7, 3)),  # a bare end date is inclusive
    )
    with pytest.raises(AttributeError):
        changes.pins = ()  # type: ignore[misc]


def test_an_empty_file_is_no_changes(leeds_area):
    changes = _parse("", leeds_area)
    assert changes == Changes("CHANGES.toml", WEEK)


@pytest.mark.parametrize("at", [
    "2018-07-04T10:00:00",           # local (BST)
    "2018-07-04T09:00:00Z",          # UTC
    "2018-07-04T10:00:00+01:00",
    "2018-07-04T11:00:00+02:00",
    '"2018-07-04T10:00:00"',         # an ISO string, as JSON would send it
    '"2018-07-04T09:00:00+00:00"',
])
def test_offsets_and_local_times_name_the_same_moment(leeds_area, at):
    changes = _parse(f'[[pin]]\nsite_id = "S95e60a"\nunit = "LU-C1"\nat = {at}\n', leeds_area)
    assert changes.pins[0].at == _local(2018, 7, 4, 10)
    assert changes.pins[0].at.utcoffset().total_seconds() == 3600


def test_a_local_date_runs_from_its_midnight_and_an_end_date_to_the_next(leeds_area):
    changes = _parse('[[unit_off]]\nunit = "LU-F1"\nfrom = 2018-07-03\nto = 2018-07-03\n', leeds_area)
    assert changes.unit_off[0] == UnitOff("LU-F1", _local(2018, 7, 3), _local(2018, 7, 4))


def test_an_offset_event_time_is_read_as_events_csv_reads_it(leeds_area):
    changes = _parse("""[[event]]
event_id = "E1"
kind = "surgery"
lat = 53.8
lon = -1.55
start = 2018-07-03T17:00:00Z
end = 2018-07-03
level = 2
""", leeds_area)
    event = changes.events[0]
    assert (event.start, event.end) == (datetime(2018, 7, 3, 18), datetime(2018, 7, 4))


PIN = '[[pin]]\nsite_id = "S95e60a"\nunit = "LU-C1"\nat = {}\n'
OFF = '[[unit_off]]\nunit = "{}"\nfrom = {}\nto = {}\n'
EXTRA = '[[unit_extra]]\nunit = "{}"\nmode = "{}"\nstation = "{}"\ndate = {}\nshift = "{}"\n'
SITE = '[[site]]\nsite_id = "S-x"\nkind = "home"\nlat = {}\nlon = -1.55\ntier = {}\n'
EVENT = ('[[event]]\nevent_id = "E1"\nkind = "protest"\nlat = 53.8\nlon = -1.55\n'
         'start = {}\nend = {}\nlevel = {}\n')
GOOD_PIN = PIN.format("2018-07-02T08:00:00")


@pytest.mark.parametrize(("text", "field", "words"), [
    ("[[unit_of]]\nunit = 'LU-C1'\n", "unit_of", "unknown table"),
    ('[[unit_off]]\nunit = "LU-C1"\nfrm = 2018-07-03\nto = 2018-07-04\n', "unit_off[0].frm", "unknown key"),
    ('[[pin]]\nsite_id = "S95e60a"\nunit = "LU-C1"\n', "pin[0].at", "missing key"),
    ('[pin]\nsite_id = "S95e60a"\nunit = "LU-C1"\nat = 2018-07-02T08:00:00\n', "pin", "list of tables"),
    (OFF.format("LU-C1", 5, "2018-07-04"), "unit_off[0].from", "must be a date-time or a date"),
    (OFF.format("LU-C1", '"Wednesday"', "2018-07-04"), "unit_off[0].from", "not an ISO date"),
    (PIN.format("2018-07-04"), "pin[0].at", "must be a date-time, not a date"),
    ('[[pin]]\nsite_id = 7\nunit = "LU-C1"\nat = 2018-07-02T08:00:00\n', "pin[0].site_id", "a string"),
    (SITE.format('"north"', 1), "site[0].lat", "is not a number"),
    (SITE.format(53.8, 5), "site[0].tier", "out of range"),
    (SITE.format(53.8, "true"), "site[0].tier", "must be a string, number"),
    ('[[site]]\nsite_id = "S-x"\nkind = "castle"\nlat = 53.8\nlon = -1.55\ntier = 1\n', "site[0].kind",
     "not one of"),
    (SITE.format(53.8, 1) + SITE.format(53.8, 2), "site[1].site_id", "given twice"),
    (EVENT.format("2018-07-03T18:00:00", "2018-07-03T20:00:00", '"high"'), "event[0].level", "not a number"),
    (EVENT.format("2018-07-03T18:00:00", "2018-07-03T17:00:00", 3), "event[0].end", "not after start"),
    (EVENT.format("2018-06-30T18:00:00", "2018-07-03T17:00:00", 3), "event[0].start", "outside the"),
    (GOOD_PIN + PIN.replace("LU-C1", "LU-C7").format("2018-07-02T08:00:00"), "pin[1].unit", "unknown unit"),
    (OFF.format("LU-X", "2018-07-03", "2018-07-04"), "unit_off[0].unit", "unknown unit"),
    ('[[site_off]]\nsite_id = "S-nope"\nfrom = 2018-07-03\nto = 2018-07-04\n', "site_off[0].site_id",
     "unknown site"),
    ('[[forbid]]\nref = "X01"\nfrom = 2018-07-03\nto = 2018-07-04\n', "forbid[0].ref", "neither"),
    (EXTRA.format("LU-C9", "car", "LS", "2018-07-05", "late"), "unit_extra[0].station", "unknown station"),
    (EXTRA.format("LU-C9", "car", "LU", "2018-07-05", "evening"), "unit_extra[0].shift", "unknown shift"),
    (EXTRA.format("LU-C9", "bike", "LU", "2018-07-05", "late"), "unit_extra[0].mode", "not car or foot"),
    (EXTRA.format("LU-F1", "car", "LU", "2018-07-05", "early"), "unit_extra[0].mode", "is a foot patrol"),
    (EXTRA.format("LU-C1", "car", "LU", "2018-07-05", "early"), "unit_extra[0].shift", "already works"),
    (EXTRA.format("LU-C9", "car", "LU", "2018-07-09", "early"), "unit_extra[0].date", "outside the"),
    (EXTRA.format("LU-C9", "car", "LU", "2018-07-05T07:00:00", "early"), "unit_extra[0].date",
     "must be a date"),
    (OFF.format("LU-C1", "2018-07-04T15:00:00", "2018-07-04T15:00:00"), "unit_off[0].to", "not after from"),
    (OFF.format("LU-C1", "2018-07-04T15:00:00", "2018-07-04T14:00:00Z"), "unit_off[0].to", "not after from"),
    (OFF.format("LU-C1", "2018-07-01T22:00:00", "2018-07-04"), "unit_off[0].from", "outside the"),
    (OFF.format("LU-C1", "2018-07-04", "2018-07-09T00:00:01"), "unit_off[0].to", "outside the"),
    (GOOD_PIN + PIN.format("2018-07-07T10:00:00"), "pin[1].at", "not on duty"),   # LU-C1 works Mon-Fri
    (PIN.format("2018-07-02T15:00:00"), "pin[0].at", "not on duty"),               # its shift ends at 15:00
    (PIN.format("2018-07-02T14:30:00Z"), "pin[0].at", "not on duty"),              # 15:30 BST
    (OFF.format("LU-C1", "2018-07-02", "2018-07-02") + PIN.format("2018-07-02T08:00:00"), "pin[0].at",
     "off then (unit_off[0])"),
    ('[[site_off]]\nsite_id = "S95e60a"\nfrom = 2018-07-02\nto = 2018-07-03\n' + GOOD_PIN, "pin[0].at",
     "no visits then (site_off[0])"),
    ('[[forbid]]\nref = "S95e60a"\nfrom = 2018-07-02\nto = 2018-07-03\n' + GOOD_PIN, "pin[0].at",
     "forbidden then (forbid[0])"),
])
def test_a_bad_change_is_refused_with_one_line_naming_table_index_and_field(leeds_area, text, field, words):
    with pytest.raises(InputError) as caught:
        _parse(text, leeds_area)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"CHANGES.toml: field '{field}': ")
    assert words in line


def test_a_pin_within_the_shift_in_utc_is_on_duty(leeds_area):
    # 06:30Z is 07:30 BST, inside LU-C1's early shift (07-15), though 06:30 local is not: the offset counts.
    assert _parse(PIN.format("2018-07-02T06:30:00Z"), leeds_area).pins[0].at == _local(2018, 7, 2, 7, 30)
    with pytest.raises(InputError, match="not on duty"):
        _parse(PIN.format("2018-07-02T06:30:00"), leeds_area)
    assert _parse(PIN.format("2018-07-02T14:30:00"), leeds_area).pins[0].at == _local(2018, 7, 2, 14, 30)


def test_unreadable_and_missing_files_are_refused(leeds_area, tmp_path):
    with pytest.raises(InputError, match="changes file not found"):
        read_changes(tmp_path / "none.toml", leeds_area, WEEK)
    bad = tmp_path / "CHANGES.toml"
    bad.write_text("[[pin]\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        read_changes(bad, leeds_area, WEEK)
