"""Which weeks ``POST /plans`` accepts: a date, a Monday unless asked otherwise, near today or the data.

A week may start from ``weeks_back`` weeks before today to ``weeks_ahead``
weeks after it (planning the weeks to come, and re-planning recent ones), or
from the first month of the area's incidents to ``weeks_after_data`` weeks after
its last incident (planning the weeks the data was collected for). Anything
else, such as ``0001-01-01`` or ``9999-12-31``, is refused before a job is made.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

from patrols.service.config import ServiceConfig

Span = tuple[date, date]

_SPANS: dict[tuple[str, tuple[tuple[str, int], ...]], Span | None] = {}
_SPANS_LOCK = threading.Lock()


def incident_span(area_path: str | Path) -> Span | None:
    """The first and last day of an area's incidents, or ``None`` if it has none (or they do not read).

    Read once per set of incident files (by name and modification time), so only
    the first plan of an area pays for it (about 0.4 s for Westminster).

    Parameters
    ----------
    area_path
        The area's ``area.toml``.

    Returns
    -------
    tuple of date, or None
    """
    from patrols.area import load_area
    from patrols.incidents import read_all

    try:
        area = load_area(area_path)
        stamp = tuple((str(p), p.stat().st_mtime_ns) for p in area.incident_paths)
    except (OSError, ValueError):
        return None
    key = (str(area_path), stamp)
    with _SPANS_LOCK:
        if key not in _SPANS:
            try:
                times = read_all(area.incident_paths)["timestamp"]
                _SPANS[key] = None if times.empty else (times.min().date(), times.max().date())
            except (OSError, ValueError):
                _SPANS[key] = None
        return _SPANS[key]


def week_problem(week: date, any_start_day: bool, config: ServiceConfig, span: Span | None,
                 today: date | None = None) -> str | None:
    """What is wrong with the week of a plan request, in words, or ``None`` if it is accepted.

    Parameters
    ----------
    week
        The first day of the week asked for.
    any_start_day
        Whether the request said the week may start on a day other than Monday.
    config
        The server's limits (``weeks_ahead``, ``weeks_back``, ``weeks_after_data``).
    span
        The first and last day of the area's incidents, if known.
    today
        Today (for tests); the local date by default.

    Returns
    -------
    str or None
    """
    if not any_start_day and week.weekday() != 0:
        return (f"{week.isoformat()} is a {week:%A}; weeks start on a Monday "
                "(send \"any_start_day\": true to start on another day)")
    today = today or date.today()
    windows = [(today - timedelta(weeks=config.weeks_back), today + timedelta(weeks=config.weeks_ahead),
                "around today")]
    if span is not None:
        windows.append((span[0].replace(day=1), span[1] + timedelta(weeks=config.weeks_after_data),
                        "around the area's incidents"))
    if any(first <= week <= last for first, last, _ in windows):
        return None
    allowed = " or ".join(f"{first.isoformat()} to {last.isoformat()} ({why})"
                          for first, last, why in windows)
    return f"{week.isoformat()} is outside the weeks this server plans: {allowed}"
