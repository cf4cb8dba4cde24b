"""Contact sheets: for each named police contact, the week at their people's sites.

Every MP and candidate has a named police contact (an officer at a station). A
contact's sheet is ``contacts/<contact_id>.html``, a printable page, and
``contacts/<contact_id>.ics``, the same week as a calendar: their people (who,
in what role, which days of the week protected), each person's sites, the
planned visits at those sites in time order, the planned events there, the
escalations (the window watched, the visits made and the longest gap) and the
visits the plan could not make. A sheet holds nothing of any other contact's
people or sites: it is for its contact alone. ``contacts/index.html`` lists the
contacts with a sheet, for the planner who sends them.

The data come from the plan: ``extra["people"]`` (persons and contacts),
``extra["site_events"]``, ``extra["escalations"]`` and ``extra["election"]``,
the sites, the protective stops and the unserved visits. A redacted plan, or a
plan of an area with no people, has no contact sheet; nor does a contact with no
person. The whole folder is for planners: never in a redacted bundle, never
served to viewers.

A contact id becomes a file name only if it is letters, digits, ``_`` and ``-``
(at most 64, a letter or digit first), is not ``index`` and is not another
id but for case; any other contact gets no sheet, and the index says so.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from patrols.outputs._features import local
from patrols.outputs.ics import PRODID, TZID, UID_DOMAIN, VTIMEZONE, _escape, _fold, _stamp, _when, sequence
from patrols.outputs.roster import to_bng
from patrols.plan import Plan, PlannedSite, Route, Stop, Unserved

FOLDER = "contacts"
INDEX = f"{FOLDER}/index.html"
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""A contact id that may name a file as it is."""
BANNER = "OFFICIAL-SENSITIVE PERSONAL"

_CSS = """
body { font: 12px/1.35 system-ui, sans-serif; margin: 12px; color: #111; }
.banner { background: #b00020; color: #fff; font-weight: 700; text-align: center; letter-spacing: .08em;
  padding: 2px; margin: 0 0 6px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.banner.bottom { margin: 6px 0 0; }
h1 { font-size: 17px; margin: 0 0 2px; } h2 { font-size: 14px; margin: 12px 0 2px; }
h3 { font-size: 12px; margin: 8px 0 2px; } p { margin: 0 0 4px; } p.meta { color: #333; }
table { border-collapse: collapse; margin-top: 4px; width: 100%; }
th, td { border-bottom: 1px solid #ccc; padding: 2px 4px; text-align: left; vertical-align: top;
  font-variant-numeric: tabular-nums; }
th { background: #eee; } td.short { color: #b00020; font-weight: 700; }
@page { size: A4; margin: 10mm; }
@media print { .banner.top { position: fixed; top: 0; left: 0; right: 0; }
  .banner.bottom { position: fixed; bottom: 0; left: 0; right: 0; }
  body { margin: 9mm 0; } tr { break-inside: avoid; } }
"""
_HEAD = ("<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"Content-Security-Policy\" "
         "content=\"default-src 'none'; style-src 'unsafe-inline'\">")


@dataclass(frozen=True)
class Visit:
    """A protective stop at one of a contact's sites, with the unit-shift that makes it."""

    route: Route
    stop: Stop

    @property
    def site_id(self) -> str:
        return self.stop.ref


@dataclass(frozen=True)
class Sheet:
    """Everything one contact's sheet holds, read from the plan."""

    contact: dict[str, Any]
    persons: list[dict[str, Any]]
    sites: dict[str, PlannedSite | None]
    """Site id -> the plan's site (None for a site the plan does not hold), in the persons' order."""
    site_people: dict[str, list[str]]
    visits: list[Visit]
    events: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    unserved: list[Unserved]
    places: dict[str, str]
    """Site id -> the street place of a stop there (the first one the plan names)."""


# Reading the plan ------------------------------------------------------------------------------------


