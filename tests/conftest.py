"""Shared fixtures: small real networks and the Leeds test area."""

from __future__ import annotations

from pathlib import Path

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
