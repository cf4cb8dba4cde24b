"""Shared fixtures: small real networks and the Leeds test area."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from patrols.area import load_area
from patrols.incidents import read_all
from patrols.network import Network, load_graph

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent
LEEDS_AREA = DATA / "leeds" / "area.toml"
WESTMINSTER_AREA = REPO / "data" / "westminster" / "area.toml"


@pytest.fixture(scope="session")
def leeds_area():
    return load_area(LEEDS_AREA)


@pytest.fixture(scope="session")
def leeds_network(leeds_area):
    return Network(load_graph(leeds_area.network_path))


@pytest.fixture(scope="session")
def leeds_incidents(leeds_area):
    return read_all(leeds_area.incident_paths)


@pytest.fixture(scope="session")
def westminster_network():
    return Network(load_graph(REPO / "data" / "westminster" / "westminster_drive_osmnx.graphml"))


@pytest.fixture(scope="session")
def demo_week():
    """The bundled demo's week as `patrols demo` plans it (tension, events), with a short solver
    time: (area, network, plan). Shared, because planning it takes seconds."""
    from datetime import date

    from patrols.inputs import load_area_data
    from patrols.planning import plan_week

    data = load_area_data(WESTMINSTER_AREA)
    plan = plan_week(data.area, data.network, data.incidents, date(2018, 7, 2), seed=0, time_limit_s=0.3,
                     tension=data.tension, events=data.events, workers=2)
    return data.area, data.network, plan


def grid_graph(n: int, block_m: float = 100.0, lat0: float = 51.5, lon0: float = -0.1) -> nx.MultiDiGraph:
    """An OSMnx-style ``n x n`` block street grid: ``(n + 1)**2`` junctions, every street both ways."""
    m_lat = 1.0 / 111_320.0
    m_lon = 1.0 / (111_320.0 * np.cos(np.radians(lat0)))
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(n + 1):
        for j in range(n + 1):
            g.add_node(i * (n + 1) + j, x=lon0 + i * block_m * m_lon, y=lat0 + j * block_m * m_lat)
    for i in range(n + 1):
        for j in range(n + 1):
            a = i * (n + 1) + j
            for b in ([a + n + 1] if i < n else []) + ([a + 1] if j < n else []):
                for u, v in ((a, b), (b, a)):
                    g.add_edge(u, v, length=block_m, highway="residential", oneway=False)
    return g