def _people(plan: Plan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    doc = plan.extra.get("people") or {}
    return list(doc.get("persons") or ()), list(doc.get("contacts") or ())


def _person_sites(plan: Plan, person: dict[str, Any]) -> list[str]:
    """The person's site ids: those the people file lists, then the plan's sites naming the person."""
    ids = [str(s) for s in person.get("site_ids") or ()]
    pid = person.get("person_id")
    ids += [s.site_id for s in plan.sites if pid and s.person_id == pid]
    return list(dict.fromkeys(ids))


def _moment(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _sort_key(text: Any) -> tuple[int, float]:
    moment = _moment(text)
    return (0, moment.timestamp()) if moment is not None and moment.tzinfo else (1, 0.0)


def sheet_of(plan: Plan, contact: dict[str, Any]) -> Sheet:
    """What the contact's sheet holds: their people, those people's sites, and the week at those sites.

    Parameters
    ----------
    plan
        The plan (not redacted).
    contact
        One item of ``plan.extra["people"]["contacts"]``.

    Returns
    -------
    Sheet
        Only the contact's own people and sites, and what the plan does at those sites.
    """
    persons_all, _ = _people(plan)
    cid = contact.get("contact_id")
    persons = [p for p in persons_all if cid and p.get("contact_id") == cid]
    by_id = {s.site_id: s for s in plan.sites}
    sites: dict[str, PlannedSite | None] = {}
    site_people: dict[str, list[str]] = {}
    for person in persons:
        for site_id in _person_sites(plan, person):
            sites.setdefault(site_id, by_id.get(site_id))
            site_people.setdefault(site_id, []).append(str(person.get("person_id", "")))
    visits, places = [], {}
    for route in plan.routes:
        for stop in route.stops:
            if stop.kind == "protective" and stop.ref in sites:
                visits.append(Visit(route, stop))
                if stop.place and stop.ref not in places:
                    places[stop.ref] = stop.place
    visits.sort(key=lambda v: (v.stop.arrive.timestamp() if v.stop.arrive else 0.0, v.route.unit_id))
    events = sorted((e for e in plan.extra.get("site_events") or () if e.get("site_id") in sites),
                    key=lambda e: (_sort_key(e.get("start")), str(e.get("event_id"))))
    escalations = sorted((e for e in plan.extra.get("escalations") or () if e.get("site_id") in sites),
                         key=lambda e: (_sort_key(e.get("watch_from")), str(e.get("event_id"))))
    unserved = sorted((u for u in plan.unserved if u.site_id in sites),
                      key=lambda u: (u.date, u.shift, u.site_id))
    return Sheet(contact, persons, sites, site_people, visits, events, escalations, unserved, places)


def sheet_names(plan: Plan) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """The contacts that get a sheet, by the file stem they get, and those refused with why.

    A contact gets a sheet when at least one person names it and its id is a
    safe file name (:data:`SAFE_ID`, not ``index``, not another id but for case).

    Returns
    -------
    (dict, list)
        Stem -> contact; and (contact id, reason) of each contact with people but no sheet.
    """
    persons, contacts = _people(plan)
    named = {p.get("contact_id") for p in persons if p.get("contact_id")}
    out: dict[str, dict[str, Any]] = {}
    refused: list[tuple[str, str]] = []
    taken: set[str] = set()
    for contact in contacts:
        cid = contact.get("contact_id")
        if not isinstance(cid, str) or cid not in named:
            continue
        if not SAFE_ID.fullmatch(cid) or cid.lower() == "index":
            refused.append((cid, "its id is not a safe file name (letters, digits, _ and - only)"))
        elif cid.lower() in taken:
            refused.append((cid, "its id is another contact's but for case"))
        else:
            taken.add(cid.lower())
            out[cid] = contact
    return out, refused


# Words ------------------------------------------------------------------------------------------------


def _day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def _at(moment: datetime | None) -> str:
    """``Thu 5 Jul 18:00`` on the Europe/London clock."""
    if moment is None:
        return ""
    here = local(moment)
    return f"{_day(here.date())} {here:%H:%M}"


def _span(start: datetime | None, end: datetime | None) -> str:
    """``Thu 5 Jul 18:00–21:00``, or both days when it runs past midnight."""
    if start is None:
        return ""
    if end is None:
        return _at(start)
    a, b = local(start), local(end)
    return f"{_at(start)}–{b:%H:%M}" if a.date() == b.date() else f"{_at(start)} – {_at(end)}"


def _days_text(days: Iterable[date]) -> str:
    days = sorted(set(days))
    if len(days) == 1:
        return _day(days[0])
    if (days[-1] - days[0]).days == len(days) - 1:
        return f"{_day(days[0])} to {_day(days[-1])}"
    return ", ".join(_day(d) for d in days)


def protection_text(person: dict[str, Any], week_start: date) -> str:
    """Which days of the week the person is protected: ``protected from Thu 5 Jul``, ``all week``, ...

    Parameters
    ----------
    person
        One item of ``plan.extra["people"]["persons"]``.
    week_start
        The plan's first day (the week is seven days).

    Returns
    -------
    str
    """
    week = [week_start + timedelta(days=i) for i in range(7)]
    days = set()
    for text in person.get("protected_days") or ():
        try:
            days.add(date.fromisoformat(str(text)))
        except ValueError:
            continue
    days &= set(week)
    if not days:
        return "not protected this week"
    if len(days) == 7:
        return "protected all week"
    ordered = sorted(days)
    if (ordered[-1] - ordered[0]).days == len(ordered) - 1:
        if ordered[-1] == week[-1]:
            return f"protected from {_day(ordered[0])}"
        if ordered[0] == week[0]:
            return f"protected until {_day(ordered[-1])}"
    return f"protected {_days_text(ordered)}"


def _validity(person: dict[str, Any]) -> str:
    start, end = person.get("valid_from"), person.get("valid_to")
    if not start and not end:
        return "open"
    return f"{start or '…'} to {end or '…'}"


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _num(value: Any, fmt: str = "{:g}") -> str:
    try:
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def _site_words(site_id: str, site: PlannedSite | None) -> str:
    if site is None:
        return f"site {site_id}"
    label = f" ({site.label})" if site.label else ""
    return f"{site.kind} {site_id}{label}"


def _visits_made(escalation: dict[str, Any]) -> str:
    made = []
    for v in escalation.get("visits") or ():
        span = _span(_moment(v.get("arrive")), _moment(v.get("depart")))
        made.append(f"{v.get('unit_id', '')} {span}".strip())
    return "; ".join(made) or "none"


def _met(escalation: dict[str, Any]) -> str:
    if escalation.get("met"):
        return "met"
    unserved = escalation.get("unserved")
    return f"NOT MET ({unserved} unserved)" if unserved else "NOT MET"


# The page ---------------------------------------------------------------------------------------------


def _table(head: Iterable[str], rows: list[list[str]], empty: str, short_col: int | None = None) -> str:
    """A table of escaped cells, or a line saying there is nothing."""
    e = html.escape
    if not rows:
        return f"<p>{e(empty)}</p>\n"
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="short"' if i == short_col and cell.startswith("NOT") else ""
            cells.append(f"<td{cls}>{e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>\n"
            + "\n".join(body) + "\n</tbody></table>\n")


def sheet_html(plan: Plan, sheet: Sheet) -> str:
    """The contact's printable sheet: one self-contained page, no script, nothing loaded.

    Parameters
    ----------
    plan
        The plan.
    sheet
        The contact's :class:`Sheet` (:func:`sheet_of`).

    Returns
    -------
    str
        An HTML page.
    """
    e = html.escape
    c = sheet.contact
    name = str(c.get("name") or c.get("contact_id"))
    station = " · ".join(str(x) for x in (c.get("station_name"), c.get("station_id") and
                                          f"station {c.get('station_id')}") if x)
    reach = " · ".join(str(c[k]) for k in ("phone", "email") if c.get(k))
    title = f"Contact sheet: {name}, week of {_day(plan.week_start)} {plan.week_start.year}"
    parts = [f"{_HEAD}<title>{e(title)}</title><style>{_CSS}</style></head><body>\n",
             f'<div class="banner top">{BANNER}</div>',
             f"<h1>{e(title)}</h1>\n",
             f'<p class="meta">For {e(name)} alone ({e(str(c.get("contact_id", "")))}): do not forward. '
             f"{e(plan.area)}.</p>\n"]
    if station or reach:
        parts.append(f'<p class="meta">{e(" · ".join(x for x in (station, reach) if x))}</p>\n')
    election = plan.extra.get("election") or {}
    if election.get("start") or election.get("polling_day"):
        said = [f"election period from {election['start']}" if election.get("start") else "",
                f"polling day {election['polling_day']}" if election.get("polling_day") else ""]
        parts.append(f'<p class="meta">{e("; ".join(s for s in said if s).capitalize())}.</p>\n')
    counts = [_count(len(sheet.persons), "person", "people"), _count(len(sheet.sites), "site"),
              _count(len(sheet.visits), "planned visit"), _count(len(sheet.events), "event"),
              _count(len(sheet.escalations), "escalation"), _count(len(sheet.unserved), "visit not planned",
                                                                   "visits not planned")]
    parts.append(f'<p class="meta">{", ".join(counts)}.</p>\n')

    parts.append("<h2>People</h2>\n")
    rows = [[str(p.get("person_id", "")), str(p.get("role", "")), protection_text(p, plan.week_start),
             _validity(p)] for p in sheet.persons]
    parts.append(_table(("person", "role", "this week", "valid"), rows, "None."))
    sites = [(sid, s) for sid, s in sheet.sites.items() if s is not None]
    east, north = to_bng([s.lon for _, s in sites], [s.lat for _, s in sites]) if sites else ([], [])
    grid = {sid: f"{ea:.0f} {no:.0f}" for (sid, _), ea, no in zip(sites, east, north, strict=True)}
    for person in sheet.persons:
        pid = str(person.get("person_id", ""))
        parts.append(f"<h3>Sites of {e(pid)} ({e(str(person.get('role', '')))}, "
                     f"{e(protection_text(person, plan.week_start))})</h3>\n")
        rows = []
        for sid in _person_sites(plan, person):
            site = sheet.sites.get(sid)
            if site is None:
                rows.append([sid, "", "", "not in this plan", "", "", ""])
                continue
            rows.append([sid, site.kind, str(site.tier), site.label, sheet.places.get(sid, ""),
                         grid.get(sid, ""), f"{site.lat:.5f}, {site.lon:.5f}"])
        parts.append(_table(("site", "kind", "tier", "label", "street", "grid ref (E N)", "lat, lon"), rows,
                            "No site."))

    parts.append("<h2>Planned visits</h2>\n")
    rows = []
    for v in sheet.visits:
        s = v.stop
        rows.append([_day(local(s.arrive).date()) if s.arrive else "",
                     f"{local(s.arrive):%H:%M}" if s.arrive else "",
                     f"{local(s.depart):%H:%M}" if s.depart else "",
                     f"{s.dwell_min:.0f} min" if s.arrive and s.depart else "",
                     v.route.unit_id, f"{v.route.mode}, {v.route.shift}", v.site_id, s.place, s.note])
    parts.append(_table(("day", "arrive", "leave", "stay", "unit", "mode, shift", "site", "place", "note"),
                        rows, "No visit planned at these sites this week."))

    parts.append("<h2>Planned events</h2>\n")
    rows = [[str(ev.get("event_id", "")), str(ev.get("kind", "")), str(ev.get("level", "")),
             str(ev.get("site_id", "")), _span(_moment(ev.get("start")), _moment(ev.get("end"))),
             "yes" if ev.get("escalated") else "no"] for ev in sheet.events]
    parts.append(_table(("event", "kind", "level", "site", "when", "escalated"), rows,
                        "No planned event at these sites."))

    parts.append("<h2>Escalations</h2>\n")
    rows = [[f"{es.get('kind', '')} {es.get('event_id', '')} (level {es.get('level', '')})",
             str(es.get("site_id", "")), _num(es.get("distance_m"), "{:.0f} m"),
             _span(_moment(es.get("event_start")), _moment(es.get("event_end"))),
             _span(_moment(es.get("watch_from")), _moment(es.get("watch_to"))),
             f"every {_num(es.get('every_h'))} h, {es.get('required_visits', '')} visits",
             _visits_made(es), _num(es.get("longest_gap_min"), "{:.0f} min"), _met(es)]
            for es in sheet.escalations]
    parts.append(_table(("event", "site", "distance", "event time", "watched", "required", "visits made",
                         "longest gap", "met"), rows, "No escalation at these sites.", short_col=8))

    parts.append("<h2>Visits not planned</h2>\n")
    rows = [[u.site_id, _day(u.date), u.shift, u.reason] for u in sheet.unserved]
    parts.append(_table(("site", "day", "shift", "why"), rows,
                        "Every required visit at these sites is planned."))
    parts.append(f'<div class="banner bottom">{BANNER}</div></body></html>\n')
    return "".join(parts)


# The calendar -----------------------------------------------------------------------------------------


def _uid(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", p) for p in parts) + f"@{UID_DOMAIN}"


def _vevent(uid: str, stamp: str, seq: int, start: datetime, end: datetime | None, summary: str,
            description: str, category: str, where: str = "",
            geo: tuple[float, float] | None = None) -> list[str]:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}", f"SEQUENCE:{seq}", _when("DTSTART", start)]
    if end is not None and end > start:  # without DTEND an event ends when it starts (RFC 5545 3.6.1)
        lines.append(_when("DTEND", end))
    lines.append(f"SUMMARY:{_escape(summary)}")
    if where:
        lines.append(f"LOCATION:{_escape(where)}")
    if geo is not None:
        lines.append(f"GEO:{geo[0]:.6f};{geo[1]:.6f}")
    lines += [f"DESCRIPTION:{_escape(description)}", f"CATEGORIES:{category}", "CLASS:CONFIDENTIAL",
              "END:VEVENT"]
    return lines


def sheet_ics(plan: Plan, sheet: Sheet, written_at: datetime | None = None) -> str:
    """The contact's week as a calendar (RFC 5545): a visit, an event or a watch window per VEVENT.

    UIDs are stable across plans of the week: a visit's is its contact, site,
    day, shift and its number among the visits to that site in that shift; an
    event's and a watch window's their contact, event and site.

    Parameters
    ----------
    plan
        The plan.
    sheet
        The contact's :class:`Sheet`.
    written_at
        When the calendar is written (``DTSTAMP``, ``SEQUENCE``, as in ``roster.ics``); now if not given.

    Returns
    -------
    str
        A VCALENDAR (CRLF line ends, folded at 75 octets), every event ``CLASS:CONFIDENTIAL``.
    """
    written_at = (written_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    stamp, seq = _stamp(written_at), sequence(written_at)
    cid = str(sheet.contact.get("contact_id", ""))
    name = str(sheet.contact.get("name") or cid)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{_escape(f'{name}: protective visits, week of {plan.week_start.isoformat()}')}",
             f"X-WR-TIMEZONE:{TZID}", *VTIMEZONE]

    def geo(site_id: str) -> tuple[float, float] | None:
        site = sheet.sites.get(site_id)
        return None if site is None else (site.lat, site.lon)

    counted: dict[tuple[str, date, str], int] = {}
    for v in sheet.visits:
        s, r = v.stop, v.route
        if s.arrive is None:
            continue
        n = counted[(v.site_id, r.date, r.shift)] = counted.get((v.site_id, r.date, r.shift), 0) + 1
        site = sheet.sites.get(v.site_id)
        about = [f"{r.unit_id} ({r.mode}, {r.shift} shift) at {_site_words(v.site_id, site)}",
                 f"for {', '.join(sheet.site_people.get(v.site_id, []))}",
                 f"{_span(s.arrive, s.depart)}, {s.dwell_min:.0f} min"]
        about += [s.place] if s.place else []
        about += [s.note] if s.note else []
        lines += _vevent(_uid("contact", cid, "visit", v.site_id, r.date.isoformat(), r.shift, str(n)),
                         stamp, seq, s.arrive, s.depart, f"Patrol visit: {v.site_id} ({r.unit_id})",
                         "\n".join(about), "visit", s.place or _site_words(v.site_id, site), geo(v.site_id))
    for ev in sheet.events:
        start = _moment(ev.get("start"))
        if start is None:
            continue
        sid = str(ev.get("site_id", ""))
        escalated = " (escalated)" if ev.get("escalated") else ""
        about = [f"{ev.get('kind', '')} {ev.get('event_id', '')}, level {ev.get('level', '')}{escalated}",
                 f"at {_site_words(sid, sheet.sites.get(sid))}", _span(start, _moment(ev.get("end")))]
        summary = f"Event: {ev.get('kind', '')} {ev.get('event_id', '')} at {sid}"
        lines += _vevent(_uid("contact", cid, "event", str(ev.get("event_id", "")), sid), stamp, seq, start,
                         _moment(ev.get("end")), summary, "\n".join(about), "event",
                         _site_words(sid, sheet.sites.get(sid)), geo(sid))
    for es in sheet.escalations:
        start = _moment(es.get("watch_from"))
        if start is None:
            continue
        sid = str(es.get("site_id", ""))
        about = [f"{es.get('kind', '')} {es.get('event_id', '')} (level {es.get('level', '')}), "
                 f"{_num(es.get('distance_m'), '{:.0f} m')} from {_site_words(sid, sheet.sites.get(sid))}",
                 f"event {_span(_moment(es.get('event_start')), _moment(es.get('event_end')))}",
                 f"watched {_span(start, _moment(es.get('watch_to')))}: a visit every "
                 f"{_num(es.get('every_h'))} h, {es.get('required_visits', '')} visits",
                 f"visits made: {_visits_made(es)}",
                 f"longest gap {_num(es.get('longest_gap_min'), '{:.0f} min')}; {_met(es)}"]
        lines += _vevent(_uid("contact", cid, "watch", str(es.get("event_id", "")), sid), stamp, seq, start,
                         _moment(es.get("watch_to")),
                         f"Escalation watch: {es.get('kind', '')} {es.get('event_id', '')} near {sid}",
                         "\n".join(about), "escalation", _site_words(sid, sheet.sites.get(sid)), geo(sid))
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))


