"""Contact sheets (``contacts/``): one per named police contact, for that contact alone.

The plan is the saved two unit-shift fixture of the demo week with people,
contacts, events and escalations added as planning will write them
(``extra["people"]``, ``extra["site_events"]``, ``extra["escalations"]``), so
nothing is solved here but for the redacted bundle of the demo week.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from patrols.outputs.bundle import bundle_files, write_bundle
from patrols.outputs.contacts import INDEX, contact_files, protection_text
from patrols.outputs.redaction import redact
from patrols.plan import Plan, Unserved, load_plan, plan_from_dict, plan_to_dict

FIXTURE = Path(__file__).parent / "data" / "outputs_plan.json"
WRITTEN = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
# Sites of the fixture: C1's person P1 has Sc5add0 (visited twice, an event, an escalation) and S918a1c
# (one visit unserved); C2's person P2 has S34f2c7 (by PlannedSite.person_id); P3 names no contact.
C1_SITES = ("Sc5add0", "S918a1c")
C2_SITE, P3_SITE = "S34f2c7", "Sd94842"


def people_extra() -> dict:
    return {
        "people": {
            "persons": [
                {"person_id": "P1", "role": "mp", "contact_id": "C1", "valid_from": None, "valid_to": None,
                 "site_ids": list(C1_SITES),
                 "protected_days": [(date(2018, 7, 2) + timedelta(days=i)).isoformat() for i in range(7)]},
                {"person_id": "P2", "role": "candidate", "contact_id": "C2", "valid_from": "2018-07-05",
                 "valid_to": None, "site_ids": [],
                 "protected_days": ["2018-07-05", "2018-07-06", "2018-07-07", "2018-07-08"]},
                {"person_id": "P3", "role": "councillor", "contact_id": "", "valid_from": None,
                 "valid_to": None, "site_ids": [P3_SITE], "protected_days": ["2018-07-02"]},
            ],
            "contacts": [
                {"contact_id": "C1", "name": "SYNTHETIC PS Alpha", "station_id": "CX",
                 "station_name": "Charing Cross", "phone": "0000 000 0001", "email": ""},
                {"contact_id": "C2", "name": "SYNTHETIC PC Bravo", "station_id": "BG",
                 "station_name": "Belgravia", "phone": "", "email": "bravo@example.invalid"},
                {"contact_id": "C3", "name": "SYNTHETIC PS Idle", "station_id": "CX",
                 "station_name": "Charing Cross", "phone": "", "email": ""},
            ],
        },
        "site_events": [
            {"event_id": "EV-SURG-1", "kind": "surgery", "level": "medium", "site_id": "Sc5add0",
             "start": "2018-07-02T10:00:00+01:00", "end": "2018-07-02T12:00:00+01:00", "escalated": False},
            {"event_id": "E-protest1", "kind": "protest", "level": "high", "site_id": C2_SITE,
             "start": "2018-07-02T18:00:00+01:00", "end": "2018-07-02T21:00:00+01:00", "escalated": True},
        ],
        "escalations": [
            {"event_id": "E-march1", "kind": "march", "level": "high", "site_id": "Sc5add0",
             "distance_m": 180.0,
             "event_start": "2018-07-02T16:00:00+01:00", "event_end": "2018-07-02T17:30:00+01:00",
             "watch_from": "2018-07-02T15:00:00+01:00", "watch_to": "2018-07-02T18:00:00+01:00",
             "every_h": 1.5, "required_visits": 2,
             "visits": [{"unit_id": "BG-F2", "arrive": "2018-07-02T15:40:00+01:00",
                         "depart": "2018-07-02T15:50:00+01:00"}],
             "longest_gap_min": 130.0, "met": False, "unserved": 1},
            {"event_id": "E-protest1", "kind": "protest", "level": "high", "site_id": C2_SITE,
             "distance_m": 40.0,
             "event_start": "2018-07-02T18:00:00+01:00", "event_end": "2018-07-02T21:00:00+01:00",
             "watch_from": "2018-07-02T17:00:00+01:00", "watch_to": "2018-07-02T21:00:00+01:00",
             "every_h": 1.0, "required_visits": 4, "visits": [], "longest_gap_min": 240.0, "met": False,
             "unserved": 4},
        ],
        "election": {"start": "2018-06-20", "polling_day": "2018-07-12"},
    }


def with_people(plan: Plan, extra: dict | None = None) -> Plan:
    """The plan with the test's people, events and escalations, a stop note and an unserved visit of P3."""
    routes = list(plan.routes)
    late = routes[1]
    stops = list(late.stops)
    assert stops[1].ref == "Sc5add0"
    stops[1] = replace(stops[1], note="escalation: march E-march1 Mon 15:00-18:00")
    routes[1] = replace(late, stops=tuple(stops))
    sites = tuple(replace(s, person_id="P2") if s.site_id == C2_SITE else s for s in plan.sites)
    unserved = (*plan.unserved, Unserved(P3_SITE, date(2018, 7, 3), "early", "P3-ONLY-REASON"))
    return replace(plan, routes=tuple(routes), sites=sites, unserved=unserved,
                   extra={**plan.extra, **(extra if extra is not None else people_extra())})


