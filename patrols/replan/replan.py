"""Re-planning a week already planned: changes from a moment on, everything before it kept.

A plan is out of date by Tuesday: a car goes off the road, a protest is called,
the planner fixes a visit by hand. :func:`replan_week` takes the plan as it was
(the *parent*), a moment (``from``) and the checked changes
(:mod:`patrols.changes`), and returns a new plan in which

- every stop that arrives before ``from`` is exactly as it was, with its
  unit's departure: a stop in progress at ``from`` is kept, and a shift in
  progress keeps those stops and gets new ones only from ``from`` on;
- only the shifts the changes touch are solved again. A shift is touched when
  its unit-shifts, its protective visits or its hotspot offers differ from the
  parent's once the changes are applied; every other shift keeps its routes;
- a touched shift is solved again from its current routes (a warm start),
  with a cost on every stop that moves to another unit, is dropped, or starts
  more than ``RETIME_TOLERANCE_S`` from its old time (see
  :class:`patrols.solver.problem.Stability`); moving a stop costs as much as
  the best hotspot visit, so stops move to serve a required visit, not for a
  small gain. The routes are then timed with each kept stop at its old time
  where the route allows (:func:`patrols.solver.schedule.anchored_schedule`).

The parent's week is rebuilt, not trusted: the demand of the parent (its
seed, the area's sites and events and the changes of earlier re-plans, which a
re-plan stores in its plan) is drawn again, and so is the demand with the new
changes; each site draws from its own random stream, so a change at one site
leaves every other site's visits where they were. The hotspot points and their
prizes are the parent's (stored in ``plan.json``): a week's patrol points do
not move mid-week, and no incidents are read.

How each change acts:

- ``unit_off``: the unit's shifts lose the time it is off (from ``from`` on); a
  shift that keeps a part keeps the longer part, with its share of busy time.
- ``unit_extra``: one more unit-shift.
- ``site``: a new site, or a site's record replaced; its visits are drawn again.
- ``site_off`` and ``forbid`` of a site: a visit's window loses the period; a
  visit left with no window is cancelled (listed, not unserved: nobody is to go).
- ``forbid`` of a hotspot: its offers lose the period.
- ``event``: held within 150 m of a protected site it needs a protective visit
  while it lasts, as in ``events.csv``; and it is offered as a patrol point of
  its own while it lasts, worth ``level / 6`` of the shift's best hotspot.
- ``pin``: the site's visit in that shift (the one drawn nearest the pinned
  time) is fixed to that unit and time; with none in that shift, the pin adds
  a visit. A pin the unit cannot reach in time, or outside the site's window,
  is refused.

What is not carried into re-solved shifts: the hotspot dosage of a later
shift on the same day is not re-priced when an earlier one changes (that
shift keeps its routes), and the naive baseline's figures are the parent's.
"""

from __future__ import annotations

import hashlib
import time as clock
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from patrols.area import Area
from patrols.changes import changes_to_doc, merge_docs, parse_changes
from patrols.demand import (
    Visit,
    week_slots,
)
from patrols.errors import InputError
from patrols.hotspots import Hotspot
from patrols.network import Network
from patrols.places import Places
from patrols.plan import Plan, PlannedHotspot, PlannedSite, Route, Unserved
from patrols.planning import (
    Progress,
    build_routes,
    extra_units_needed,
    people_extra,
    travel_table,
    visit_spread,
)
from patrols.replan.diff import diff_shift, hotspot_seconds, restore_prefix
from patrols.replan.predictable import predictability_warnings
from patrols.replan.resolve import resolve_days
from patrols.replan.tasks import PASSED, ResolveTask, day_counts, slot_signature, slot_tasks
from patrols.replan.week import all_sites, base_shifts, check_pins, clip_changes, describe_changes, week_state


