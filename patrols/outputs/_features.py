"""What every GIS writer says the same way of a route and its stops.

* A route's line: its street path, or none when that path would be a point
  (a unit-shift with no stops besides its station). No writer draws a
  zero-length line or a one-point track; each leaves the geometry out (null
  where its format allows, see ``docs/outputs.md``).
* A stop in words: its ``place`` ("Old Compton Street / Dean Street", a
  station's name), else its kind and ref.
* Short waypoint names for navigation devices, and local (Europe/London) clock
  times for people.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from patrols import defaults
from patrols.plan import Route, Stop

LONDON = ZoneInfo(defaults.TIMEZONE)
WAYPOINT_NAME_MAX = 14
"""Longest waypoint name a dispatch file gives (what in-car units and handhelds show in full)."""


def route_line(route: Route) -> list[tuple[float, float]] | None:
    """The route's street path as (lon, lat) points, or None when it has fewer than two distinct points."""
    points = list(route.path)
    if len(set(points)) < 2:
        return None
    return points


def has_stops(route: Route) -> bool:
    """Whether the unit-shift goes anywhere besides its station."""
    return len(route.stops) > 2


def stop_code(stop: Stop) -> str:
    """The stop's kind and ref, e.g. ``hotspot H04`` or ``station BG``."""
    return f"{stop.kind} {stop.ref}".strip()


def place_of(stop: Stop) -> str:
    """Where the stop is, in words: its ``place``, else its kind and ref."""
    return stop.place.strip() or stop_code(stop)


def waypoint_text(route: Route, stop: Stop) -> str:
    """A waypoint's description: place, kind and ref, and times on the Europe/London clock.

    E.g. ``Wardour Street / Old Compton Street (hotspot H04); arrive 12:10, leave 12:25 BST, 15 min``.
    """
    where = f"{stop.place.strip()} ({stop_code(stop)})" if stop.place.strip() else stop_code(stop)
    return "; ".join(w for w in (where, times_in_words(route, stop)) if w)


def waypoint_name(stop: Stop) -> str:
    """A waypoint name, unique within a route (its stop number leads) and at most 14 characters."""
    name = f"{stop.seq:02d} {stop.ref or stop.kind}"
    return name[:WAYPOINT_NAME_MAX].rstrip()


def local(moment: datetime) -> datetime:
    """The moment on the Europe/London clock."""
    return moment.astimezone(LONDON)


def clock(moment: datetime, day: date | None = None) -> str:
    """``HH:MM`` on the Europe/London clock, with the weekday when it falls on another day than ``day``."""
    here = local(moment)
    return f"{here:%H:%M}" if day is None or here.date() == day else f"{here:%a %H:%M}"


def times_in_words(route: Route, stop: Stop) -> str:
    """The stop's times for people on the Europe/London clock (``arrive 07:12, leave 07:22 BST, 10 min``),
    or ``""`` when the plan gives it none."""
    if stop.seq == route.stops[0].seq:
        moments = [("leave", stop.depart)]
    elif stop.seq == route.stops[-1].seq:
        moments = [("back", stop.arrive)]
    else:
        moments = [("arrive", stop.arrive), ("leave", stop.depart)]
    known = [(word, moment) for word, moment in moments if moment is not None]
    if not known:
        return ""
    text = ", ".join(f"{word} {clock(moment, route.date)}" for word, moment in known)
    text += f" {local(known[-1][1]).tzname()}"
    if stop.arrive is not None and stop.depart is not None and len(moments) == 2:
        text += f", {stop.dwell_min:.0f} min"
    return text


def dwell_or_none(stop: Stop) -> float | None:
    """Minutes at the stop, or None when the plan gives the stop no time at all (a redacted plan)."""
    if stop.arrive is None and stop.depart is None:
        return None
    return round(stop.dwell_min, 1)