@pytest.fixture(scope="module")
def plan() -> Plan:
    return with_people(load_plan(FIXTURE))


@pytest.fixture(scope="module")
def files(plan: Plan) -> dict[str, str]:
    return contact_files(plan, WRITTEN)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_-]+", text))


# ------------------------------------------------------------------------------------------------ files

def test_a_sheet_and_a_calendar_per_contact_with_people_and_an_index(files):
    assert set(files) == {"contacts/C1.html", "contacts/C1.ics", "contacts/C2.html", "contacts/C2.ics", INDEX}
    index = files[INDEX]
    assert 'href="C1.html"' in index and 'href="C2.ics"' in index
    # C3 has nobody: no sheet, not in the index.
    assert "C3" not in _words(index) and "SYNTHETIC PS Idle" not in index


def test_no_contact_files_without_people_or_when_redacted(plan):
    assert contact_files(load_plan(FIXTURE)) == {}
    assert contact_files(replace(plan, extra={"people": {"persons": [], "contacts": []}})) == {}
    # A plan marked redacted has no sheets, even if its extras were (wrongly) left in.
    assert contact_files(replace(plan, redacted=True)) == {}


def test_the_plan_json_round_trip_keeps_the_sheets(plan, files):
    again = plan_from_dict(plan_to_dict(plan))
    assert contact_files(again, WRITTEN) == files


def test_unsafe_contact_ids_get_no_file(plan):
    extra = people_extra()
    people = extra["people"]
    bad = ["../evil", "a/b", "index", "c1", "x" * 65, ".hidden", "C 4", "évé"]
    for i, cid in enumerate(bad):
        people["contacts"].append({"contact_id": cid, "name": f"BAD{i}", "station_id": "CX",
                                   "station_name": "", "phone": "", "email": ""})
        people["persons"].append({"person_id": f"PB{i}", "role": "other", "contact_id": cid,
                                  "valid_from": None, "valid_to": None, "site_ids": [P3_SITE],
                                  "protected_days": []})
    out = contact_files(with_people(load_plan(FIXTURE), extra), WRITTEN)
    assert {n for n in out if n != INDEX} == {"contacts/C1.html", "contacts/C1.ics", "contacts/C2.html",
                                              "contacts/C2.ics"}
    for name in out:
        assert re.fullmatch(r"contacts/[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.(html|ics)", name), name
    # The index says which contacts got no sheet (escaped), so the planner can fix the people file.
    index = out[INDEX]
    assert "No sheet for contact ../evil" in index and "No sheet for contact c1" in index
    assert 'href="../evil' not in index and 'href="c1.' not in index


def test_bundle_has_the_contacts_folder_and_a_redacted_bundle_none(plan, tmp_path):
    out = write_bundle(plan, tmp_path / "b", written_at=WRITTEN)
    assert (out / "contacts" / "C1.html").is_file() and (out / "contacts" / "C2.ics").is_file()
    with (out / "contacts" / "C1.ics").open(encoding="utf-8", newline="") as fh:
        assert fh.read() == contact_files(plan, WRITTEN)["contacts/C1.ics"]  # CRLF kept


