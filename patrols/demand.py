"""Demand: which protective visits fall in which shift, and when.

Each site needs a number of visits a week (by tier, or as ``sites.csv`` says).
They are spread over the days of the week and, within a day, over different
shifts, rotating so a site is not always visited in the same shift; each visit
gets a service window inside the shift and the site's own window. A visit that
no shift with a unit on duty can hold is reported as unserved with its reason.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from patrols.area import Settings
from patrols.sites import Site
from patrols.week import UnitShift, shift_bounds

# A visit window shorter than this is not worth planning (dwell plus travel slack).
MIN_WINDOW_S = 30 * 60
# Longest service window given to one visit: narrower windows vary the visit
# times from day to day; wider ones leave the solver room.
VISIT_WINDOW_S = 3 * 3600


@dataclass(frozen=True)
class Slot:
    """A shift template on a date: the unit-shifts that share it are solved together."""

    date: date
    shift: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Visit:
    """A required protective visit to a site within a window of one slot."""

    visit_id: str
    site_id: str
    slot: Slot
    window_open: datetime
    window_close: datetime
    """Latest start of service."""
    dwell_min: float


@dataclass(frozen=True)
class UnservedVisit:
    """A protective visit the plan does not make, and why."""

    site_id: str
    date: date
    shift: str
    reason: str


def week_slots(week_start: date, shifts: dict[str, tuple[time, time]], tz: str) -> list[Slot]:
    """Every shift template on every day of the week, ordered by start."""
    slots = []
    for offset in range(7):
        day = week_start + timedelta(days=offset)
        for name, template in shifts.items():
            start, end = shift_bounds(day, template, tz)
            slots.append(Slot(day, name, start, end))
    return sorted(slots, key=lambda s: (s.start, s.shift))


def site_window(site: Site,
                defaults_by_kind: dict[str, tuple[time, time] | None]) -> tuple[time, time] | None:
    """The site's daily visiting window, from ``sites.csv`` or the default for its kind."""
    if site.window_start is not None and site.window_end is not None:
        return site.window_start, site.window_end
    return defaults_by_kind.get(site.kind)


def _overlap(slot: Slot, window: tuple[time, time] | None, tz: str) -> tuple[datetime, datetime] | None:
    """Intersection of a slot with the site's daily window (which may cross midnight)."""
    if window is None:
        return slot.start, slot.end
    zone = ZoneInfo(tz)
    best: tuple[datetime, datetime] | None = None
    for offset in (-1, 0, 1):
        day = slot.date + timedelta(days=offset)
        w_start, w_end = shift_bounds(day, window, tz)
        a, b = max(w_start, slot.start), min(w_end, slot.end)
        if b.timestamp() - a.timestamp() > 0 and (
            best is None or b.timestamp() - a.timestamp() > best[1].timestamp() - best[0].timestamp()
        ):
            best = (a.astimezone(zone), b.astimezone(zone))
    return best


def _spread_days(n: int, rng: random.Random) -> list[int]:
    """Day offsets (0-6) for ``n`` visits, as evenly spread as possible from a random start."""
    offset = rng.random() * 7.0
    return sorted(int((offset + i * 7.0 / n) % 7) for i in range(n))


def protective_visits(
    sites: list[Site],
    slots: list[Slot],
    unit_shifts: list[UnitShift],
    settings: Settings,
    site_windows: dict[str, tuple[time, time] | None],
    seed: int,
) -> tuple[list[Visit], list[UnservedVisit]]:
    """Allocate each site's weekly visits to slots and windows.

    Parameters
    ----------
    sites
        The protected sites.
    slots
        All slots of the week (see :func:`week_slots`).
    unit_shifts
        Who is on duty; a slot with nobody on duty cannot hold a visit.
    settings
        Visits per tier and dwell.
    site_windows
        Default daily window per site kind.
    seed
        Seed of the random choices (days, shifts, windows).

    Returns
    -------
    (visits, unserved)
        Visits with their windows, and the visits that no slot can hold.
    """
    rng = random.Random(seed)
    staffed = {(us.date, us.shift) for us in unit_shifts}
    days = sorted({s.date for s in slots})
    visits: list[Visit] = []
    unserved: list[UnservedVisit] = []
    for site in sorted(sites, key=lambda s: s.site_id):
        need = site.visits_per_week
        if need is None:
            need = settings.visits_per_week_by_tier.get(site.tier, 0)
        if need <= 0:
            continue
        window = site_window(site, site_windows)
        dwell = site.dwell_min or settings.protective_dwell_min
        per_day = Counter(days[d] for d in _spread_days(need, rng))
        used: Counter[str] = Counter()
        for day in days:
            want = per_day.get(day, 0)
            if not want:
                continue
            options = []
            for slot in slots:
                if slot.date != day:
                    continue
                span = _overlap(slot, window, settings.timezone)
                if span is None or span[1].timestamp() - span[0].timestamp() < MIN_WINDOW_S:
                    continue
                options.append((slot, span))
            # Rotate shifts: least-used first, ties broken at random.
            rng.shuffle(options)
            options.sort(key=lambda o: used[o[0].shift])
            on_duty = [o for o in options if (o[0].date, o[0].shift) in staffed]
            for k in range(want):
                if k >= len(on_duty):
                    if k - len(on_duty) < len(options) - len(on_duty):
                        idle = [o for o in options if o not in on_duty][k - len(on_duty)][0]
                        unserved.append(UnservedVisit(site.site_id, day, idle.shift,
                                                      "no unit on duty in the site's window"))
                    else:
                        unserved.append(UnservedVisit(
                            site.site_id, day, "",
                            f"the site's window overlaps {len(options)} shift(s) a day, "
                            f"fewer than the {want} visits it needs"))
                    continue
                slot, (a, b) = on_duty[k]
                used[slot.shift] += 1
                a_ts, b_ts = a.timestamp(), b.timestamp() - dwell * 60
                if b_ts - a_ts > VISIT_WINDOW_S:
                    a_ts += rng.random() * (b_ts - a_ts - VISIT_WINDOW_S)
                    b_ts = a_ts + VISIT_WINDOW_S
                zone = a.tzinfo
                visits.append(Visit(
                    visit_id=f"{site.site_id}/{day.isoformat()}/{slot.shift}",
                    site_id=site.site_id, slot=slot,
                    window_open=datetime.fromtimestamp(round(a_ts), zone),
                    window_close=datetime.fromtimestamp(round(max(a_ts, b_ts)), zone),
                    dwell_min=dwell,
                ))
    return visits, unserved
