"""ARMOR's warning: where the planner's changes make a site's visits easy to foresee.

For each site that a change names (a pin, a site pause or forbidden period, a
changed site record), the spread of its visit hours is measured again against
uniform random visits in the same windows (:mod:`patrols.predictability`);
below ``SPREAD_WARNING_RATIO`` of it, or with two visits within ``SAME_HOUR_S``
of the same time of day on consecutive days, the re-plan carries a warning.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from patrols import defaults
from patrols.area import Area
from patrols.changes import Changes
from patrols.demand import site_window, window_holding
from patrols.plan import Plan, Route
from patrols.predictability import site_spread
from patrols.replan.week import WeekState

# Predictability warnings: below this share of the uniform-random spread...
SPREAD_WARNING_RATIO = 0.9


# ...or two visits to a site this close in time of day on consecutive days.
SAME_HOUR_S = 3600.0


def predictability_warnings(area: Area, week: WeekState, routes: list[Route], parent: Plan, changes: Changes,
                            offset: dict[str, int], start: datetime, solved: set[str],
                            seed: int) -> list[dict[str, str]]:
    """ARMOR's check: where this re-plan's pins or narrowed windows make a site's visits easy to foresee.

    Parameters
    ----------
    area, week
        The area and the week as the changes leave it.
    routes, parent
        The new plan's routes, and the parent plan (for the spread it had).
    changes, offset
        All changes so far, and how many of each table earlier re-plans made
        (only this re-plan's changes are named and checked).
    start
        The re-plan's start: two visits on consecutive days are flagged only
        when one of them is from then on (earlier ones cannot change now)...
    solved
        ...and in a shift solved again (``YYYY-MM-DD/shift``): the pairs this re-plan made.
    seed
        Seed of the uniform-random reference.

    Returns
    -------
    list of dict
        ``site_id``, ``kind`` (``spread`` or ``same_hour``), ``by`` (the changes) and ``message``.
    """
    tz = area.settings.timezone
    zone = ZoneInfo(tz)
    why: dict[str, list[str]] = defaultdict(list)
    for j, p in enumerate(changes.pins):
        if j >= offset["pin"]:
            why[p.site_id].append(f"pin[{j - offset['pin']}]")
    for j, o in enumerate(changes.site_off):
        if j >= offset["site_off"]:
            why[o.site_id].append(f"site_off[{j - offset['site_off']}]")
    for j, f in enumerate(changes.forbids):
        if j >= offset["forbid"] and f.kind == "site":
            why[f.ref].append(f"forbid[{j - offset['forbid']}]")
    for j, s in enumerate(changes.sites):
        if j >= offset["site"]:
            why[s.site_id].append(f"site[{j - offset['site']}]")
    if not why:
        return []
    sites = {s.site_id: s for s in week.sites}
    times: dict[str, list[datetime]] = defaultdict(list)
    fresh: set[tuple[str, datetime]] = set()
    for r in routes:
        for s in r.stops:
            if s.kind == "protective" and s.ref in why and s.arrive is not None:
                times[s.ref].append(s.arrive)
                if f"{r.date.isoformat()}/{r.shift}" in solved and s.arrive >= start:
                    fresh.add((s.ref, s.arrive))
    before: dict[str, list[datetime]] = defaultdict(list)
    for r in parent.routes:
        for s in r.stops:
            if s.kind == "protective" and s.ref in why and s.arrive is not None:
                before[s.ref].append(s.arrive)
    out = []
    for site_id in sorted(why):
        got = sorted(times.get(site_id, []))
        causes = ", ".join(why[site_id])
        window = site_window(sites[site_id], defaults.SITE_WINDOWS)
        if len(got) >= 2:
            spans = [window_holding(window, t, tz) for t in got]
            now = site_spread(got, spans, tz, seed)["ratio"]
            old_times = sorted(before.get(site_id, []))
            old_spans = [window_holding(window, t, tz) for t in old_times]
            was = site_spread(old_times, old_spans, tz, seed)["ratio"] if len(old_times) >= 2 else None
            if now < SPREAD_WARNING_RATIO:
                then = f" (was {was:.2f})" if was is not None else ""
                text = (f"site {site_id}: visit hours spread {now:.2f} of uniform random{then}, "
                        f"below {SPREAD_WARNING_RATIO:.2f}, after {causes}")
                out.append({"site_id": site_id, "kind": "spread", "by": causes, "message": text})
        local = [t.astimezone(zone) for t in got]
        for a in local:
            for b in local:
                if (b.date() - a.date()).days != 1 or not ({(site_id, a), (site_id, b)} & fresh):
                    continue
                gap = abs((b.hour * 3600 + b.minute * 60) - (a.hour * 3600 + a.minute * 60))
                if min(gap, 86400 - gap) < SAME_HOUR_S:
                    out.append({"site_id": site_id, "kind": "same_hour", "by": causes,
                                "message": f"site {site_id}: visits at {a:%a %H:%M} and {b:%a %H:%M}, "
                                           f"within the hour on consecutive days, after {causes}"})
    return out
