"""Demand: which protective visits fall in which shift, and when.

Each site needs a number of visits a week (by tier, or as ``sites.csv`` says),
within its daily window (its own, or the default for its kind), at least a
minimum gap apart, and one during each planned event held at it (a surgery on
Friday 10:00-12:00 needs a visit then).

Unpredictability is designed in, not hoped for: a site's visits are spread
evenly over the days of the week, and their times of day are drawn by
stratified sampling over the site's window (one visit in each of n equal
slices of the window, the slices dealt to days at random), so over a week the
visits cover the window more evenly than independent random times would. Each
visit gets a short service window around its drawn time; the solver places it
inside. A visit that no staffed shift can hold is reported as unserved with
its reason.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from patrols import defaults
from patrols.area import Settings
from patrols.sites import Site
from patrols.week import UnitShift, shift_bounds

# Half-width of a visit's service window around its drawn time: narrow enough to
# keep the drawn spread, wide enough to leave the routes room.
HALF_WINDOW_S = 30 * 60
# Draws tried per round, and rounds per day, before a day's window is declared
# unable to hold its visits.
DRAWS_PER_VISIT = 60
DAY_ROUNDS = 20
# An event and a site this close (metres) are taken to be the same place.
EVENT_SITE_RADIUS_M = 150.0


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
    target: datetime
    """The drawn time the window is centred on."""
    source: str = "tier"
    """``tier`` for the weekly quota, ``event:<id>`` for a planned event, ``escalation:<id>`` for a
    watch (:mod:`patrols.escalation`)."""
    note: str = ""
    """An event or escalation visit's reason in words, for briefings and contact sheets."""


@dataclass(frozen=True)
class UnservedVisit:
    """A protective visit the plan does not make, and why."""

    site_id: str
    date: date
    shift: str
    reason: str


@dataclass(frozen=True)
class EventAtSite:
    """A planned event matched to a protected site: it needs a visit while it lasts."""

    event_id: str
    site_id: str
    start: datetime
    end: datetime
    kind: str = ""
    level: int = 0


@dataclass(frozen=True)
class Watch:
    """A period through which a site gets a call at least every ``every_h`` hours."""

    start: float
    end: float
    """Timestamps."""
    every_h: float
    source: str
    """The visits' ``source`` (``escalation:<event id>``)."""
    note: str


def watch_visits(lo: float, hi: float, every_h: float,
                 slack_min: float = defaults.ESCALATION_SLACK_MIN) -> list[tuple[float, float, float]]:
    """(target, earliest, latest) start times of the calls that cover the watch ``[lo, hi]``.

    ``k`` calls are evenly spaced, ``L / k`` apart with ``L = hi - lo``, each free
    to start within ``h = (every - L / k) / 2`` of its target: the gap between two
    calls is then at most ``L / k + 2h = every``, and the first and the last are
    within ``L / (2k) + h <= every`` of the watch's ends. ``k`` is the fewest calls
    that leave each at least ``slack_min`` either way.
    """
    every = every_h * 3600.0
    slack = slack_min * 60.0
    length = max(0.0, hi - lo)
    k = max(1, math.ceil(length / max(every - 2 * slack, 60.0)))
    step = length / k
    half = max(0.0, (every - step) / 2.0)
    return [(lo + (i + 0.5) * step, lo + (i + 0.5) * step - half, lo + (i + 0.5) * step + half)
            for i in range(k)]


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


def window_instances(window: tuple[time, time] | None, day: date, tz: str) -> tuple[float, float]:
    """The (start, end) timestamps of a site's daily window opening on ``day``."""
    if window is None:
        window = (time(0), time(0))  # the whole day
    start, end = shift_bounds(day, window, tz)
    return start.timestamp(), end.timestamp()


def window_holding(window: tuple[time, time] | None, t: datetime, tz: str) -> tuple[float, float]:
    """The (start, end) timestamps of the window instance holding ``t``: the one opened that day
    or the day before (a night window), else that day's."""
    local_day = t.astimezone(ZoneInfo(tz)).date()
    for day in (local_day, local_day - timedelta(days=1)):
        lo, hi = window_instances(window, day, tz)
        if lo <= t.timestamp() <= hi:
            return lo, hi
    return window_instances(window, local_day, tz)


def _spread_days(n: int, rng: random.Random, days: int = 7) -> list[int]:
    """How many visits fall on each of ``days`` days: as even as possible, extra ones at random."""
    base, extra = divmod(n, days)
    counts = [base] * days
    offset = rng.random() * days
    for i in range(extra):
        counts[int((offset + i * float(days) / extra) % days)] += 1
    return counts


def _days_protected(site_id: str, days: list[date], protected: dict[str, frozenset[date]] | None
                    ) -> list[date]:
    """The days of ``days`` on which a site is protected (all of them when ``protected`` says nothing)."""
    if protected is None or site_id not in protected:
        return days
    return [d for d in days if d in protected[site_id]]