# The folder -------------------------------------------------------------------------------------------


def _index_html(plan: Plan, stems: dict[str, dict[str, Any]], refused: list[tuple[str, str]]) -> str:
    e = html.escape
    items = [f'<p><a href="{e(stem)}.html">{e(str(c.get("name") or stem))}</a> ({e(stem)}, '
             f'{e(str(c.get("station_name") or c.get("station_id") or ""))}) · '
             f'<a href="{e(stem)}.ics">calendar</a></p>' for stem, c in sorted(stems.items())]
    items += [f"<p>No sheet for contact {e(cid)}: {e(why)}.</p>" for cid, why in refused]
    return (f"{_HEAD}<title>Contact sheets</title><style>{_CSS}</style></head><body>\n"
            f'<div class="banner">{BANNER}</div>'
            f"<h1>{e(plan.area)}: contact sheets, week of {plan.week_start.isoformat()}</h1>\n"
            "<p class=\"meta\">One sheet per named police contact, each for its contact alone.</p>\n"
            + "\n".join(items) + "\n</body></html>\n")


def contact_files(plan: Plan, written_at: datetime | None = None) -> dict[str, str]:
    """Each named contact's sheet and calendar, and their index, by file name inside the bundle.

    Parameters
    ----------
    plan
        The plan. A redacted plan, or one without ``extra["people"]``, has none.
    written_at
        When the calendars are written (their ``DTSTAMP`` and ``SEQUENCE``); now if not given.

    Returns
    -------
    dict
        ``contacts/<contact_id>.html`` and ``.ics`` per contact with at least one
        person, and ``contacts/index.html``; empty when there is no such contact.
    """
    if plan.redacted or not plan.extra.get("people"):
        return {}
    stems, refused = sheet_names(plan)
    if not stems and not refused:
        return {}
    written_at = written_at or datetime.now(UTC)
    files = {}
    for stem, contact in stems.items():
        sheet = sheet_of(plan, contact)
        files[f"{FOLDER}/{stem}.html"] = sheet_html(plan, sheet)
        files[f"{FOLDER}/{stem}.ics"] = sheet_ics(plan, sheet, written_at)
    files[INDEX] = _index_html(plan, stems, refused)
    return files
