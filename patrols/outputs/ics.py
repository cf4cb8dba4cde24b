"""``roster.ics``: the week as a calendar (RFC 5545), one event per unit-shift.

An event runs from the start to the end of the shift; its description lists the
stops with their local times, so a unit's week shows up in any calendar.

* **Time zone.** Shifts are planned on the Europe/London clock, so the calendar
  carries a ``VTIMEZONE`` for ``Europe/London`` (written here from the UK's
  rules, exact since 1996: BST from 01:00 UTC on the last Sunday of March to
  01:00 UTC on the last Sunday of October) and ``DTSTART``/``DTEND`` are local
  times with ``TZID=Europe/London``. A time in the second run of the hour the
  clocks repeat in October cannot be named on the local clock (RFC 5545 reads
  it as the first), so it alone is written in UTC.
* **Replacing a week planned again.** Each event's ``UID`` is made from its
  unit, date and shift only, so a re-planned week's events carry the same UIDs
  and a calendar replaces the old ones. For the replacement to win, the newer
  copy must be the later revision (RFC 5546 2.1.5): ``DTSTAMP`` is when the
  roster was written (UTC, whole seconds), and ``SEQUENCE`` the whole seconds
  from 2024-01-01T00:00:00Z to that moment. So a later plan of the same week
  always has a higher ``SEQUENCE`` (to the second; two plans written in the
  same second are the same revision) without keeping a counter anywhere, and
  the number fits the signed 32 bits calendar clients store until 2092. The
  plan holds no time of its own making, so the writing time stands for it; a
  caller that wants the same bytes again passes ``written_at``.
* ``CLASS:CONFIDENTIAL`` on every event, redacted or not.
"""

from __future__ import annotations

from datetime import UTC, datetime

from patrols.outputs._features import local
from patrols.plan import Plan, Route, Stop

PRODID = "-//patrols//patrol plan//EN"
UID_DOMAIN = "patrols.invalid"
TZID = "Europe/London"
SEQUENCE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""``SEQUENCE`` counts whole seconds from here to the moment the roster is written."""

# RFC 5545 3.6.5, from the UK's rules since 1996 (the EU's: the last Sundays of March and October at
# 01:00 UTC). Each DTSTART is the first onset under these rules, in the local time before the change.
VTIMEZONE = (
    "BEGIN:VTIMEZONE",
    f"TZID:{TZID}",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:+0000",
    "TZOFFSETTO:+0100",
    "TZNAME:BST",
    "DTSTART:19960331T010000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0000",
    "TZNAME:GMT",
    "DTSTART:19961027T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
)


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> list[str]:
    """Split a content line into pieces of at most 75 octets (RFC 5545 3.1), never inside a character."""
    pieces, current, size = [], "", 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        limit = 75 if not pieces else 74  # continuation lines start with a space
        if size + n > limit:
            pieces.append(current)
            current, size = "", 0
        current += ch
        size += n
    pieces.append(current)
    return [pieces[0], *(" " + p for p in pieces[1:])]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _when(name: str, moment: datetime) -> str:
    """``DTSTART;TZID=Europe/London:20180702T070000``, or in UTC where the local time is ambiguous."""
    here = local(moment)
    # RFC 5545 3.3.5 reads a repeated local time as its first occurrence; the second cannot be named so.
    if here.fold:
        return f"{name}:{_stamp(moment)}"
    return f"{name};TZID={TZID}:{here:%Y%m%dT%H%M%S}"


def sequence(written_at: datetime) -> int:
    """The ``SEQUENCE`` of every event of a roster written at ``written_at``: whole seconds since 2024."""
    return max(0, int((written_at - SEQUENCE_EPOCH).total_seconds()))


def stop_line(stop: Stop) -> str:
    """One stop as a line of an event's description."""
    arrive = f"{local(stop.arrive):%H:%M}" if stop.arrive else "--:--"
    depart = f"-{local(stop.depart):%H:%M}" if stop.arrive and stop.depart else ""
    ref = f" {stop.ref}" if stop.ref else ""
    where = f"{stop.place} " if stop.place else ""
    return f"{stop.seq}. {arrive}{depart} {stop.kind}{ref}, {where}({stop.lat:.5f}, {stop.lon:.5f})"


def event_description(route: Route) -> str:
    """An event's description: the unit, its distance and the stops in order."""
    lines = [f"{route.unit_id} ({route.mode}) from station {route.station_id}, {route.km:.1f} km, "
             f"{len(route.stops) - 2} stops"]
    first, *middle, last = route.stops
    lines.append(f"leave {first.place or 'station ' + first.ref} {local(first.depart):%H:%M}" if first.depart
                 else f"leave {first.place or 'station'}")
    lines += [stop_line(s) for s in middle]
    lines.append(f"back at {last.place or 'station ' + last.ref} {local(last.arrive):%H:%M}" if last.arrive
                 else f"back at {last.place or 'station'}")
    return "\n".join(lines)


def event_uid(route: Route) -> str:
    """The stable UID of a unit-shift's event."""
    return f"{route.unit_id}-{route.date.isoformat()}-{route.shift}@{UID_DOMAIN}".replace(" ", "_")


def roster_ics(plan: Plan, written_at: datetime | None = None) -> str:
    """``roster.ics`` as text (CRLF line ends, folded at 75 octets).

    Parameters
    ----------
    plan
        The plan.
    written_at
        When the roster is written (aware); now if not given. It sets ``DTSTAMP``
        and ``SEQUENCE``, so a later roster of the same week supersedes this one.

    Returns
    -------
    str
        A VCALENDAR with the Europe/London VTIMEZONE and one VEVENT per unit-shift.
    """
    written_at = (written_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    stamp, seq = _stamp(written_at), sequence(written_at)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{_escape(f'{plan.area} patrols, week of {plan.week_start.isoformat()}')}",
             f"X-WR-TIMEZONE:{TZID}", *VTIMEZONE]
    for route in plan.routes:
        station = route.stops[0]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event_uid(route)}",
            f"DTSTAMP:{stamp}",
            f"SEQUENCE:{seq}",
            _when("DTSTART", route.start),
            _when("DTEND", route.end),
            f"SUMMARY:{_escape(f'{route.unit_id} {route.shift} patrol ({route.mode})')}",
            f"LOCATION:{_escape(f'station {route.station_id}')}",
            f"GEO:{station.lat:.6f};{station.lon:.6f}",
            f"DESCRIPTION:{_escape(event_description(route))}",
            f"CATEGORIES:{_escape(route.unit_id)},{_escape(route.shift)}",
            "CLASS:CONFIDENTIAL",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))