def prorated(need: int, days: int) -> int:
    """A weekly number of visits for a site protected on ``days`` of the 7: in proportion,
    rounded half up, and at least one when it is protected at all."""
    if days >= 7 or need <= 0:
        return need if days > 0 else 0
    return 0 if days <= 0 else max(1, math.floor(need * days / 7.0 + 0.5))


def _balanced_hours(n: int, hours: int, rng: random.Random) -> list[int]:
    """``n`` hour offsets in ``range(hours)``, each used once before any is used twice, shuffled."""
    out: list[int] = []
    while len(out) < n:
        rnd = list(range(hours))
        rng.shuffle(rnd)
        out.extend(rnd[: n - len(out)])
    rng.shuffle(out)
    return out


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), enough to match an event to a site."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def match_events(events: list, sites: list[Site], week_start: date, tz: str) -> list[EventAtSite]:
    """Planned events of the week held at a protected site (within ``EVENT_SITE_RADIUS_M``).

    ``events`` are objects with ``event_id, lat, lon, start, end`` (naive times
    are local to ``tz``). Events elsewhere do not make protective visits.
    """
    zone = ZoneInfo(tz)
    begin = datetime.combine(week_start, time(0), zone)
    finish = begin + timedelta(days=7)
    out = []
    for ev in events:
        start = ev.start if ev.start.tzinfo else ev.start.replace(tzinfo=zone)
        end = ev.end if ev.end.tzinfo else ev.end.replace(tzinfo=zone)
        if end <= begin or start >= finish:
            continue
        near = [(d, s) for s in sites
                if (d := distance_m(ev.lat, ev.lon, s.lat, s.lon)) <= EVENT_SITE_RADIUS_M]
        if near:
            site = min(near, key=lambda ds: (ds[0], ds[1].site_id))[1]
            out.append(EventAtSite(str(ev.event_id), site.site_id, start.astimezone(zone),
                                   end.astimezone(zone), str(getattr(ev, "kind", "")),
                                   int(getattr(ev, "level", 0))))
    return sorted(out, key=lambda e: (e.start, e.event_id))


class _Staffing:
    """Which slots have someone on duty, found by time."""

    def __init__(self, slots: list[Slot], unit_shifts: list[UnitShift]) -> None:
        on = {(us.date, us.shift) for us in unit_shifts}
        self.staffed = [s for s in slots if (s.date, s.shift) in on]
        self.all = slots

    def slot_at(self, ts: float, dwell_s: float) -> Slot | None:
        """The staffed slot in which a visit starting at ``ts`` fits, if any."""
        for s in self.staffed:
            if s.start.timestamp() <= ts <= s.end.timestamp() - dwell_s:
                return s
        return None

    def any_at(self, ts: float) -> Slot | None:
        for s in self.all:
            if s.start.timestamp() <= ts < s.end.timestamp():
                return s
        return None


def _make_visit(site: Site, slot: Slot, target: float, lo: float, hi: float, dwell_s: float,
                source: str, zone: ZoneInfo) -> Visit:
    """A visit around ``target``, its window kept inside the slot and ``[lo, hi]``."""
    open_ = max(target - HALF_WINDOW_S, lo, slot.start.timestamp())
    close = min(target + HALF_WINDOW_S, hi - dwell_s, slot.end.timestamp() - dwell_s)
    close = max(open_, close)
    when = datetime.fromtimestamp(round(target), zone)
    return Visit(
        visit_id=f"{site.site_id}/{when:%Y-%m-%dT%H:%M}",
        site_id=site.site_id, slot=slot,
        window_open=datetime.fromtimestamp(round(open_), zone),
        window_close=datetime.fromtimestamp(round(close), zone),
        dwell_min=dwell_s / 60.0, target=when, source=source,
    )


