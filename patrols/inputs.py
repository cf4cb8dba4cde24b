"""Loading everything an area names, at the edge, into plain objects for the core."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from patrols.area import Area, load_area
from patrols.incidents import read_all
from patrols.network import Network, load_graph
from patrols.tension import PlannedEvent, TensionArea, read_events, read_tension


@dataclass(frozen=True)
class AreaData:
    """An area with its network, incidents, tension layer and planned events loaded."""

    area: Area
    network: Network
    incidents: pd.DataFrame
    tension: list[TensionArea]
    events: list[PlannedEvent]


def load_area_data(path: str | Path) -> AreaData:
    """Read and check ``area.toml`` and every file it names.

    Raises
    ------
    patrols.errors.InputError
        On the first bad file, line or field, before anything is planned.
    """
    area = load_area(path)
    network = Network(load_graph(area.network_path), area.settings.foot_speed_kmh)
    return AreaData(
        area=area,
        network=network,
        incidents=read_all(area.incident_paths),
        tension=read_tension(area.tension_path) if area.tension_path else [],
        events=read_events(area.events_path) if area.events_path else [],
    )
