"""``roster.ics``: the week as a calendar (RFC 5545), one event per unit-shift.

An event runs from the start to the end of the shift; its description lists the
stops with their local times, so a unit's week shows up in any calendar. Times
are written in UTC; ``DTSTAMP`` is the week's first midnight (UTC) rather than
the time of writing, so the same plan gives the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from patrols.plan import Plan, Route, Stop

PRODID = "-//patrols//patrol plan//EN"
UID_DOMAIN = "patrols.invalid"


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


def stop_line(stop: Stop) -> str:
    """One stop as a line of an event's description."""
    arrive = f"{stop.arrive:%H:%M}" if stop.arrive else "--:--"
    depart = f"-{stop.depart:%H:%M}" if stop.arrive and stop.depart else ""
    ref = f" {stop.ref}" if stop.ref else ""
    return f"{stop.seq}. {arrive}{depart} {stop.kind}{ref} ({stop.lat:.5f}, {stop.lon:.5f})"


def event_description(route: Route) -> str:
    """An event's description: the unit, its distance and the stops in order."""
    lines = [f"{route.unit_id} ({route.mode}) from station {route.station_id}, {route.km:.1f} km, "
             f"{len(route.stops) - 2} stops"]
    first, *middle, last = route.stops
    lines.append(f"leave station {first.ref} {first.depart:%H:%M}" if first.depart else "leave station")
    lines += [stop_line(s) for s in middle]
    lines.append(f"back at station {last.ref} {last.arrive:%H:%M}" if last.arrive else "back at station")
    return "\n".join(lines)


def event_uid(route: Route) -> str:
    """The stable UID of a unit-shift's event."""
    return f"{route.unit_id}-{route.date.isoformat()}-{route.shift}@{UID_DOMAIN}".replace(" ", "_")


def roster_ics(plan: Plan) -> str:
    """``roster.ics`` as text (CRLF line ends, folded at 75 octets).

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    str
        A VCALENDAR with one VEVENT per unit-shift.
    """
    stamp = _stamp(datetime.combine(plan.week_start, time(0), tzinfo=UTC))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{_escape(f'{plan.area} patrols, week of {plan.week_start.isoformat()}')}"]
    for route in plan.routes:
        station = route.stops[0]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event_uid(route)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_stamp(route.start)}",
            f"DTEND:{_stamp(route.end)}",
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