def protective_visits(
    sites: list[Site],
    slots: list[Slot],
    unit_shifts: list[UnitShift],
    settings: Settings,
    site_windows: dict[str, tuple[time, time] | None],
    seed: int,
    events: list[EventAtSite] | None = None,
    protected: dict[str, frozenset[date]] | None = None,
    watches: dict[str, list[Watch]] | None = None,
) -> tuple[list[Visit], list[UnservedVisit]]:
    """Allocate each site's visits for the week: days, times of day and shifts.

    Parameters
    ----------
    sites
        The protected sites.
    slots
        All slots of the week (see :func:`week_slots`).
    unit_shifts
        Who is on duty; a visit can only fall in a staffed slot.
    settings
        Visits per tier, dwell, minimum gap between visits to a site, time zone.
    site_windows
        Default daily window per site kind.
    seed
        Seed of the random draws. Each site draws from its own stream, so
        adding a site leaves the others' times unchanged.
    events
        Planned events at sites (see :func:`match_events`); each needs a visit
        while it lasts, on top of the weekly quota.
    protected
        Days each site is protected (:func:`patrols.people.protected_days`; all
        seven when missing). A site protected on fewer days gets its weekly
        quota prorated (:func:`prorated`) and spread over those days only, and
        no event visit on any other day.
    watches
        Each site's escalation watches (:func:`patrols.escalation.merged_watches`):
        calls spaced by :func:`watch_visits` replace the visit of an event that
        escalates the site and count towards that day's weekly quota.

    Returns
    -------
    (visits, unserved)
        Visits in time order, and the visits no staffed slot can hold.
    """
    zone = ZoneInfo(settings.timezone)
    staffing = _Staffing(slots, unit_shifts)
    days = sorted({s.date for s in slots})
    gap_s = settings.min_visit_gap_h * 3600.0
    visits: list[Visit] = []
    unserved: list[UnservedVisit] = []
    by_site_events: dict[str, list[EventAtSite]] = {}
    for ev in events or []:
        by_site_events.setdefault(ev.site_id, []).append(ev)

    for site in sorted(sites, key=lambda s: s.site_id):
        rng = random.Random(f"{seed}:{site.site_id}")
        dwell_s = (site.dwell_min or settings.protective_dwell_min) * 60.0
        chosen: list[float] = []
        valid = _days_protected(site.site_id, days, protected)
        site_watches = (watches or {}).get(site.site_id, [])
        # Escalation watches first: a call at least every few hours whatever the tier.
        watch_calls: list[float] = []
        for watch in site_watches:
            for target, lo, hi in watch_visits(watch.start, watch.end, watch.every_h):
                slot = staffing.slot_at(target, dwell_s) or next(
                    (s for s in staffing.staffed
                     if min(hi, s.end.timestamp() - dwell_s) >= max(lo, s.start.timestamp())), None)
                if slot is None:
                    at = staffing.any_at(target)
                    when = datetime.fromtimestamp(round(target), zone)
                    unserved.append(UnservedVisit(site.site_id, when.date(), at.shift if at else "",
                                                  f"no unit on duty during escalation "
                                                  f"{watch.source.split(':', 1)[1]} ({when:%H:%M})"))
                    continue
                a = max(lo, slot.start.timestamp())
                b = max(a, min(hi, slot.end.timestamp() - dwell_s))
                target = min(max(target, a), b)
                when = datetime.fromtimestamp(round(target), zone)
                watch_calls.append(target)
                chosen.append(target)
                visits.append(Visit(f"{site.site_id}/{when:%Y-%m-%dT%H:%M}", site.site_id, slot,
                                    datetime.fromtimestamp(round(a), zone),
                                    datetime.fromtimestamp(round(b), zone), dwell_s / 60.0, when,
                                    watch.source, watch.note))
        escalated = {e for w in site_watches for e in w.source.split(":", 1)[1].split("+")}

        # Events next: their times are fixed, and the regular visits keep clear of them.
        for ev in by_site_events.get(site.site_id, []):
            if ev.event_id in escalated or ev.start.date() not in valid:
                continue
            lo, hi = ev.start.timestamp(), ev.end.timestamp()
            options = [s for s in staffing.staffed
                       if min(hi - dwell_s, s.end.timestamp() - dwell_s) >= max(lo, s.start.timestamp())]
            if not options:
                slot = staffing.any_at(lo)
                unserved.append(UnservedVisit(site.site_id, ev.start.date(), slot.shift if slot else "",
                                              f"no unit on duty during event {ev.event_id}"))
                continue
            slot = max(options, key=lambda s: min(hi, s.end.timestamp()) - max(lo, s.start.timestamp()))
            a = max(lo, slot.start.timestamp())
            b = min(hi - dwell_s, slot.end.timestamp() - dwell_s)
            target = (a + b) / 2
            chosen.append(target)
            # The event visit's window is the event itself, not a slice around its middle.
            visits.append(replace(_make_visit(site, slot, target, a, b + dwell_s, dwell_s,
                                              f"event:{ev.event_id}", zone),
                                  window_open=datetime.fromtimestamp(round(a), zone),
                                  window_close=datetime.fromtimestamp(round(b), zone),
                                  note=f"event: {ev.kind or 'event'} {ev.event_id} "
                                       f"{ev.start:%a %H:%M}-{ev.end:%H:%M}"))

        need = site.visits_per_week
        if need is None:
            need = settings.visits_per_week_by_tier.get(site.tier, 0)
        need = prorated(need, len(valid))
        if need <= 0:
            continue
        window = site_window(site, site_windows)
        # A site protected all week draws exactly as it always has; one protected on fewer
        # days spreads its prorated visits over those days.
        per_day = _spread_days(need, rng) if len(valid) == 7 else _spread_days(need, rng, len(valid))
        # Stratified over the hours of the window: the week's visits take its hours as
        # evenly as they can (each hour once before any twice), dealt to days at random.
        first_lo, first_hi = window_instances(window, days[0], settings.timezone)
        hours = max(1, math.ceil((first_hi - first_lo) / 3600.0))
        pool = _balanced_hours(need, hours, rng)
        for day_index, count in enumerate(per_day):
            day = valid[day_index]
            lo, hi = window_instances(window, day, settings.timezone)
            # A watch's calls in the day's window stand for that many of its weekly visits.
            count -= min(count, sum(1 for t in watch_calls if lo <= t <= hi))
            if count == 0:
                continue
            best: list[tuple[int, float, Slot]] = []
            staffed_somewhere = False
            # A day's visits are placed together: one drawn first in the middle of the
            # window can leave no room for the next, so a failed day is drawn again.
            for attempt in range(DAY_ROUNDS):
                picks = ((list(pool) if attempt == 0 else [])
                         + [rng.randrange(hours) for _ in range(DRAWS_PER_VISIT)])
                trial: list[tuple[int, float, Slot]] = []
                for k in picks:
                    start = max(lo + 3600.0 * k, lo)
                    stop = min(lo + 3600.0 * (k + 1) - 1.0, hi - dwell_s)
                    if stop < start:
                        continue
                    target = rng.uniform(start, stop)
                    slot = staffing.slot_at(target, dwell_s)
                    if slot is None:
                        continue
                    staffed_somewhere = True
                    # Keep the gap between whole windows, so served visits keep it too (a
                    # watch's calls, already dense, only by the gap itself).
                    if any(abs(target - t) < gap_s + (0 if t in watch_calls else 2 * HALF_WINDOW_S)
                           for t in chosen + [x[1] for x in trial]):
                        continue
                    trial.append((k, target, slot))
                    if len(trial) == count:
                        break
                if len(trial) > len(best):
                    best = trial
                if len(best) == count:
                    break
            span = hi - lo
            for k, target, slot in best:
                if k in pool:
                    pool.remove(k)
                chosen.append(target)
                # The service window stays inside the drawn hour, so the hour is what is served.
                visits.append(_make_visit(site, slot, target, max(lo, lo + 3600.0 * k),
                                          min(hi, lo + 3600.0 * (k + 1) - 1.0 + dwell_s), dwell_s,
                                          "tier", zone))
            for _ in range(count - len(best)):
                slot = staffing.any_at(lo + span / 2)
                reason = (
                    f"the site's window cannot hold {count} visits that day "
                    f"{settings.min_visit_gap_h:g} h apart" if staffed_somewhere
                    else "no unit on duty in the site's window"
                )
                unserved.append(UnservedVisit(site.site_id, day, slot.shift if slot else "", reason))
    visits.sort(key=lambda v: (v.target, v.site_id))
    return visits, unserved


