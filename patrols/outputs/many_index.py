"""The index of a many-area run (``patrols plan-many``): ``index.json`` and ``index.html``.

One row per area with its headline figures (from its ``summary.json``) or the
reason it failed, and the totals over the areas planned. Pure: runs in, text out.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

SCHEMA = "patrols.plan-many/1"


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of one area's summary that the index shows."""
    protective = summary.get("protective", {})
    hotspots = summary.get("hotspots", {})
    routes = summary.get("routes", {})
    escalations = summary.get("escalations", [])
    return {
        "unit_shifts": summary.get("unit_shifts", 0),
        "required_visits": protective.get("required_visits", 0),
        "planned_visits": protective.get("planned_visits", 0),
        "unserved_visits": len(protective.get("unserved", [])),
        "hotspot_visits": hotspots.get("planned_visits", 0),
        "harm_covered": hotspots.get("harm_covered", 0.0),
        "harm_per_patrol_hour": hotspots.get("harm_per_patrol_hour", 0.0),
        "km": routes.get("km", 0.0),
        "patrol_minutes": routes.get("patrol_minutes", 0.0),
        "escalations": len(escalations),
        "escalations_met": sum(1 for e in escalations if e.get("met")),
    }


_SUMMED = ("unit_shifts", "required_visits", "planned_visits", "unserved_visits", "hotspot_visits",
           "harm_covered", "km", "patrol_minutes", "escalations", "escalations_met")


def index_json(runs: list, week: date, seed: int, time_limit_s: float | None, scheduler: str,
               workers: int, wall_s: float) -> dict[str, Any]:
    """The run's index: each area (``AreaRun``) with its figures or its reason, and the totals."""
    areas = []
    worker_s = sum(run.worker_s for run in runs)
    totals: dict[str, float] = dict.fromkeys(_SUMMED, 0)
    for run in runs:
        row: dict[str, Any] = {"name": run.name, "area_toml": run.area_path, "folder": run.folder,
                               "status": run.status, "worker_s": round(run.worker_s, 2)}
        if run.status == "done":
            figures = headline(run.summary)
            row.update(figures)
            for key in _SUMMED:
                totals[key] += figures[key]
        else:
            row["reason"] = run.reason or "not finished"
        areas.append(row)
    totals = {k: round(v, 3) if isinstance(v, float) else v for k, v in totals.items()}
    return {
        "schema": SCHEMA, "week_start": week.isoformat(), "seed": seed, "time_limit_s": time_limit_s,
        "scheduler": scheduler, "workers": workers, "wall_s": round(wall_s, 2),
        # Seconds the areas' tasks computed on the workers, and their share of workers x wall time.
        "worker_s": round(worker_s, 2),
        "worker_share": round(worker_s / (workers * wall_s), 3) if workers and wall_s > 0 else 0.0,
        "areas_planned": sum(1 for r in runs if r.status == "done"),
        "areas_failed": sum(1 for r in runs if r.status != "done"),
        "totals": totals, "areas": areas,
    }


_COLUMNS = (("unit_shifts", "unit-shifts"), ("required_visits", "protective visits required"),
            ("planned_visits", "planned"), ("unserved_visits", "unserved"),
            ("hotspot_visits", "hotspot visits"), ("harm_per_patrol_hour", "harm / patrol hour"),
            ("km", "km"), ("escalations", "escalations"))


def index_html(index: dict[str, Any]) -> str:
    """``index.html``: the index as a page (offline, no script), each planned area linked to its map."""
    e = html.escape
    head = "".join(f"<th>{e(label)}</th>" for _, label in _COLUMNS)
    rows = []
    for a in index["areas"]:
        if a["status"] == "done":
            cells = "".join(f"<td>{a[k]:g}</td>" if isinstance(a[k], float) else f"<td>{a[k]}</td>"
                            for k, _ in _COLUMNS)
            link = f'<a href="{e(a["folder"])}/map.html">{e(a["name"])}</a>'
            rows.append(f"<tr><td>{link}</td><td>planned</td>{cells}</tr>")
        else:
            rows.append(f'<tr class="failed"><td>{e(a["name"] or a["area_toml"])}</td><td>failed</td>'
                        f'<td colspan="{len(_COLUMNS)}">{e(a.get("reason", ""))}</td></tr>')
    t = index["totals"]
    total = "".join(f"<td>{t[k]:g}</td>" if k in t else "<td></td>" for k, _ in _COLUMNS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>Week of {e(index['week_start'])}: {index['areas_planned']} areas</title><style>"
        "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#111}"
        ".banner{background:#b00020;color:#fff;font-weight:700;text-align:center;padding:2px}"
        "table{border-collapse:collapse}th,td{border-bottom:1px solid #ccc;padding:3px 6px;text-align:left;"
        "font-variant-numeric:tabular-nums}th{background:#eee}tr.failed td{color:#900}"
        "tfoot td{font-weight:700}</style></head><body>\n"
        '<div class="banner">OFFICIAL-SENSITIVE</div>'
        f"<h1>Week of {e(index['week_start'])}</h1>"
        f"<p>{index['areas_planned']} area(s) planned, {index['areas_failed']} failed; seed {index['seed']}; "
        f"{e(str(index['scheduler']))}, {index['workers']} worker(s); {index['wall_s']:g} s.</p>\n"
        f"<table><thead><tr><th>area</th><th>status</th>{head}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + f"\n</tbody><tfoot><tr><td>total</td><td></td>{total}</tr></tfoot></table>\n</body></html>\n"
    )