def plan_id(data: bytes) -> str:
    """A plan's id from its saved ``plan.json`` bytes: the first 16 hex digits of their SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


def replan_week(area: Area, network: Network, parent: Plan, parent_id: str, start: datetime,
                changes_doc: dict[str, Any], changes_source: str, *, events: list | tuple = (),
                seed: int | None = None, time_limit_s: float | None = None, workers: int = 2,
                progress: Progress | None = None, plan_source: str = "plan.json") -> Plan:
    """Plan the rest of a planned week again from ``start``, with changes.

    Parameters
    ----------
    area, network
        The area the parent plan was made for, and its streets.
    parent
        The plan as it stands (not redacted).
    parent_id
        The parent's id (:func:`plan_id` of its ``plan.json``, or the service's id).
    start
        The moment from which the changes hold; every stop arriving before it is kept.
    changes_doc
        The changes as parsed TOML or JSON (see :mod:`patrols.changes`).
    changes_source, plan_source
        Names of the changes and the parent plan, for error messages.
    events
        The area's own planned events (``events.csv``), as the parent was planned with.
    seed
        Seed of the re-solved shifts (default: the parent's).
    time_limit_s
        Solver time per shift (default: the parent's).
    workers
        Processes solving days at once.

    Returns
    -------
    Plan
        The new plan; ``extra["replan"]`` says what changed and ``extra["warnings"]``
        where the week became easier to foresee.

    Raises
    ------
    patrols.errors.InputError
        For a redacted or foreign parent, a ``start`` outside the week, or a
        bad change (naming the table, its index and the field).
    """
    say = progress or (lambda _m: None)
    began = clock.perf_counter()
    settings = area.settings
    zone = ZoneInfo(settings.timezone)
    if parent.redacted:
        raise InputError(plan_source, "a redacted plan holds no protective visits and cannot be re-planned")
    if parent.area != area.name:
        raise InputError(plan_source, f"the plan is for {parent.area!r}, not {area.name!r}")
    if parent.hotspots and all(h.prize <= 0 for h in parent.hotspots):
        raise InputError(plan_source,
                         "the plan was made before re-planning was possible (no hotspot prizes); "
                         "plan the week again")
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    week_begin = min(r.start for r in parent.routes)
    week_end = max(r.end for r in parent.routes)
    if not week_begin <= start < week_end:
        raise InputError("--from", f"{start.isoformat()} is outside the planned week "
                                   f"({week_begin.isoformat()} to {week_end.isoformat()})")
    seed = parent.seed if seed is None else seed
    limit = parent.time_limit_s if time_limit_s is None else time_limit_s
    ts = start.timestamp()

    # Earlier re-plans' changes, then these; each checked on its own first so errors name the file's rows.
    history = parent.extra.get("replan", {}).get("changes", {})
    new_changes = parse_changes(changes_doc, area, parent.week_start, changes_source)
    new_changes = clip_changes(new_changes, start, changes_source)
    prior = parse_changes(history, area, parent.week_start, plan_source)
    merged_doc = merge_docs(history, changes_to_doc(new_changes))
    changes = parse_changes(merged_doc, area, parent.week_start, changes_source)
    offset = {"pin": len(prior.pins), "site_off": len(prior.site_off), "forbid": len(prior.forbids),
              "site": len(prior.sites)}

    start_shifts = base_shifts(area, parent, prior, plan_source)
    old = week_state(area, list(events), prior, parent, parent.seed, start_shifts)
    new = week_state(area, list(events), changes, parent, parent.seed, start_shifts)
    area2 = replace(area, sites=new.sites)
    # The parent's patrol points, less the events an earlier re-plan added (offered below as events).
    event_ids = {ev.event_id for ev in new.events}
    hotspots = [Hotspot(h.hotspot_id, h.lat, h.lon, -1, h.score, h.prize, -1, dict(h.shift_weights),
                        tuple(h.day_weights) or (1.0,) * 7) for h in parent.hotspots
                if h.hotspot_id not in event_ids]
    event_points = [Hotspot(ev.event_id, ev.lat, ev.lon, -1, 0.0, 0.0, -1) for ev in new.events]
    modes = sorted({us.mode for us in new.shifts} | {us.mode for us in old.shifts} | {"car"})
    table = travel_table(replace(area, sites=all_sites(old.sites, new.sites)), network,
                         hotspots + event_points, modes)
    check_pins(area, new, changes, table, offset["pin"], changes_source)
    say(f"changes read: {describe_changes(new_changes)} ({clock.perf_counter() - began:.1f} s)")

    slots = week_slots(parent.week_start, area.shifts, settings.timezone)
    # The week's bar for a hotspot visit is the parent's (its staffed shifts' top prize).
    staffed = [s for s in slots if any(us.date == s.date and us.shift == s.shift for us in old.shifts)]
    top_prize = max((h.prize_for(s.shift, s.date.weekday()) for s in staffed for h in hotspots), default=0.0)
    routes_of: dict[tuple[date, str], list[Route]] = defaultdict(list)
    for r in parent.routes:
        routes_of[(r.date, r.shift)].append(r)
    touched = [s for s in slots if s.end.timestamp() > ts and
               slot_signature(s, old, hotspots) != slot_signature(s, new, hotspots)]
    touched_keys = {(s.date, s.shift) for s in touched}
    say(f"{len(touched)} shift(s) touched: " + ", ".join(f"{s.date:%a} {s.shift}" for s in touched))

    # Build the touched districts' problems.
    by_day: dict[date, list[ResolveTask]] = defaultdict(list)
    built = []
    passed: list[Visit] = []
    hot_index = {h.hotspot_id: k for k, h in enumerate(hotspots + event_points)}
    for slot in touched:
        on_duty = [us for us in new.shifts if us.date == slot.date and us.shift == slot.shift]
        if not on_duty:
            built.append((slot, [], [], [], None))
            continue
        slot_visits = [v for v in new.visits if v.slot == slot]
        kept_counts = day_counts(slot, slots, routes_of, touched_keys, hot_index)
        for group, group_visits, points, task in slot_tasks(
                slot, on_duty, slot_visits, new, hotspots, event_points, table, area2,
                routes_of[(slot.date, slot.shift)], ts, top_prize, limit, kept_counts, hot_index, passed):
            by_day[slot.date].append(task)
            built.append((slot, group, group_visits, points, task))
    days = sorted(by_day)
    solve_began = clock.perf_counter()
    results = resolve_days([by_day[d] for d in days], area, seed, workers)
    solve_wall = clock.perf_counter() - solve_began
    flat = iter([r for day in results for r in day])
    say(f"solved {sum(len(v) for v in by_day.values())} district(s) again in {solve_wall:.1f} s")

    places = Places(network)
    station_names = {sid: st.name for sid, st in area.stations.items()}
    new_routes: dict[tuple[date, str], list[Route]] = defaultdict(list)
    unserved_new: list[Unserved] = []
    missing: dict[tuple[date, str], list[Visit]] = defaultdict(list)
    for slot, group, group_visits, points, task in built:
        if task is None:
            continue
        res = next(flat)
        visit_at = {i: v for i, v in zip([i for i, p in enumerate(points) if p.kind == "protective"
                                           and not task.locked[i]], group_visits, strict=True)}
        for miss in res.solution.unserved:
            p = points[miss.point]
            if task.locked[miss.point]:
                continue
            unserved_new.append(Unserved(p.ref, slot.date, slot.shift, miss.reason))
            if miss.point in visit_at:
                missing[(slot.date, slot.shift)].append(visit_at[miss.point])
        made = build_routes(slot, group, points, task.problem, res.solution, res.value, network, table,
                            places, station_names)
        key = (slot.date, slot.shift)
        new_routes[key].extend(restore_prefix(made, routes_of[key], ts))
    # Unserved: the parent's outside the touched shifts, the new ones inside.
    unserved = [u for u in parent.unserved if (u.date, u.shift) not in touched_keys]
    unserved += unserved_new
    unserved += [Unserved(v.site_id, v.slot.date, v.slot.shift, PASSED) for v in passed]
    unserved += [Unserved(u.site_id, u.date, u.shift, u.reason) for u in new.unplaceable
                 if (u.date, u.shift) in touched_keys]

    # The routes: kept, or new with their changes marked.
    routes: list[Route] = []
    per_unit: dict[str, dict[str, int]] = {}
    dropped: list[dict[str, Any]] = []
    totals = Counter()
    hot_old = hot_new = 0.0
    changed_units = {o.unit_id for o in new_changes.unit_off} | {p.unit_id for p in new_changes.pins}
    other_parent = other_kept = 0
    for slot in slots:
        key = (slot.date, slot.shift)
        old_routes = routes_of.get(key, [])
        if key not in touched_keys:
            routes.extend(old_routes)
            totals["kept"] += sum(len(r.stops) - 2 for r in old_routes)
            continue
        marked, diffs = diff_shift(old_routes, new_routes.get(key, []))
        routes.extend(marked)
        hot_old += sum(hotspot_seconds(r, table) for r in old_routes)
        hot_new += sum(hotspot_seconds(r, table) for r in marked)
        for k, d in sorted(diffs.items()):
            per_unit[k] = {"kept": d.kept, "moved": d.moved, "retimed": d.retimed, "added": d.added,
                           "dropped": d.dropped}
            for name in ("kept", "moved", "retimed", "added", "dropped"):
                totals[name] += getattr(d, name)
            dropped.extend(d.items)
            unit = k.split("/")[0]
            if unit not in changed_units:
                other_parent += sum(len(r.stops) - 2 for r in old_routes if r.key == k)
                other_kept += d.kept
    routes.sort(key=lambda r: (r.start, r.unit_id))

    shortfall = [s for s in parent.extra.get("shortfall", []) if
                 (date.fromisoformat(s["date"]), s["shift"]) not in touched_keys]
    if missing:
        shortfall += extra_units_needed(dict(missing), {(s.date, s.shift): s for s in slots}, area2, table,
                                        min(limit, 2.0), seed)
    tier_keys = {(v.site_id, v.slot.date, v.slot.shift) for v in new.visits if v.source == "tier"}
    planned_times: dict[str, list[datetime]] = defaultdict(list)
    for r in routes:
        for s in r.stops:
            if s.kind == "protective" and (s.ref, r.date, r.shift) in tier_keys and s.arrive:
                planned_times[s.ref].append(s.arrive)
    spread = visit_spread(area2, new.visits, planned_times, parent.seed)
    warnings = predictability_warnings(area2, new, routes, parent, changes, offset, start,
                                       {f"{s.date.isoformat()}/{s.shift}" for s in touched}, parent.seed)

    extra = dict(parent.extra)
    hot_s = parent.extra.get("hotspot_patrol_minutes", 0.0) * 60.0 - hot_old + hot_new
    covered = sum(s.value for r in routes for s in r.stops if s.kind == "hotspot")
    extra.update({
        "hotspot_patrol_minutes": round(hot_s / 60.0, 1),
        "harm_per_patrol_hour": round(covered / (hot_s / 3600.0), 3) if hot_s > 0 else 0.0,
        "predictability": spread,
        "shortfall": shortfall,
        "timing": {"workers": workers, "solve_wall_s": round(solve_wall, 2),
                   "solve_cpu_s": round(sum(r.seconds for d in results for r in d), 2),
                   "replan_s": round(clock.perf_counter() - began, 2)},
        "warnings": warnings,
        "replan": {
            "parent": parent_id,
            "from": start.isoformat(),
            "seed": seed,
            "applied": changes_to_doc(new_changes),
            "changes": merged_doc,
            "shifts_solved": [f"{s.date.isoformat()}/{s.shift}" for s in touched],
            "stops_kept": totals["kept"],
            "stops_moved": totals["moved"],
            "stops_retimed": totals["retimed"],
            "stops_added": totals["added"],
            "stops_dropped": totals["dropped"],
            "other_units_kept_share": round(other_kept / other_parent, 4) if other_parent else 1.0,
            "unit_shifts": per_unit,
            "dropped": dropped,
            "visits_cancelled": new.cancelled,
            "baseline_note": "baseline figures are the parent plan's",
        },
    })
    extra["baseline"] = parent.extra.get("baseline", {})
    extra.update(people_extra(area2, parent.week_start, new.at_sites, new.escalations, routes, unserved))
    planned_hotspots = tuple(h for h in parent.hotspots if h.hotspot_id not in event_ids) + tuple(
        PlannedHotspot(ev.event_id, ev.lat, ev.lon, 0.0) for ev in new.events)
    return replace(
        parent, seed=parent.seed, time_limit_s=limit, routes=tuple(routes),
        sites=tuple(PlannedSite(s.site_id, s.kind, s.tier, s.lat, s.lon, s.label, s.person_id)
                    for s in sorted(new.sites, key=lambda s: s.site_id)),
        hotspots=planned_hotspots,
        unserved=tuple(sorted(set(unserved), key=lambda u: (u.date, u.shift, u.site_id, u.reason))),
        required_visits=len(new.visits) + len(new.unplaceable),
        solve_seconds=round(solve_wall, 2), extra=extra,
    )
