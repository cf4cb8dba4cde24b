"""Readers for the published orienteering benchmarks (Chao TOP, KU Leuven TOPTW).

Each reader returns a ``ShiftProblem`` whose point indices are the file's own
order, so routes can be reported and compared in the benchmark's numbering.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from patrols.solver.problem import ShiftProblem, Vehicle


def _euclidean(xy: np.ndarray) -> np.ndarray:
    diff = xy[:, None, :] - xy[None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=2))


def detect_family(path: str | Path) -> str:
    """Tell a Chao TOP file from a KU Leuven TOPTW file by its content.

    Parameters
    ----------
    path
        Instance file.

    Returns
    -------
    str
        ``"chao_top"`` or ``"toptw"``.
    """
    first = Path(path).read_text().split(None, 1)[0]
    return "chao_top" if first == "n" else "toptw"


def read_chao(path: str | Path, vehicles: int | None = None) -> ShiftProblem:
    """Read a Chao, Golden & Wasil TOP instance.

    Parameters
    ----------
    path
        Instance file (``n``, ``m``, ``tmax`` lines, then ``x y score``).
    vehicles
        Number of paths; defaults to the file's ``m``.

    Returns
    -------
    ShiftProblem
        Point 0 is the start, the last point the end; travel is the exact
        Euclidean distance and every vehicle's route length is at most ``tmax``.
    """
    tokens = Path(path).read_text().split()
    header = {tokens[0]: tokens[1], tokens[2]: tokens[3], tokens[4]: tokens[5]}
    n = int(header["n"])
    m = int(header["m"]) if vehicles is None else vehicles
    tmax = float(header["tmax"])
    data = np.array(tokens[6 : 6 + 3 * n], dtype=float).reshape(n, 3)
    travel = _euclidean(data[:, :2])
    vehicle = Vehicle(start=0, end=n - 1, earliest=0.0, latest=tmax)
    return ShiftProblem(
        travel={"car": travel},
        service=np.zeros(n),
        prize=data[:, 2].copy(),
        required=np.zeros(n, dtype=bool),
        window_open=np.zeros(n),
        window_close=np.full(n, tmax),
        vehicles=(vehicle,) * m,
        name=Path(path).stem,
    )


def read_toptw(path: str | Path, vehicles: int) -> ShiftProblem:
    """Read a KU Leuven TOPTW instance (Solomon- or Cordeau-based).

    Parameters
    ----------
    path
        Instance file.
    vehicles
        Number of vehicles (not stored in the file).

    Returns
    -------
    ShiftProblem
        Vertex 0 is start and end; travel is the Euclidean distance truncated
        to 1 decimal (Solomon ``c``/``r``/``rc``) or 2 decimals (Cordeau ``pr``).
    """
    path = Path(path)
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    # The header is normally two lines, but c204 breaks the first one over two;
    # N is the third header token either way, and the vertex lines are the last
    # N+1 lines, their first token counting up from 0.
    n_customers = int((lines[0] + lines[1])[2])
    rows = lines[-(n_customers + 1) :]
    if [int(r[0]) for r in rows] != list(range(n_customers + 1)):
        raise ValueError(f"{path}: cannot find {n_customers + 1} vertex lines")
    xy = np.array([[float(r[1]), float(r[2])] for r in rows])
    service = np.array([float(r[3]) for r in rows])
    prize = np.array([float(r[4]) for r in rows])
    w_open = np.array([float(r[-2]) for r in rows])
    w_close = np.array([float(r[-1]) for r in rows])
    decimals = 2 if path.stem.lower().startswith("pr") else 1
    factor = 10.0**decimals
    # Truncate as the literature does; the tiny nudge stops 2.3 becoming 2.2999.
    travel = np.floor(_euclidean(xy) * factor + 1e-7) / factor
    horizon = float(w_close[0])
    vehicle = Vehicle(start=0, end=0, earliest=float(w_open[0]), latest=horizon)
    w_close = w_close.copy()
    w_close[0] = horizon
    service[0] = 0.0
    prize[0] = 0.0
    return ShiftProblem(
        travel={"car": travel},
        service=service,
        prize=prize,
        required=np.zeros(n_customers + 1, dtype=bool),
        window_open=w_open,
        window_close=w_close,
        vehicles=(vehicle,) * vehicles,
        name=path.stem,
    )


def read_instance(path: str | Path, vehicles: int | None = None) -> ShiftProblem:
    """Read either benchmark format, recognised from the file's content.

    Parameters
    ----------
    path
        Instance file.
    vehicles
        Number of vehicles; required for TOPTW files.

    Returns
    -------
    ShiftProblem
        The instance.
    """
    if detect_family(path) == "chao_top":
        return read_chao(path, vehicles)
    if vehicles is None:
        raise ValueError(f"{path}: TOPTW files need the number of vehicles")
    return read_toptw(path, vehicles)


def total_prize(problem: ShiftProblem, routes: list[list[int]]) -> float:
    """Sum the prizes of the distinct points on the routes.

    Parameters
    ----------
    problem
        The instance.
    routes
        Visit indices per vehicle.

    Returns
    -------
    float
        The score.
    """
    return float(sum(problem.prize[i] for i in {p for r in routes for p in r}))


__all__ = ["detect_family", "read_chao", "read_instance", "read_toptw", "total_prize"]
