"""The service's configuration: which areas it plans, where it keeps its data, its limits.

A server config is a small TOML file; paths in it are relative to the file::

    data = "service-data"          # folder for patrols.db and the plan bundles
    workers = 2                    # plan jobs run at once (default: one per core)
    queue = 8                      # plan jobs that may wait; more answer 429
    jobs_per_key = 2               # plan jobs one key may have queued or running; more answer 429
    max_body_bytes = 262144        # larger request bodies answer 413
    max_tracks_bytes = 67108864    # larger track uploads (POST /plans/{id}/tracks) answer 413
    allowed_hosts = ["localhost", "127.0.0.1", "::1"]   # Host headers answered; others get 400
    weeks_ahead = 12               # a plan's week starts at most this many weeks after today,
    weeks_back = 52                # at least this many before today,
    weeks_after_data = 12          # or between the area's first incident and this long after its last

    [areas]                        # name in the API -> area.toml
    westminster = "../data/westminster/area.toml"

    [dask]                         # optional: run plan jobs on a Dask cluster
    scheduler = "tcp://127.0.0.1:8786"

Without ``[dask]`` plan jobs run in a pool of worker processes of the service.
With it they run as tasks on the Dask cluster of that scheduler (``tcp://`` or
``tls://``; TLS takes its certificates from Dask's own configuration), the one
``patrols plan-many --scheduler`` uses. Its workers must have patrols installed
and see the area files and the data folder at the same paths as the service: a
job reads the areas, writes its bundles under the data folder and updates the
SQLite database there, which (in WAL mode) must not be shared over a network
file system, so run those workers on the service's machine.

Without a file the service plans the bundled Westminster demo area.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patrols.errors import InputError
from patrols.plan_many import cores

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_AREA = REPO_ROOT / "data" / "westminster" / "area.toml"
DEFAULT_DATA = Path("patrols-service")
AREA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DB_NAME = "patrols.db"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
MAX_BODY_BYTES = 256 * 1024
# A week of 30 s pings of a force's units is tens of MB of CSV.
MAX_TRACKS_BYTES = 64 * 1024 * 1024
# tcp://host:port or tls://host:port: a host name, an IPv4 address or an [IPv6] address.
_SCHEDULER = re.compile(r"^(tcp|tls)://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")
_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?|[0-9a-f:.]+)$")


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
        Plan jobs run at once, each in its own process; with ``dask_scheduler``,
        jobs handed to the cluster at once (default: this machine's cores
        either way; the cluster is not asked at start, as it may not be up yet).
    queue
        Plan jobs that may wait beyond those running before new ones are refused (429).
    max_body_bytes
        Largest request body accepted (413 beyond). The default leaves room
        for a re-plan's changes (``POST /plans/{id}/replan``): a few hundred
        entries, each a few short values.
    max_tracks_bytes
        Largest track file accepted by ``POST /plans/{id}/tracks`` (413
        beyond), in place of ``max_body_bytes``; the upload is streamed to a
        private file, never held in memory.
    jobs_per_key
        Plan jobs one key may have queued or running at once (429 beyond), so
        one planner cannot fill the queue for everyone.
    allowed_hosts
        Host names (``Host`` header, without the port) the service answers;
        ``*.example.org`` matches any name under it, ``*`` every name. Others
        are refused (400), against DNS rebinding. Default: loopback names.
    weeks_ahead, weeks_back, weeks_after_data
        The weeks ``POST /plans`` accepts: starting from ``weeks_back`` weeks
        before today to ``weeks_ahead`` weeks after it, or from the first month
        of the area's incidents to ``weeks_after_data`` weeks after the last.
    dask_scheduler
        The address of a Dask scheduler (``[dask] scheduler``) whose cluster runs
        the plan jobs; ``None`` for the service's own pool of worker processes.
        Its workers see the service's paths, so ``data_dir`` should be absolute.
    """

    data_dir: Path = DEFAULT_DATA
    areas: dict[str, Path] = field(default_factory=lambda: {"westminster": DEMO_AREA})
    workers: int = field(default_factory=cores)
    queue: int = 8
    max_body_bytes: int = MAX_BODY_BYTES
    max_tracks_bytes: int = MAX_TRACKS_BYTES
    jobs_per_key: int = 2
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    weeks_ahead: int = 12
    weeks_back: int = 52
    weeks_after_data: int = 12
    dask_scheduler: str | None = None

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / DB_NAME

    @property
    def plans_dir(self) -> Path:
        """Where each plan's bundles are kept."""
        return self.data_dir / "plans"


def _positive_int(path: Path, doc: dict[str, Any], key: str, default: int, least: int = 1) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise InputError(path, f"must be a whole number of at least {least}", field=key)
    return value


def _hosts(path: Path, doc: dict[str, Any]) -> tuple[str, ...]:
    value = doc.get("allowed_hosts", list(LOOPBACK_HOSTS))
    if not isinstance(value, list) or not value:
        raise InputError(path, 'list at least one host name, e.g. ["patrols.example.org"]',
                         field="allowed_hosts")
    hosts = []
    for item in value:
        name = item.strip().lower().strip("[]") if isinstance(item, str) else ""
        if not _HOST.match(name):
            raise InputError(path, f"not a host name: {item!r}", field="allowed_hosts")
        hosts.append(name)
    return tuple(hosts)


def _dask_scheduler(path: Path, doc: dict[str, Any]) -> str | None:
    table = doc.get("dask")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise InputError(path, 'a table: [dask] scheduler = "tcp://host:8786"', field="dask")
    for key in table:
        if key != "scheduler":
            raise InputError(path, "unknown key (known: scheduler)", field=f"dask.{key}")
    value = table.get("scheduler")
    if value is None:
        raise InputError(path, 'missing: scheduler = "tcp://host:8786"', field="dask.scheduler")
    match = _SCHEDULER.match(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(4)) <= 65535:
        raise InputError(path, f"not a Dask scheduler address (tcp://host:port or tls://host:port): "
                         f"{value!r}", field="dask.scheduler")
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
    known = {"data", "workers", "queue", "max_body_bytes", "max_tracks_bytes", "areas", "jobs_per_key",
             "allowed_hosts", "weeks_ahead", "weeks_back", "weeks_after_data", "dask"}
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
    scheduler = _dask_scheduler(toml, doc)
    if scheduler is not None:  # a job names its files to Dask workers, which may run elsewhere
        data = data.absolute()
    return ServiceConfig(
        data_dir=data,
        areas=areas,
        workers=_positive_int(toml, doc, "workers", cores()),
        queue=_positive_int(toml, doc, "queue", 8),
        max_body_bytes=_positive_int(toml, doc, "max_body_bytes", MAX_BODY_BYTES),
        max_tracks_bytes=_positive_int(toml, doc, "max_tracks_bytes", MAX_TRACKS_BYTES),
        jobs_per_key=_positive_int(toml, doc, "jobs_per_key", 2),
        allowed_hosts=_hosts(toml, doc),
        weeks_ahead=_positive_int(toml, doc, "weeks_ahead", 12, least=0),
        weeks_back=_positive_int(toml, doc, "weeks_back", 52, least=0),
        weeks_after_data=_positive_int(toml, doc, "weeks_after_data", 12, least=0),
        dask_scheduler=scheduler,
    )
