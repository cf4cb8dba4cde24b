"""Escalation: a protest near a protected site raises the site's protection while it lasts.

A planned event of an escalating kind (``protest`` by default), or any event of
level 4 or more, within ``radius_m`` of a protected site puts the site under
watch from ``margin_h`` before the event to ``margin_h`` after it: a unit calls
at least every ``every_h`` hours through the watch, whatever the site's tier
(the package was prompted by crowds outside representatives' homes). The rule
is ``[escalation]`` in ``area.toml`` (:class:`patrols.area.EscalationRule`).

:func:`find_escalations` matches events to sites; :func:`merged_watches`
turns them into each site's watches, whose calls
:func:`patrols.demand.protective_visits` spaces (:func:`patrols.demand.watch_visits`);
:func:`escalation_report` measures what the routes made of them. All pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from patrols.demand import Watch, distance_m, watch_visits


@dataclass(frozen=True)
class Escalation:
    """One event escalating one site."""

    event_id: str
    kind: str
    level: int
    site_id: str
    distance_m: float
    event_start: datetime
    event_end: datetime
    watch_from: datetime
    watch_to: datetime
    every_h: float

    @property
    def note(self) -> str:
        """The event in words, as briefings and contact sheets name it."""
        return (f"escalation: {self.kind} {self.event_id} {self.event_start:%a %H:%M}-"
                f"{self.event_end:%H:%M}, {self.distance_m:.0f} m away")


def escalates(event: Any, rule: Any) -> bool:
    """Whether an event escalates the sites near it: an escalating kind, or a high enough level."""
    return str(event.kind).strip().lower() in rule.kinds or int(event.level) >= rule.min_level


def find_escalations(events: list, sites: list, rule: Any, week_start: date, tz: str,
                     protected: dict[str, frozenset[date]] | None = None) -> list[Escalation]:
    """Every (event, site) pair of the week that escalates, in time order.

    Parameters
    ----------
    events
        Planned events (``event_id, kind, level, lat, lon, start, end``; naive
        times are local to ``tz``).
    sites
        Protected sites.
    rule
        An :class:`patrols.area.EscalationRule`.
    week_start
        First day of the week; watches that miss the week are left out.
    tz
        The area's time zone.
    protected
        Days each site is protected (:func:`patrols.people.protected_days`);
        a site not protected on the day the event starts is not escalated.
    """
    zone = ZoneInfo(tz)
    begin = datetime.combine(week_start, time(0), zone)
    finish = begin + timedelta(days=7)
    margin = timedelta(hours=rule.margin_h)
    out = []
    for ev in events:
        if not escalates(ev, rule):
            continue
        start = (ev.start if ev.start.tzinfo else ev.start.replace(tzinfo=zone)).astimezone(zone)
        end = (ev.end if ev.end.tzinfo else ev.end.replace(tzinfo=zone)).astimezone(zone)
        watch_from, watch_to = start - margin, end + margin
        if watch_to <= begin or watch_from >= finish:
            continue
        for site in sites:
            d = distance_m(ev.lat, ev.lon, site.lat, site.lon)
            if d > rule.radius_m:
                continue
            if protected is not None and start.date() not in protected.get(site.site_id, frozenset()):
                continue
            out.append(Escalation(str(ev.event_id), str(ev.kind), int(ev.level), site.site_id, round(d, 1),
                                  start, end, max(watch_from, begin), min(watch_to, finish), rule.every_h))
    return sorted(out, key=lambda e: (e.watch_from, e.event_id, e.site_id))


def merged_watches(escalations: list[Escalation]) -> dict[str, list[Watch]]:
    """Per site, its watches in time order, overlapping ones joined (two protests one evening)."""
    out: dict[str, list[Watch]] = {}
    for esc in sorted(escalations, key=lambda e: (e.site_id, e.watch_from, e.event_id)):
        a, b = esc.watch_from.timestamp(), esc.watch_to.timestamp()
        spans = out.setdefault(esc.site_id, [])
        if spans and a <= spans[-1].end:
            last = spans[-1]
            spans[-1] = Watch(last.start, max(last.end, b), min(last.every_h, esc.every_h),
                              f"{last.source}+{esc.event_id}", f"{last.note}; {esc.note}")
        else:
            spans.append(Watch(a, b, esc.every_h, f"escalation:{esc.event_id}", esc.note))
    return out


def escalation_report(escalations: list[Escalation], routes: list, unserved: list) -> list[dict[str, Any]]:
    """What the plan made of each escalation (``summary.json``'s ``escalations``).

    Every protective stop at the site during the watch counts, whatever made it.
    ``longest_gap_min`` is the longest time without a call from the watch's start
    to its end (calls measured from their arrival); ``met`` is whether it is
    within ``every_h``.
    """
    by_site: dict[str, list[tuple[datetime, datetime | None, str]]] = {}
    for r in routes:
        for s in r.stops:
            if s.kind == "protective" and s.arrive is not None:
                by_site.setdefault(s.ref, []).append((s.arrive, s.depart, r.unit_id))
    out = []
    for esc in escalations:
        lo, hi = esc.watch_from.timestamp(), esc.watch_to.timestamp()
        calls = sorted((a, d, u) for a, d, u in by_site.get(esc.site_id, []) if lo <= a.timestamp() <= hi)
        marks = [lo, *(a.timestamp() for a, _, _ in calls), hi]
        gap = max(b - a for a, b in pairwise(marks)) / 60.0
        required = len(watch_visits(lo, hi, esc.every_h))
        missing = sum(1 for u in unserved if u.site_id == esc.site_id
                      and esc.event_id in u.reason and "escalation" in u.reason)
        out.append({
            "event_id": esc.event_id, "kind": esc.kind, "level": esc.level, "site_id": esc.site_id,
            "distance_m": esc.distance_m,
            "event_start": esc.event_start.isoformat(), "event_end": esc.event_end.isoformat(),
            "watch_from": esc.watch_from.isoformat(), "watch_to": esc.watch_to.isoformat(),
            "every_h": esc.every_h, "required_visits": required,
            "visits": [{"unit_id": u, "arrive": a.isoformat(), "depart": d.isoformat() if d else None}
                       for a, d, u in calls],
            "longest_gap_min": round(gap, 1),
            "met": gap <= esc.every_h * 60.0 + 0.5,
            "unserved": missing,
        })
    return out
