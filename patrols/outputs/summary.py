"""``summary.json``: the plan's headline figures."""

from __future__ import annotations

from typing import Any

from patrols.plan import Plan


def summarize(plan: Plan) -> dict[str, Any]:
    """The figures a planner checks first: coverage, what is unserved, distance and time.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    dict
        JSON-ready summary (see the README for each field). A redacted plan's has
        no ``protective`` block and only the figures its redaction kept.
    """
    stops = [s for r in plan.routes for s in r.stops]
    protective = [s for s in stops if s.kind == "protective"]
    hotspot_stops = [s for s in stops if s.kind == "hotspot"]
    covered = sum(s.value for s in hotspot_stops)
    patrol_min = sum(r.busy_min for r in plan.routes)
    dwell_hot_min = sum(s.dwell_min for s in hotspot_stops)
    if plan.redacted:  # redacted stops carry no times; the redaction kept the figure
        dwell_hot_min = float(plan.extra.get("hotspot_dwell_minutes", 0.0))
    summary = {
        "area": plan.area,
        "week_start": plan.week_start.isoformat(),
        "seed": plan.seed,
        "redacted": plan.redacted,
        "unit_shifts": len(plan.routes),
        "unit_shifts_by_mode": {
            m: sum(1 for r in plan.routes if r.mode == m) for m in sorted({r.mode for r in plan.routes})
        },
        "protective": {
            "sites": len(plan.sites),
            "required_visits": plan.required_visits,
            "planned_visits": len(protective),
            "unserved": [
                {"site_id": u.site_id, "date": u.date.isoformat(), "shift": u.shift, "reason": u.reason}
                for u in plan.unserved
            ],
        },
        "hotspots": {
            "candidates": len(plan.hotspots),
            "offered_visits": plan.hotspot_offers,
            "planned_visits": len(hotspot_stops),
            "distinct_visited": len({s.ref for s in hotspot_stops}),
            "harm_total": round(plan.harm_offered, 3),
            "harm_covered": round(covered, 3),
            "harm_covered_share": round(covered / plan.harm_offered, 4) if plan.harm_offered else 0.0,
            "dwell_minutes": round(dwell_hot_min, 1),
            # Per hour of hotspot patrol (the leg into each visit plus its dwell), and per hour
            # of all planned time (protective visits included).
            **{k: plan.extra[k] for k in ("hotspot_patrol_minutes", "harm_per_patrol_hour")
               if k in plan.extra},
            "harm_per_planned_hour": round(covered / (patrol_min / 60.0), 3) if patrol_min else 0.0,
        },
        "routes": {
            "empty_unit_shifts": sum(1 for r in plan.routes if len(r.stops) <= 2),
            # Planned share of each unit-shift's time (travel and dwell; the rest is kept for calls).
            "planned_share": {
                f"{r.unit_id}/{r.date.isoformat()}/{r.shift}": round(
                    r.busy_min / max((r.end.timestamp() - r.start.timestamp()) / 60.0, 1e-9), 3)
                for r in plan.routes
            },
            "km": round(sum(r.km for r in plan.routes), 2),
            "patrol_minutes": round(patrol_min, 1),
            "shift_minutes": round(
                sum((r.end.timestamp() - r.start.timestamp()) / 60 for r in plan.routes), 1),
        },
        **{k: plan.extra[k] for k in ("predictability", "baseline", "shortfall", "districts", "timing",
                                      "dosage")
           if k in plan.extra},
        **{k: plan.extra[k] for k in ("replan", "warnings", "escalations", "election")
           if k in plan.extra and not plan.redacted},
        **({"people": _people(plan)} if "people" in plan.extra and not plan.redacted else {}),
        **({"last_week": _last_week(plan)} if "last_week" in plan.extra else {}),
        "time_limit_s": plan.time_limit_s,
        "solve_seconds": plan.solve_seconds,
    }
    if plan.redacted:
        # Nothing about protective work, and no figure made from it (the solve time grows with it).
        del summary["protective"], summary["solve_seconds"]
    return summary


def _last_week(plan: Plan) -> dict[str, Any]:
    """Last week's delivered figures; a redacted summary keeps the hotspots' and drops the protective."""
    block = dict(plan.extra["last_week"])
    if plan.redacted:
        block.pop("protective", None)
    return block


def _people(plan: Plan) -> dict[str, Any]:
    """Counts of the people behind the sites and their contacts (the names are in the contact sheets)."""
    block = plan.extra["people"]
    persons = block.get("persons", [])
    roles: dict[str, int] = {}
    for p in persons:
        roles[p["role"]] = roles.get(p["role"], 0) + 1
    return {
        "persons": len(persons),
        "by_role": dict(sorted(roles.items())),
        "without_contact": sorted(p["person_id"] for p in persons if not p.get("contact_id")),
        "contacts": len(block.get("contacts", [])),
        "protected_part_of_week": [
            {"person_id": p["person_id"], "role": p["role"], "days": len(p["protected_days"]),
             "from": p["protected_days"][0] if p["protected_days"] else None,
             "to": p["protected_days"][-1] if p["protected_days"] else None}
            for p in persons if len(p.get("protected_days", [])) < 7],
    }
