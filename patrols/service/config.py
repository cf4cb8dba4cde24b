"""The service's configuration: which areas it plans, where it keeps its data, its limits.

A server config is a small TOML file; paths in it are relative to the file::

    data = "service-data"          # folder for patrols.db and the plan bundles
    workers = 2                    # plan jobs run at once (default: one per core)
    queue = 8                      # plan jobs that may wait; more answer 429
    max_body_bytes = 16384         # larger request bodies answer 413

    [areas]                        # name in the API -> area.toml
    westminster = "../data/westminster/area.toml"

Without a file the service plans the bundled Westminster demo area.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patrols.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_AREA = REPO_ROOT / "data" / "westminster" / "area.toml"
DEFAULT_DATA = Path("patrols-service")
AREA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DB_NAME = "patrols.db"


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs to start.

    Parameters
    ----------
    data_dir
        Folder holding ``patrols.db`` and ``plans/<id>/`` bundles; made on first start.
    areas
        Area name as the API knows it -> its ``area.toml``.
    workers
        Plan jobs run at once, each in its own process.
    queue
        Plan jobs that may wait beyond those running before new ones are refused (429).
    max_body_bytes
        Largest request body accepted (413 beyond).
    """

    data_dir: Path = DEFAULT_DATA
    areas: dict[str, Path] = field(default_factory=lambda: {"westminster": DEMO_AREA})
    workers: int = field(default_factory=_cores)
    queue: int = 8
    max_body_bytes: int = 16 * 1024

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / DB_NAME

    @property
    def plans_dir(self) -> Path:
        """Where each plan's bundles are kept."""
        return self.data_dir / "plans"


def _positive_int(path: Path, doc: dict[str, Any], key: str, default: int) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(path, "must be a whole number of at least 1", field=key)
    return value


def load_config(path: str | Path | None = None, data_dir: str | Path | None = None) -> ServiceConfig:
    """Read a server config file, or the defaults when ``path`` is ``None``.

    Parameters
    ----------
    path
        The TOML file; ``None`` for the defaults (the demo area).
    data_dir
        Overrides the file's ``data`` (the command line's ``--data``).

    Returns
    -------
    ServiceConfig
    """
    if path is None:
        base = ServiceConfig()
        return base if data_dir is None else ServiceConfig(data_dir=Path(data_dir))
    toml = Path(path).resolve()
    if not toml.is_file():
        raise InputError(path, "server config file not found")
    try:
        doc = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(toml, f"not valid TOML: {exc}") from None
    known = {"data", "workers", "queue", "max_body_bytes", "areas"}
    for key in doc:
        if key not in known:
            raise InputError(toml, f"unknown key (known: {', '.join(sorted(known))})", field=key)
    raw_areas = doc.get("areas")
    if not isinstance(raw_areas, dict) or not raw_areas:
        raise InputError(toml, "list at least one area: name = \"path/to/area.toml\"", field="areas")
    areas: dict[str, Path] = {}
    for name, raw in raw_areas.items():
        if not AREA_NAME.match(name):
            raise InputError(toml, "area names are lower-case letters, digits, - and _ (at most 40)",
                             field=f"areas.{name}")
        if not isinstance(raw, str) or not (toml.parent / raw).is_file():
            raise InputError(toml, f"area file not found: {raw}", field=f"areas.{name}")
        areas[name] = (toml.parent / raw).resolve()
    data = Path(data_dir) if data_dir is not None else toml.parent / str(doc.get("data", DEFAULT_DATA))
    return ServiceConfig(
        data_dir=data,
        areas=areas,
        workers=_positive_int(toml, doc, "workers", _cores()),
        queue=_positive_int(toml, doc, "queue", 8),
        max_body_bytes=_positive_int(toml, doc, "max_body_bytes", 16 * 1024),
    )