def test_demo_week_bundle_has_sheets_and_its_redacted_bundle_none(demo_week):
    _area, network, plan = demo_week
    sites = [s.site_id for s in plan.sites]
    assert len(sites) >= 2
    extra = {"people": {
        "persons": [{"person_id": "P1", "role": "mp", "contact_id": "C1", "valid_from": None,
                     "valid_to": None, "site_ids": sites[:2], "protected_days": ["2018-07-02"]}],
        "contacts": [{"contact_id": "C1", "name": "SYNTHETIC PS Demo", "station_id": "CX",
                      "station_name": "Charing Cross", "phone": "", "email": ""}]},
        "site_events": [], "escalations": []}
    full = replace(plan, extra={**plan.extra, **extra})
    assert {"contacts/C1.html", "contacts/C1.ics", INDEX} <= set(bundle_files(full, written_at=WRITTEN))
    seen = redact(full, network)
    assert not any(name.startswith("contacts/") for name in bundle_files(seen, written_at=WRITTEN))
    assert "people" not in seen.extra


# ------------------------------------------------------------------------------------------------ the sheet

def test_sheet_holds_the_contact_their_people_and_sites(files):
    page = files["contacts/C1.html"]
    assert "OFFICIAL-SENSITIVE" in page
    assert "SYNTHETIC PS Alpha" in page and "Charing Cross" in page and "0000 000 0001" in page
    assert "P1" in _words(page) and ">mp<" in page and "protected all week" in page
    for site_id in C1_SITES:
        assert site_id in page
    assert "SYNTHETIC office 18" in page and "SYNTHETIC other 6" in page  # their labels
    assert "51.49032, -0.14331" in page  # Sc5add0's position
    assert "Election period from 2018-06-20; polling day 2018-07-12" in page


def test_candidate_protected_from_a_day_of_the_week(files):
    page = files["contacts/C2.html"]
    assert "candidate" in page and "protected from Thu 5 Jul" in page and "2018-07-05 to …" in page
    assert C2_SITE in page  # found through PlannedSite.person_id alone


def test_protection_in_words():
    monday = date(2018, 7, 2)

    def said(*days: int) -> str:
        return protection_text({"protected_days": [(monday + timedelta(days=d)).isoformat() for d in days]},
                               monday)

    assert said() == "not protected this week"
    assert said(*range(7)) == "protected all week"
    assert said(3, 4, 5, 6) == "protected from Thu 5 Jul"
    assert said(0, 1) == "protected until Tue 3 Jul"
    assert said(1, 2) == "protected Tue 3 Jul to Wed 4 Jul"
    assert said(1, 3) == "protected Tue 3 Jul, Thu 5 Jul"


def test_sheet_is_for_the_contact_alone(files):
    page, cal = files["contacts/C1.html"], files["contacts/C1.ics"]
    for text in (page, cal):
        words = _words(text)
        for other in (C2_SITE, P3_SITE, "P2", "P3", "E-protest1", "C2", "C3"):
            assert other not in words, other
        for other in ("SYNTHETIC PC Bravo", "SYNTHETIC PS Idle", "Belgravia", "SYNTHETIC office 21",
                      "SYNTHETIC office 24", "P3-ONLY-REASON", "bravo@example"):
            assert other not in text, other
    # And the other way round.
    words = _words(files["contacts/C2.html"]) | _words(files["contacts/C2.ics"])
    assert not words & {*C1_SITES, "P1", "C1", "E-march1", "EV-SURG-1"}


def test_visits_in_time_order_with_unit_dwell_and_note(files):
    page = files["contacts/C1.html"]
    rows = re.findall(r"<tr><td>Mon 2 Jul</td><td>(\d\d:\d\d)</td><td>(\d\d:\d\d)</td><td>(\d+) min</td>"
                      r"<td>([^<]*)</td>", page)
    assert rows == [("09:58", "10:08", "10", "BG-F1"), ("15:40", "15:50", "10", "BG-F2")]
    assert "escalation: march E-march1 Mon 15:00-18:00" in page


def test_events_escalations_and_unserved_with_their_times(files):
    page = files["contacts/C1.html"]
    assert "EV-SURG-1" in page and "Mon 2 Jul 10:00–12:00" in page
    esc = re.search(r"<tr><td>march E-march1 \(level high\)</td>.*?</tr>", page).group(0)
    for text in ("180 m", "Mon 2 Jul 16:00–17:30", "Mon 2 Jul 15:00–18:00", "every 1.5 h, 2 visits",
                 "BG-F2 Mon 2 Jul 15:40–15:50", "130 min", "NOT MET (1 unserved)"):
        assert text in esc, text
    assert "S918a1c</td><td>Mon 2 Jul</td><td>late</td><td>no unit on duty in the site&#x27;s window" in page