def naive_visits(sites: list[Site], slots: list[Slot], unit_shifts: list[UnitShift], settings: Settings,
                 site_windows: dict[str, tuple[time, time] | None],
                 protected: dict[str, frozenset[date]] | None = None) -> list[Visit]:
    """The naive planner's protective visits: the same times every day.

    A site's daily visits start half an hour after its window opens and follow
    each other by the minimum gap; weekly quotas below seven take the first
    days of the week (of the days the site is protected, prorated as
    :func:`protective_visits` does). Visits that fall where nobody is on duty
    are dropped (the naive planner simply misses them).
    """
    zone = ZoneInfo(settings.timezone)
    staffing = _Staffing(slots, unit_shifts)
    days = sorted({s.date for s in slots})
    gap_s = settings.min_visit_gap_h * 3600.0
    out = []
    for site in sorted(sites, key=lambda s: s.site_id):
        need = site.visits_per_week
        if need is None:
            need = settings.visits_per_week_by_tier.get(site.tier, 0)
        dwell_s = (site.dwell_min or settings.protective_dwell_min) * 60.0
        window = site_window(site, site_windows)
        valid = _days_protected(site.site_id, days, protected)
        need = prorated(need, len(valid))
        n = max(1, len(valid))
        per_day = [need // n + (1 if d < need % n else 0) for d in range(n)]
        for day, count in zip(valid, per_day, strict=False):
            lo, hi = window_instances(window, day, settings.timezone)
            for k in range(count):
                target = lo + 1800.0 + k * gap_s
                slot = staffing.slot_at(target, dwell_s)
                if slot is None or target > hi - dwell_s:
                    continue
                out.append(_make_visit(site, slot, target, lo, hi, dwell_s, "tier", zone))
    return sorted(out, key=lambda v: (v.target, v.site_id))
