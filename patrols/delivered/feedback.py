"""The loop closed: last week's delivered report shapes this week's plan.

``patrols plan ... --delivered DIR`` reads the ``delivered.json`` of last week
(see :mod:`patrols.delivered.report`) and

- lists last week's protective visits not made (missed, short, no data) in the
  new plan's summary, for the planner to follow up;
- raises the prize of this week's hotspots on the streets that were
  under-dosed. Hotspot ids are drawn afresh each week, so a hotspot of this
  week takes the shortfall of last week's hotspots within the visit radius of
  it (``hotspot_radius_m``): the share of last week's planned patrol minutes
  not delivered there, ``u`` in [0, 1] (the largest, when several). Its prize
  is multiplied by ``1 + UNDERDOSE_GAIN * u``: a hotspot that got none of its
  planned patrol is worth ``1 + UNDERDOSE_GAIN`` times as much, one fully
  dosed is unchanged. Nothing is lowered: delivering more than planned is not
  held against a street, and a street not planned last week has no shortfall.

Pure: the report as parsed JSON in, hotspots and a summary block out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from patrols import defaults
from patrols.demand import distance_m
from patrols.hotspots import Hotspot

UNDERDOSE_GAIN = defaults.DELIVERED_UNDERDOSE_GAIN


def apply_last_week(hotspots: list[Hotspot], report: dict[str, Any]) -> tuple[list[Hotspot], dict[str, Any]]:
    """This week's hotspots with under-dosed streets raised, and the summary's ``last_week`` block.

    Parameters
    ----------
    hotspots
        This week's patrol points.
    report
        Last week's ``delivered.json``.

    Returns
    -------
    (hotspots, block)
        The hotspots (prizes raised where last week fell short) and what the
        summary reports: last week's protective visits not made, the hotspots
        raised and by how much.
    """
    radius = float(report.get("rule", {}).get("hotspot_radius_m", defaults.DELIVERED_HOTSPOT_RADIUS_M))
    short: list[tuple[float, float, float]] = []
    for _, row in sorted(report.get("hotspots", {}).get("per_hotspot", {}).items()):
        planned = float(row.get("planned_min", 0.0))
        if planned > 0 and "lat" in row and "lon" in row:
            u = 1.0 - min(float(row.get("delivered_min", 0.0)), planned) / planned
            short.append((float(row["lat"]), float(row["lon"]), u))
    raised: dict[str, float] = {}
    out = []
    for h in hotspots:
        u = max((s for lat, lon, s in short if distance_m(h.lat, h.lon, lat, lon) <= radius), default=0.0)
        if u > 0:
            factor = 1.0 + UNDERDOSE_GAIN * u
            raised[h.hotspot_id] = round(factor, 3)
            h = replace(h, prize=h.prize * factor)
        out.append(h)
    protective = report.get("protective")
    block: dict[str, Any] = {
        "week_start": report.get("week_start"),
        "rule": f"prize x (1 + {UNDERDOSE_GAIN:g} x share of last week's planned minutes not delivered "
                f"within {radius:g} m)",
        "hotspots_raised": raised,
        "hotspot_minutes": {k: report.get("hotspots", {}).get(k) for k in ("planned_min", "delivered_min")},
    }
    if protective is None:
        block["protective"] = "not in last week's report (it was redacted)"
    else:
        block["protective"] = {"planned": protective.get("planned"), "done": protective.get("done"),
                               "not_done": protective.get("not_done", [])}
    return out, block