def test_sheet_is_offline_and_self_contained(files):
    for name, text in files.items():
        if not name.endswith(".html"):
            continue
        assert "://" not in text, name
        assert not re.search(r"<(script|link|img|iframe|object|embed)\b", text, re.I), name
        assert not re.search(r"\bsrc\s*=", text, re.I), name
        hrefs = re.findall(r'href="([^"]*)"', text)
        assert all(re.fullmatch(r"[A-Za-z0-9_-]+\.(html|ics)", h) for h in hrefs), hrefs
        if name != INDEX:
            assert hrefs == []  # a sheet points at nothing, not even another contact's
        assert "default-src 'none'" in text


def test_names_that_look_like_html_are_escaped(plan):
    extra = people_extra()
    extra["people"]["contacts"][0]["name"] = "<script>alert(1)</script>"
    extra["site_events"][0]["kind"] = "<b>x</b>"
    page = contact_files(with_people(load_plan(FIXTURE), extra), WRITTEN)["contacts/C1.html"]
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page


# ------------------------------------------------------------------------------------------------ calendar

def test_calendar_parses_with_a_vevent_per_visit_event_and_watch(files):
    icalendar = pytest.importorskip("icalendar")
    for cid, site in (("C1", "Sc5add0"), ("C2", C2_SITE)):
        text = files[f"contacts/{cid}.ics"]
        assert text.endswith("\r\n") and all(len(line.encode()) <= 75 for line in text.split("\r\n"))
        cal = icalendar.Calendar.from_ical(text)
        events = cal.walk("VEVENT")
        cats = [str(e.get("CATEGORIES").cats[0]) for e in events]
        assert sorted(cats) == ["escalation", "event", "visit", "visit"], cid
        assert len({str(e["UID"]) for e in events}) == len(events)
        assert all(str(e["CLASS"]) == "CONFIDENTIAL" for e in events)
        assert all(f"-{cid}-" in str(e["UID"]) and site in str(e["UID"]) for e in events)
        assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]
    cal = icalendar.Calendar.from_ical(files["contacts/C1.ics"])
    by_cat = {}
    for e in cal.walk("VEVENT"):
        by_cat.setdefault(str(e.get("CATEGORIES").cats[0]), []).append(e)
    starts = sorted(e.decoded("DTSTART").astimezone(UTC) for e in by_cat["visit"])
    assert starts == [datetime(2018, 7, 2, 8, 58, 48, tzinfo=UTC), datetime(2018, 7, 2, 14, 40, tzinfo=UTC)]
    watch = by_cat["escalation"][0]
    assert watch.decoded("DTSTART").astimezone(UTC) == datetime(2018, 7, 2, 14, 0, tzinfo=UTC)
    assert watch.decoded("DTEND").astimezone(UTC) == datetime(2018, 7, 2, 17, 0, tzinfo=UTC)
    assert "NOT MET" in str(watch["DESCRIPTION"]) and "BG-F2" in str(watch["DESCRIPTION"])
    event = by_cat["event"][0]
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2018, 7, 2, 9, 0, tzinfo=UTC)
    assert "Charing Cross" not in str(cal.get("X-WR-CALNAME")) and "SYNTHETIC PS Alpha" in str(
        cal.get("X-WR-CALNAME"))


def test_calendar_uids_are_stable_and_a_later_one_supersedes(plan, files):
    icalendar = pytest.importorskip("icalendar")
    later = contact_files(plan, WRITTEN + timedelta(hours=1))["contacts/C1.ics"]
    a = icalendar.Calendar.from_ical(files["contacts/C1.ics"]).walk("VEVENT")
    b = icalendar.Calendar.from_ical(later).walk("VEVENT")
    assert [str(e["UID"]) for e in a] == [str(e["UID"]) for e in b]
    assert all(int(y["SEQUENCE"]) > int(x["SEQUENCE"]) for x, y in zip(a, b, strict=True))
