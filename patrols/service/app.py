"""The HTTP API: areas, plan jobs and their bundles, keys and the audit log.

Every request but ``GET /health`` carries an API key (``Authorization: Bearer
pk_...``). What a key may do is its role's (see :mod:`patrols.service.keys`).
Planners are served each plan's full bundle; viewers and admins its viewer
bundle, which holds no protected site's position, label or kind. Planners alone
read the named police contacts' sheets (``GET /plans/{id}/contacts/...``). A finished
plan is re-planned with ``POST /plans/{id}/replan``: the new plan is a plan of
its own that names its parent, and every plan lists the versions of its week.
Planners upload the week's AVL/GPS tracks to a finished plan (``POST
/plans/{id}/tracks``) and everyone reads what was delivered against it (``GET
/plans/{id}/delivered``), planners in full, others redacted; see
:mod:`patrols.service.delivered`.
Every request, allowed or not, is appended to the hash-chained audit log (one
entry per plan it discloses) before it is answered; see
:mod:`patrols.service.audit`.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints'
# annotations at run time, and some name types local to create_app.

import dataclasses
import functools
import json
import logging
import mimetypes
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import anyio
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.requests import ClientDisconnect

from patrols.service import audit, jobs
from patrols.service.config import ServiceConfig
from patrols.service.delivered import (
    FORMATS,
    Manifest,
    TracksRefused,
    Upload,
    delivered_dir,
    forget_lock,
    plan_lock,
    read_manifest,
    read_report,
    store_tracks,
    track_format,
    track_name,
    visit_rule_of,
)
from patrols.service.delivered import NAME_PATTERN as TRACK_NAME
from patrols.service.files import clear_unfinished, make_private, private_dir, remove_plan_files
from patrols.service.jobs import JobRunner, KeyBusy, PlanJob, QueueFull, parent_plan_path
from patrols.service.keys import (
    API_ROLES,
    NAME_PATTERN,
    ROLES,
    Caller,
    authenticate,
    claimed_key_id,
    create_key,
    name_problem,
)
from patrols.service.middleware import (
    DOCS_CSP,
    AllowedHosts,
    RequestAudit,
    RequestNote,
    SecurityHeaders,
    map_csp,
)
from patrols.service.problems import (
    ApiProblem,
    BodyLimit,
    RouteLimit,
    install_problem_handlers,
    problem_responses,
)
from patrols.service.store import PLAN_STATUSES, KeyRecord, PlanRecord, PlanVersion, Store
from patrols.service.weeks import incident_span, week_problem

log = logging.getLogger("patrols.service")
MAX_TIME_LIMIT_S = 60.0
_MEDIA = {".geojson": "application/geo+json", ".gpx": "application/gpx+xml",
          ".kml": "application/vnd.google-earth.kml+xml", ".ics": "text/calendar",
          ".csv": "text/csv", ".json": "application/json", ".html": "text/html",
          ".gpkg": "application/geopackage+sqlite3"}
_FORMAT = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
# A file of a bundle's contacts/ folder: a contact's sheet or calendar, or the index (see outputs.contacts).
_CONTACT_FILE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.(html|ics)$"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A moment as ISO 8601: to the minute at least, an offset optional (none: the area's time zone).
_MOMENT = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
           r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
# The audit action of each endpoint (by its function's name); a request that
# matches no route is audited as "request", with its method and path.
ACTIONS = {
    "health": "health", "list_areas": "areas.list", "create_plan": "plan.create", "list_plans": "plan.list",
    "replan_plan": "plan.replan",
    "read_plan": "plan.read", "read_map": "plan.map", "export_plan": "plan.export",
    "read_contact": "plan.contact",
    "delete_plan": "plan.delete", "upload_tracks": "tracks.upload", "read_delivered": "delivered.read",
    "read_delivered_csv": "delivered.read", "read_audit": "audit.read", "make_key": "key.create",
    "list_keys": "key.list", "revoke_key": "key.revoke", "docs": "docs", "docs_file": "docs",
    "openapi": "openapi",
}


# Request and response bodies ----------------------------------------------------


def _whole_number(value: Any) -> Any:
    # 12.0 is JSON's 12; "12" and true are not numbers.
    if isinstance(value, bool | str):
        raise ValueError("must be a whole number")
    return value


def _plan_request(area_names: list[str]) -> type[BaseModel]:
    # Made per app so the schema lists this server's own areas (for clients and schemathesis).
    class PlanRequest(BaseModel):
        """A plan to make."""

        model_config = ConfigDict(extra="forbid")
        # Strict: "1" is not a seed and 0 is not false; a typo should be told, not guessed.
        area: str = Field(description="An area name from GET /areas", max_length=40, strict=True,
                          json_schema_extra={"enum": area_names})
        week: date = Field(description=(
            "First day of the week, a date YYYY-MM-DD (not a date and time): a Monday unless "
            "any_start_day is true, within the server's range around today or the area's incidents"))
        any_start_day: bool = Field(False, strict=True,
                                    description="Let the week start on a day other than Monday")
        seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of every random choice")
        time_limit_s: float | None = Field(None, gt=0, le=MAX_TIME_LIMIT_S, strict=True,
                                           description="Solver seconds per shift; the area's default if null")
        redact: bool = Field(False, strict=True, description="Redact the planners' bundle too")

        @field_validator("week", mode="before")
        @classmethod
        def _week_is_a_date(cls, value: Any) -> Any:
            # Lax dates take numbers as Unix times and a midnight date-time as a
            # date; a week is written YYYY-MM-DD and nothing else.
            if not isinstance(value, str) or not _DATE.fullmatch(value):
                raise ValueError("must be a date written YYYY-MM-DD (not a date and time)")
            return value

        @field_validator("seed", mode="before")
        @classmethod
        def _seed_is_a_number(cls, value: Any) -> Any:
            return _whole_number(value)

    return PlanRequest


# One entry of a changes table: a flat object of a few short values, checked in
# full by patrols.changes (which names the field of a bad one); bounded here so
# that a body the schema allows fits in a request.
_Key = Annotated[str, StringConstraints(max_length=20)]
_Cell = Annotated[str, StringConstraints(max_length=100)] | int | float | bool
_Entry = Annotated[dict[_Key, _Cell], Field(max_length=12)]


def _table(description: str) -> Any:
    return Field(default_factory=list, max_length=100, description=description)


class ChangesIn(BaseModel):
    """Changes to a planned week: the tables of ``CHANGES.toml``, each a list of tables.

    Times are ISO 8601; without an offset they are the area's local time
    (Europe/London). Each entry is checked as ``patrols replan`` checks the file.
    """

    model_config = ConfigDict(extra="forbid")
    unit_off: list[_Entry] = _table("A unit off duty: unit, from, to")
    unit_extra: list[_Entry] = _table(
        "One more unit-shift: unit, mode (car or foot), station, date, shift")
    site: list[_Entry] = _table(
        "A new site, or a site replaced: the columns of sites.csv (site_id, kind, lat, lon, tier, ...)")
    site_off: list[_Entry] = _table("No visits to a site: site_id, from, to")
    event: list[_Entry] = _table(
        "An event called: event_id, kind, lat, lon, start, end, level")
    pin: list[_Entry] = _table("A visit fixed to a unit and time: site_id, unit, at")
    forbid: list[_Entry] = _table(
        "No visit to a site or hotspot (H..) for a while: ref, from, to")


class ReplanRequest(BaseModel):
    """A finished plan to plan again from a moment on, with changes."""

    model_config = ConfigDict(extra="forbid")
    from_: str = Field(alias="from", strict=True, pattern=_MOMENT, description=(
        "The moment the changes hold from, ISO 8601 (2018-07-04T12:00:00); the area's local time "
        "unless it has an offset. It must fall in the plan's week; every stop before it is kept"))
    changes: ChangesIn = Field(description="The changes (see ChangesIn); {} re-plans with none")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seed of the shifts solved again; "
                             "the plan's if null")
    time_limit_s: float | None = Field(None, gt=0, le=MAX_TIME_LIMIT_S, strict=True,
                                       description="Solver seconds per shift; the plan's if null")

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_is_a_number(cls, value: Any) -> Any:
        return _whole_number(value)


class VersionOut(BaseModel):
    """One plan of a week's lineage: the plan made first and every re-plan descended from it."""

    id: str
    parent_id: str | None = Field(description="The plan it re-plans; null for the plan made first")
    created_at: str
    status: str
    from_: str | None = Field(alias="from", description="The moment it re-plans from; null for the first")


class PlanLinks(BaseModel):
    """Where to fetch a plan's parts; exports only once the plan is done."""

    self: str
    map: str | None = None
    exports: dict[str, str] = Field(default_factory=dict, description="format -> URL")
    delivered: str | None = Field(None, description="What was delivered, once tracks have been uploaded")


class PlanOut(BaseModel):
    """A plan job: its request, status and, once done, its summary."""

    id: str
    area: str
    week: date
    seed: int
    time_limit_s: float | None
    redact: bool
    status: str = Field(description="queued, running, done or failed")
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    created_by: str | None = Field(description="Key id of the planner; hidden from viewers")
    view: str = Field(description="'full' or 'viewer': which bundle this caller is served")
    parent_id: str | None = Field(None, description="The plan this one re-plans; null for a plan made "
                                  "from scratch (the plan may since have been deleted)")
    from_: str | None = Field(None, alias="from", description="The moment a re-plan re-plans from")
    versions: list[VersionOut] | None = Field(None, description=(
        "The plans of this plan's week, oldest first: the plan made first and every re-plan descended "
        "from it (deleted ones left out). In GET /plans/{id} and the answers that make a plan; "
        "null in lists"))
    summary: dict[str, Any] | None = Field(description=(
        "The bundle's summary.json; a re-plan's (to planners) carries `replan` and `warnings`"))
    links: PlanLinks


class PlanPage(BaseModel):
    """A page of plans, newest first."""

    items: list[PlanOut]
    total: int
    limit: int
    offset: int


class TrackFileOut(BaseModel):
    """A track file uploaded to a plan (kept with the plan, never served back)."""

    name: str
    format: str = Field(description="csv or gpx")
    bytes: int
    sha256: str
    uploaded_at: str
    uploaded_by: str = Field(description="The planner's key id")
    pings_added: int = Field(description="Pings it added (a time a unit already had a ping at counts once)")


class DeliveredLinks(BaseModel):
    """Where the reports of what was delivered are."""

    json_: str = Field(alias="json")
    csv: str


class TracksOut(BaseModel):
    """A plan's track files after an upload, and the totals measured from them all."""

    plan_id: str
    stored: str = Field(description="The name the upload was stored as")
    tracks: list[TrackFileOut] = Field(description="Every track file of the plan, in the order sent")
    units: int = Field(description="Units with pings")
    pings: int = Field(description="Pings of all the files, merged per unit")
    status: dict[str, int] = Field(description="Planned stops by status: done, late, short, missed, no_data")
    links: DeliveredLinks


class DeliveredOut(BaseModel):
    """``delivered.json``: what was delivered against the plan, measured from every track uploaded.

    Viewers and admins get the redacted report: no protective visit, no stop near
    a protected site, no ``protective`` section.
    """

    model_config = ConfigDict(extra="allow")
    area: str
    week_start: str
    redacted: bool
    rule: dict[str, float] = Field(description="What counted as a delivered visit")
    pings: int
    stops: int
    status: dict[str, int]
    protective: dict[str, Any] | None = Field(None, description="Protective visits (planners only)")
    hotspots: dict[str, Any]
    per_unit: dict[str, dict[str, int]]


class AreaOut(BaseModel):
    """An area the service plans."""

    name: str = Field(description="The name to use in POST /plans")
    title: str | None = Field(description="The area's own name, from its area.toml")
    available: bool
    error: str | None = None
    path: str | None = Field(None, description="The area.toml (admins only)")


class HealthOut(BaseModel):
    """Whether the service is up, and how busy its plan workers are."""

    status: str
    version: str
    database: str
    workers: int
    jobs_pending: int
    jobs_capacity: int
    jobs_run_on: Literal["process pool", "dask", "custom"] = Field(
        description="'process pool' (the service's own worker processes), 'dask' (a Dask cluster; "
                    "its address is not shown) or 'custom'")


class AuditOut(BaseModel):
    """One audit entry, with its place in the hash chain."""

    id: int
    at: str
    key_id: str = Field(description="The key's id; '-' for no key, 'host' for the server host")
    role: str
    action: str
    plan_id: str | None
    outcome: str
    detail: str
    client: str = Field(description="The client's address")
    prev_hash: str = Field(description="SHA-256 of the entry before")
    entry_hash: str = Field(description="SHA-256 of this entry's content and prev_hash")


class KeyIn(BaseModel):
    """A key to make: over the API, a viewer key only."""

    model_config = ConfigDict(extra="forbid")
    role: str = Field("viewer", strict=True, json_schema_extra={"enum": list(API_ROLES)}, description=(
        "viewer; planner and admin keys are made only with `patrols keys create` on the server host"))
    name: str = Field("", max_length=80, strict=True, json_schema_extra={"pattern": NAME_PATTERN},
                      description="Who or what the key is for: one printable line")

    @field_validator("name")
    @classmethod
    def _one_printable_line(cls, value: str) -> str:
        problem = name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class KeyOut(BaseModel):
    """A key as listed: never the key itself."""

    id: str
    role: str
    name: str
    created_at: str
    revoked_at: str | None


class NewKey(KeyOut):
    """A key just made; ``key`` is shown this once."""

    key: str


# Helpers ------------------------------------------------------------------------


def export_formats(file_names: list[str]) -> dict[str, str]:
    """The export format names of a bundle's files, mapped to the file names.

    Each file answers to its own name and to ``stem-extension`` (``plan-json``);
    also to its extension (``geojson``) and to its stem (``summary``) when no
    other file shares them. So new bundle files are exported without changes here.

    Parameters
    ----------
    file_names
        The files of a bundle.

    Returns
    -------
    dict
        Format -> file name.
    """
    stems: dict[str, list[str]] = {}
    exts: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for name in file_names:
        stem, _, ext = name.partition(".")
        stems.setdefault(stem, []).append(name)
        exts.setdefault(ext, []).append(name)
        out[name] = name
        out[f"{stem}-{ext}"] = name
    for table in (stems, exts):
        for key, names in table.items():
            if key and len(names) == 1:
                out.setdefault(key, names[0])
    return out


def preferred_formats(file_names: list[str]) -> dict[str, str]:
    """One short format name per file: its extension, else its stem, else ``stem-extension``."""
    formats = export_formats(file_names)
    out: dict[str, str] = {}
    for name in file_names:
        stem, _, ext = name.partition(".")
        short = next(k for k in (ext, stem, f"{stem}-{ext}") if formats.get(k) == name)
        out[short] = name
    return out


# A finished bundle never changes and plan ids are never reused, so its listing
# can be kept; only done plans' folders are listed.
@functools.lru_cache(maxsize=4096)
def _bundle_files(folder: str) -> tuple[str, ...]:
    path = Path(folder)
    if not path.is_dir():
        return ()
    return tuple(sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))


def _exports(folder: str) -> tuple[str, ...]:
    return tuple(preferred_formats(list(_bundle_files(folder))))


def _known_query_only(request: Request) -> None:
    # Unknown query parameters are refused rather than ignored: "?stauts=done"
    # silently listing every plan would mislead.
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known = {p.alias for p in dependant.query_params}
    for dep in dependant.dependencies:
        known |= {p.alias for p in dep.query_params}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise ApiProblem(422, f"unknown query parameter {unknown[0]!r}; this endpoint takes: {takes}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("patrols")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0+unknown"


# Swagger UI's files, from the npm registry (package.json), served by the service itself.
_DOCS_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def _offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the local ``swagger-ui-dist`` package, never a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    from patrols.outputs.assets import node_modules

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        if not (node_modules() / "swagger-ui-dist" / "swagger-ui-bundle.js").is_file():
            raise ApiProblem(503, "Swagger UI is not installed (run `npm ci` in the repository); "
                             "the schema itself is at /openapi.json")
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="patrols planning service",
                                   swagger_js_url="/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/swagger-ui.css",
                                   swagger_favicon_url="data:,")
        page.headers["content-security-policy"] = DOCS_CSP
        return page

    @app.get("/docs/{name}", include_in_schema=False)
    def docs_file(name: str) -> Response:
        path = node_modules() / "swagger-ui-dist" / name
        if name not in _DOCS_FILES or not path.is_file():
            raise ApiProblem(404, "no such documentation file")
        return FileResponse(path, media_type=_DOCS_FILES[name])


# The application ----------------------------------------------------------------


def open_store(config: ServiceConfig, accept_broken_audit: bool = False) -> Store:
    """Open the service's data folder: check the audit chain, then make it private and clear it up.

    In order: the data folder is made ``0700``; the audit log is verified (before
    anything is written, and before the triggers are made again); the database
    is opened; jobs a previous run left unfinished are marked failed; partial
    bundles and bundles of plans that are not done are removed; every file is
    made ``0600``.

    Parameters
    ----------
    config
        Where the data folder is.
    accept_broken_audit
        Start even if the audit log's chain is broken; each break is then
        recorded in the log (``audit.accept_broken``) and not asked about again.

    Returns
    -------
    Store

    Raises
    ------
    BrokenAuditLog
        When the chain is broken at a place no earlier start was told to accept.
    """
    private_dir(config.data_dir)
    report = audit.check(config.db_path, accept_broken_audit)
    unaccepted = report.unacknowledged if report is not None and report.chained else []
    store = Store(config.db_path)
    for broken in unaccepted:
        log.warning("starting on a broken audit log: %s", broken)
        store.audit(audit.HOST, audit.HOST, audit.ACCEPT_ACTION, None, "ok", str(broken), "local")
    cut_off = store.fail_unfinished()
    if cut_off:
        log.warning("marked %d plan job(s) failed: cut off by the last restart", len(cut_off))
    private_dir(config.plans_dir)
    removed = clear_unfinished(config.plans_dir, store.done_plan_ids())
    if removed:
        log.warning("cleared %d unfinished bundle or upload folder(s) from %s", len(removed),
                    config.plans_dir)
    make_private(config.data_dir)
    if report is not None and report.intact:
        log.info("audit log %s", report.line())
    return store


def create_app(config: ServiceConfig, planner: Any = None, executor: Any = None,
               accept_broken_audit: bool = False) -> FastAPI:
    """Build the service.

    Opening it checks the audit log's chain (see :func:`open_store`), marks
    failed any plan job a previous run left queued or running, and removes
    their partial bundles.

    Parameters
    ----------
    config
        Areas, data folder and limits.
    planner
        The job function (default :func:`patrols.service.jobs.make_plan`); tests
        may bring a faster one.
    executor
        Makes what runs the jobs (default: a :class:`~patrols.service.jobs.DaskExecutor`
        when ``config.dask_scheduler`` is set, else a process pool of ``config.workers``).
    accept_broken_audit
        Start even if the audit log's chain is broken (the break is recorded).

    Returns
    -------
    FastAPI
    """
    from patrols.area import load_area

    store = open_store(config, accept_broken_audit)
    # A scheduler's address is not shown to callers: an open tcp:// scheduler runs what anyone sends it.
    jobs_run_on = "custom" if executor is not None else "dask" if config.dask_scheduler else "process pool"
    if executor is None and config.dask_scheduler is not None:
        executor = functools.partial(jobs.DaskExecutor, config.dask_scheduler)
    runner = JobRunner(store, config.workers, config.queue, planner or jobs.make_plan, executor,
                       per_key=config.jobs_per_key)
    areas: list[AreaOut] = []
    for name, path in config.areas.items():
        try:
            areas.append(AreaOut(name=name, title=load_area(path).name, available=True, path=str(path)))
        except Exception as exc:  # an area that does not load is listed, not fatal
            areas.append(AreaOut(name=name, title=None, available=False, error=str(exc), path=str(path)))
    area_names = [a.name for a in areas if a.available]

    def identify(presented: str) -> tuple[str, str]:
        # Who a refused or unrouted request's key is, for its audit entry: the
        # id a bad key claims (known or not), so tries at one key show together.
        who = authenticate(store, presented)
        if who is None:
            return claimed_key_id(presented) or audit.NO_KEY, audit.NO_KEY
        return who.key_id, who.role

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown()

    app = FastAPI(
        title="patrols planning service",
        version=_version(),
        description=__doc__,
        lifespan=lifespan,
        responses=problem_responses(400, 401, 413, 422, 500),
        dependencies=[Depends(_known_query_only)],
        docs_url=None,  # served below from local files: /docs must work on a closed network
    )
    app.state.store = store
    app.state.runner = runner
    app.state.config = config
    install_problem_handlers(app)
    # Added inside out: the last added is the outermost.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes, routes=[
        RouteLimit("POST", r"/plans/[^/]+/tracks", config.max_tracks_bytes, "max_tracks_bytes")])
    app.add_middleware(AllowedHosts, hosts=config.allowed_hosts)
    app.add_middleware(RequestAudit, audit_log=store.audit_log, actions=ACTIONS, identify=identify)
    app.add_middleware(SecurityHeaders)
    PlanRequest = _plan_request(area_names)
    _offline_docs(app)

    bearer = HTTPBearer(auto_error=False, description="An API key from `patrols keys create`")

    def note_of(request: Request) -> RequestNote:
        note = getattr(request.state, "audit", None)
        return note if isinstance(note, RequestNote) else RequestNote()

    Note = Annotated[RequestNote, Depends(note_of)]

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)], note: Note) -> Caller:
        challenge = {"WWW-Authenticate": "Bearer"}
        note.checked = True
        if creds is None:
            raise ApiProblem(401, "send an API key: Authorization: Bearer <key>", challenge)
        who = authenticate(store, creds.credentials)
        if who is None:
            note.key_id = claimed_key_id(creds.credentials) or audit.NO_KEY
            raise ApiProblem(401, "the API key is unknown or revoked", challenge)
        note.key_id, note.role = who.key_id, who.role
        return who

    Who = Annotated[Caller, Depends(caller)]
    PlanId = Annotated[uuid.UUID, PathParam(description="The plan's id")]

    def need(who: Caller, permission: str) -> None:
        if not who.may(permission):
            raise ApiProblem(403, f"a {who.role} key may not do this ({permission})")

    def may_read(who: Caller) -> bool:
        return who.may("plans.read_full") or who.may("plans.read_redacted")

    def find(who: Caller, plan_id: str, note: RequestNote) -> PlanRecord:
        note.plan_ids = [plan_id]
        if not may_read(who):
            need(who, "plans.read_redacted")
        record = store.plan(plan_id)
        if record is None:
            raise ApiProblem(404, f"no plan {plan_id}")
        return record

    def bundle_dir(record: PlanRecord, who: Caller) -> Path:
        view = jobs.FULL if who.sees_full_plans else jobs.VIEWER
        return config.plans_dir / record.plan_id / view

    def ready(who: Caller, record: PlanRecord) -> Path:
        if record.status != "done":
            raise ApiProblem(409, f"plan {record.plan_id} is {record.status}, not done"
                             + (f": {record.error}" if record.error and who.sees_full_plans else ""))
        return bundle_dir(record, who)

    def plan_json(record: PlanRecord, who: Caller, versions: list[PlanVersion] | None = None) -> str:
        # The JSON of a PlanOut, written by hand: this is the busiest answer of
        # the service, and the stored summary goes in as the text it already is
        # rather than parsed, validated and written out again.
        full = who.sees_full_plans
        base = f"/plans/{record.plan_id}"
        links: dict[str, Any] = {"self": base, "map": None, "exports": {}, "delivered": None}
        if record.status == "done":
            links["map"] = f"{base}/map"
            links["exports"] = {k: f"{base}/export/{k}" for k in _exports(str(bundle_dir(record, who)))}
            if delivered_dir(config.plans_dir / record.plan_id).is_dir():
                links["delivered"] = f"{base}/delivered"
        error = record.error
        if error is not None and not full:
            # A planning error can quote input rows; viewers learn only that it failed.
            error = "the plan could not be made"
        head = json.dumps({
            "id": record.plan_id, "area": record.area, "week": record.week, "seed": record.seed,
            "time_limit_s": record.time_limit_s, "redact": record.redact, "status": record.status,
            "created_at": record.created_at, "started_at": record.started_at,
            "finished_at": record.finished_at, "error": error,
            "created_by": record.created_by if full else None,
            "view": jobs.FULL if full else jobs.VIEWER, "parent_id": record.parent_id,
            "from": record.replan_from,
            "versions": None if versions is None else [
                {"id": v.plan_id, "parent_id": v.parent_id, "created_at": v.created_at, "status": v.status,
                 "from": v.replan_from} for v in versions],
            "links": links,
        }, separators=(",", ":"))
        summary = (record.summary_full if full else record.summary_viewer) or "null"
        return f'{head[:-1]},"summary":{summary}}}'

    def json_response(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(text, status_code=status, media_type="application/json", headers=headers)

    def bundle_file(path: Path, media: str, filename: str | None = None) -> FileResponse:
        # A page of the bundle (the map) gets its own policy: inline script and
        # style, data: images, the area's tiles; every other file the API's.
        headers = {"content-security-policy": map_csp(path)} if media == "text/html" else None
        return FileResponse(path, media_type=media, filename=filename, headers=headers)

    @app.get("/health", tags=["service"])
    def health() -> HealthOut:
        """Whether the service and its database answer; needs no key."""
        try:
            db = "ok" if store.ping() else "error"
        except Exception:
            db = "error"
        return HealthOut(status="ok" if db == "ok" else "degraded",
                         version=app.version, database=db, workers=runner.workers,
                         jobs_pending=runner.pending, jobs_capacity=runner.capacity, jobs_run_on=jobs_run_on)

    @app.get("/areas", tags=["areas"], responses=problem_responses(403))
    def list_areas(who: Who) -> list[AreaOut]:
        """The areas this server plans (set in its config file)."""
        need(who, "areas")
        if who.role == "admin":
            return areas
        return [a.model_copy(update={"path": None, "error": None}) for a in areas]

    @app.post("/plans", status_code=202, tags=["plans"], response_model=PlanOut,
              responses=problem_responses(403, 429))
    def create_plan(body: PlanRequest, who: Who, note: Note) -> Response:
        """Queue a plan; it is made in the background. Poll ``GET /plans/{id}`` for its status.

        The week must be a Monday (unless ``any_start_day``) within the range the
        server plans (around today, or around the area's incidents); one key may
        have ``jobs_per_key`` jobs queued or running at once.
        """
        need(who, "plans.create")
        asked = f"area={body.area} week={body.week.isoformat()} seed={body.seed}"
        note.detail = asked
        if body.area not in area_names:
            known = ", ".join(area_names) or "none"
            raise ApiProblem(422, f"unknown area {body.area!r}; this server plans: {known}",
                             errors=[f"area: not one of {known}"])
        problem = week_problem(body.week, body.any_start_day, config, incident_span(config.areas[body.area]))
        if problem is not None:
            note.detail = f"{asked}: {problem}"
            raise ApiProblem(422, f"week: {problem}", errors=[f"week: {problem}"])
        plan_id = str(uuid.uuid4())
        job = PlanJob(plan_id=plan_id, area_path=str(config.areas[body.area]), week=body.week,
                      seed=body.seed, time_limit_s=body.time_limit_s, redact=body.redact,
                      out_dir=str(config.plans_dir / plan_id), db_path=str(config.db_path))
        return queue(job, lambda: store.add_plan(
            plan_id, body.area, body.week.isoformat(), body.seed, body.time_limit_s, body.redact,
            who.key_id), who, note, asked)

    def queue(job: PlanJob, record_it: Callable[[], Any], who: Caller, note: RequestNote,
              asked: str) -> Response:
        # Hands a job to the runner (which records it only if it has room): 202 and where to poll.
        try:
            runner.submit(job, record_it, owner=who.key_id)
        except KeyBusy:
            note.detail = f"{asked}: this key's job limit"
            raise ApiProblem(429, f"this key already has {config.jobs_per_key} plan jobs queued or running, "
                             "as many as one key may; try again when one has finished",
                             {"Retry-After": "30"}) from None
        except QueueFull:
            note.detail = f"{asked}: queue full"
            raise ApiProblem(429, f"{runner.capacity} plan jobs are already running or waiting; "
                             "try again when one has finished", {"Retry-After": "30"}) from None
        note.plan_ids = [job.plan_id] if job.parent_id is None else [job.plan_id, job.parent_id]
        record = store.plan(job.plan_id)
        assert record is not None
        return json_response(plan_json(record, who, store.versions(record)), 202,
                             {"Location": f"/plans/{job.plan_id}"})

    @app.post("/plans/{plan_id}/replan", status_code=202, tags=["plans"], response_model=PlanOut,
              responses=problem_responses(403, 404, 409, 429))
    def replan_plan(plan_id: PlanId, body: ReplanRequest, who: Who, note: Note) -> Response:
        """Queue a re-plan of a finished plan: the rest of its week from ``from``, with changes.

        The re-plan is a new plan (poll ``GET /plans/{id}`` as for ``POST /plans``)
        that names this one as its ``parent_id``; every stop before ``from`` is
        kept, and only the shifts the changes touch are solved again. The
        changes and ``from`` are checked before the job is queued: a bad one is
        refused (422) in one line naming the field (``pin[0].at``) and nothing
        is made. A plan made with ``redact`` keeps no protective visits and
        cannot be re-planned (409).
        """
        pid = str(plan_id)
        note.plan_ids = [pid]
        need(who, "plans.create")
        parent = store.plan(pid)
        if parent is None:
            raise ApiProblem(404, f"no plan {pid}")
        doc = {name: rows for name, rows in body.changes.model_dump().items() if rows}
        # The audit entry tells how many changes of each kind, not what they are: they name sites.
        counted = " ".join(f"{name}={len(rows)}" for name, rows in doc.items()) or "none"
        note.detail = asked = f"re-plan of {pid}; changes: {counted}"
        area, start = replan_check(parent, body.from_, doc, note, asked)
        new_id = str(uuid.uuid4())
        note.detail = asked = f"re-plan of {pid} as {new_id} from {start.isoformat()}; changes: {counted}"
        seed = parent.seed if body.seed is None else body.seed
        time_limit_s = parent.time_limit_s if body.time_limit_s is None else body.time_limit_s
        job = PlanJob(plan_id=new_id, area_path=str(config.areas[area]), week=date.fromisoformat(parent.week),
                      seed=seed, time_limit_s=body.time_limit_s, redact=False,
                      out_dir=str(config.plans_dir / new_id), db_path=str(config.db_path),
                      parent_id=pid, replan_from=start.isoformat(), changes=json.dumps(doc))
        return queue(job, lambda: store.add_plan(
            new_id, area, parent.week, seed, time_limit_s, False, who.key_id, parent=parent,
            replan_from=start.isoformat()), who, note, asked)

    def replan_check(parent: PlanRecord, moment: str, doc: dict[str, Any], note: RequestNote,
                     asked: str) -> tuple[str, datetime]:
        # What can be checked of a re-plan without solving it, so a bad request
        # is refused at once and nothing is made: the parent, `from`, the changes.
        from patrols.area import load_area
        from patrols.changes import parse_changes
        from patrols.errors import InputError
        from patrols.plan import plan_from_dict
        from patrols.replan.week import clip_changes

        def refuse(status: int, detail: str, audited: str | None = None) -> ApiProblem:
            note.detail = f"{asked}: {audited or detail}"
            return ApiProblem(status, detail, errors=[detail] if status == 422 else None)

        pid = parent.plan_id
        if parent.status != "done":
            raise refuse(409, f"plan {pid} is {parent.status}, not done: only a finished plan is re-planned")
        if parent.redact:
            raise refuse(409, f"plan {pid} was made with redact: it keeps no protective visits to re-plan; "
                         "plan the week again")
        if parent.area not in area_names:
            raise refuse(409, f"this server no longer plans area {parent.area!r} of plan {pid}")
        try:
            area = load_area(config.areas[parent.area])
            plan = plan_from_dict(json.loads(parent_plan_path(config.plans_dir, pid).read_bytes()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("plan %s cannot be re-planned: %s", pid, exc)
            raise refuse(409, f"plan {pid} cannot be re-planned: its area or its bundle does not read "
                         "as it did") from None
        if plan.redacted or not plan.routes:
            raise refuse(409, f"plan {pid} has no routes to re-plan")
        try:
            start = datetime.fromisoformat(moment)
        except ValueError:
            raise refuse(422, f"from: {moment!r} is not a date and time") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(area.settings.timezone))
        begin, end = min(r.start for r in plan.routes), max(r.end for r in plan.routes)
        if not begin <= start < end:
            raise refuse(422, f"from: {start.isoformat()} is outside the plan's week "
                         f"({begin.isoformat()} to {end.isoformat()})")
        try:
            clip_changes(parse_changes(doc, area, plan.week_start, "changes"), start, "changes")
        except InputError as exc:
            # The audit entry names the field only: the message can quote a site id.
            raise refuse(422, str(exc), f"refused at field {exc.field or '-'}") from None
        return parent.area, start

    @app.get("/plans", tags=["plans"], response_model=PlanPage, responses=problem_responses(403))
    def list_plans(
        who: Who,
        note: Note,
        status: Annotated[str | None, Query(json_schema_extra={"enum": list(PLAN_STATUSES)})] = None,
        area: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        """Plans, newest first (each plan listed is an entry in the audit log)."""
        if not may_read(who):
            need(who, "plans.read_redacted")
        if status is not None and status not in PLAN_STATUSES:
            raise ApiProblem(422, f"status must be one of {', '.join(PLAN_STATUSES)}")
        records, total = store.plans(limit, offset, status, area)
        note.plan_ids = [r.plan_id for r in records]
        note.detail = f"listed {len(records)} of {total}"
        items = ",".join(plan_json(r, who) for r in records)
        return json_response(f'{{"items":[{items}],"total":{total},"limit":{limit},"offset":{offset}}}')

    @app.get("/plans/{plan_id}", tags=["plans"], response_model=PlanOut,
             responses=problem_responses(403, 404))
    def read_plan(plan_id: PlanId, who: Who, note: Note) -> Response:
        """A plan's status and, once done, its summary (redacted unless the caller is a planner)."""
        record = find(who, str(plan_id), note)
        return json_response(plan_json(record, who, store.versions(record)))

    @app.get("/plans/{plan_id}/map", tags=["plans"], response_class=FileResponse,
             responses={200: {"content": {"text/html": {}}, "description": "The plan's map"},
                        **problem_responses(403, 404, 409)})
    def read_map(plan_id: PlanId, who: Who, note: Note) -> FileResponse:
        """The plan's interactive map: one self-contained HTML page."""
        record = find(who, str(plan_id), note)
        path = ready(who, record) / "map.html"
        if not path.is_file():
            raise ApiProblem(404, f"plan {record.plan_id} has no map")
        return bundle_file(path, "text/html")

    @app.get("/plans/{plan_id}/export/{format}", tags=["plans"], response_class=FileResponse,
             responses={200: {"content": {m: {} for m in sorted(set(_MEDIA.values()))},
                              "description": "One file of the plan's bundle"},
                        **problem_responses(403, 404, 409)})
    def export_plan(plan_id: PlanId, who: Who, note: Note,
                    format: Annotated[str, PathParam(pattern=_FORMAT, description=(
                        "geojson, gpkg, gpx, kml, ics, csv (roster), summary, plan-json, html, or any "
                        "file name of the bundle; GET /plans/{id} lists them"))]) -> FileResponse:
        """One file of the plan's bundle, as a download."""
        record = find(who, str(plan_id), note)
        note.detail = format
        folder = ready(who, record)
        files = _bundle_files(str(folder))
        name = export_formats(list(files)).get(format)
        if name is None:
            raise ApiProblem(404, f"no export {format!r}; this plan has: " + ", ".join(_exports(str(folder))))
        note.detail = name
        media = _MEDIA.get(Path(name).suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return bundle_file(folder / name, media, filename=name)

    @app.get("/plans/{plan_id}/contacts/{name}", tags=["plans"], response_class=FileResponse,
             responses={200: {"content": {"text/html": {}, "text/calendar": {}},
                              "description": "A police contact's sheet or calendar"},
                        **problem_responses(403, 404, 409)})
    def read_contact(plan_id: PlanId, who: Who, note: Note,
                     name: Annotated[str, PathParam(pattern=_CONTACT_FILE, description=(
                         "<contact_id>.html (the contact's printable sheet), <contact_id>.ics (their "
                         "calendar) or index.html (every contact with a sheet)"))]) -> FileResponse:
        """A named police contact's sheet: the week at their people's sites, for planners only.

        Contact sheets are in the planners' bundle alone (``contacts/``), never in
        the viewer bundle nor among the exports; viewers and admins are refused.
        A plan made with ``redact``, or of an area naming no contacts, has none (404).
        """
        pid = str(plan_id)
        note.plan_ids = [pid]
        note.detail = f"contacts/{name}"
        need(who, "plans.read_full")
        record = find(who, pid, note)
        folder = (ready(who, record) / "contacts").resolve()
        path = folder / name
        if path.parent != folder or not path.is_file():
            raise ApiProblem(404, f"plan {pid} has no contact file {name!r}; its planners' bundle lists "
                             "them in contacts/index.html")
        if name.endswith(".html"):
            return bundle_file(path, "text/html")
        return bundle_file(path, "text/calendar", filename=name)

    @app.delete("/plans/{plan_id}", status_code=204, tags=["plans"], response_class=Response,
                responses=problem_responses(403, 404))
    def delete_plan(plan_id: PlanId, who: Who, note: Note) -> Response:
        """Erase a plan, its bundles, and its tracks and what was measured from them.

        Its job is cancelled (a running one is discarded when it ends).
        """
        pid = str(plan_id)
        note.plan_ids = [pid]
        need(who, "plans.delete")
        existed = store.delete_plan(pid)
        runner.cancel(pid)
        with plan_lock(pid):  # after an upload under way, which then finds the plan gone
            remove_plan_files(config.plans_dir, pid)  # a partial folder of a cut-off job too
        forget_lock(pid)
        if not existed:
            raise ApiProblem(404, f"no plan {pid}")
        return Response(status_code=204)

    def tracks_check(pid: str, content_type: str | None, asked_name: str | None
                     ) -> tuple[Any, Any, float, str, str]:
        # What can be checked before the body is read: the plan, the format, the name;
        # and what measuring needs: the plan as made, its visit rule, its area's clearance.
        from patrols.area import load_area
        from patrols.errors import InputError
        from patrols.plan import plan_from_dict

        record = store.plan(pid)
        if record is None:
            raise ApiProblem(404, f"no plan {pid}")
        if record.status != "done":
            raise ApiProblem(409, f"plan {pid} is {record.status}, not done: tracks are measured against "
                             "a finished plan")
        fmt = track_format(content_type)
        if fmt is None:
            raise ApiProblem(415, "send the track file itself as the body, with Content-Type "
                             + " or ".join(f"{m} ({f.upper()})" for m, f in FORMATS.items()))
        manifest = read_manifest(config.plans_dir / pid)
        try:
            name = track_name(asked_name, fmt, {t.name for t in manifest.tracks} if manifest else set())
        except ValueError as exc:
            raise ApiProblem(422, f"name: {exc}", errors=[f"name: {exc}"]) from None
        if record.area not in area_names:
            raise ApiProblem(409, f"this server no longer plans area {record.area!r} of plan {pid}")
        try:
            area = load_area(config.areas[record.area])
            plan = plan_from_dict(json.loads(parent_plan_path(config.plans_dir, pid).read_bytes()))
            rule = visit_rule_of(plan, area)
        except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
            log.warning("tracks of plan %s cannot be measured: %s", pid, exc)
            raise ApiProblem(409, f"plan {pid} cannot be measured: its area or its bundle does not read "
                             "as it did") from None
        return plan, rule, area.settings.redaction_clearance_m, fmt, name

    def tracks_store(pid: str, upload: Upload, plan: Any, rule: Any, clearance_m: float, who: Caller,
                     named: bool, note: RequestNote) -> Manifest:
        from patrols.errors import InputError

        sent = f"tracks {upload.name} ({upload.format}, {upload.bytes} bytes)"
        with plan_lock(pid):
            if store.plan(pid) is None:  # deleted while the file came in
                remove_plan_files(config.plans_dir, pid)
                raise ApiProblem(404, f"no plan {pid}")
            try:
                return store_tracks(config.plans_dir / pid, upload, plan, rule, clearance_m, who.key_id,
                                    named)
            except InputError as exc:
                # The audit entry names where, not what: the message can quote a position.
                where = [f"line {exc.row}"] if exc.row is not None else []
                where += [f"field '{exc.field}'"] if exc.field is not None else []
                note.detail = f"{sent} refused at {' '.join(where) or 'the file'}"
                raise ApiProblem(422, str(exc), errors=[str(exc)]) from None
            except TracksRefused as exc:
                note.detail = f"{sent} refused: {exc.reason}"
                raise ApiProblem(409, str(exc)) from None

    @app.post("/plans/{plan_id}/tracks", tags=["delivered"], response_model=TracksOut,
              responses=problem_responses(403, 404, 409, 415),
              openapi_extra={"requestBody": {"required": True, "description": (
                  "One track file, as the body itself: CSV pings (`unit,timestamp,lat,lon`, times ISO 8601 "
                  "with an offset) or GPX 1.1 (a `trk` per unit, named by its id)"), "content": {
                  media: {"schema": {"type": "string"}} for media in FORMATS}}})
    async def upload_tracks(
        plan_id: PlanId,
        request: Request,
        who: Who,
        note: Note,
        name: Annotated[str | None, Query(pattern=TRACK_NAME, description=(
            "The name to store the file as (its extension is added); default tracks-<n>. A GPX track "
            "without a name is read as the unit the file is named after"))] = None,
    ) -> Response:
        """Upload a finished plan's AVL/GPS tracks (one file) and measure what was delivered.

        The body is the file: ``text/csv`` or ``application/gpx+xml``, up to
        ``max_tracks_bytes``. It is read at once with every file uploaded to the
        plan before it; a file that does not read (a bad row, a unit not in the
        plan) is refused in one line naming its line and field, and nothing is
        kept. Then the plan is measured from all its tracks, and the reports
        (``GET /plans/{id}/delivered``) replace the last ones. Tracks are kept
        with the plan, never served back, and erased with it.
        """
        pid = str(plan_id)
        note.plan_ids = [pid]
        need(who, "plans.tracks")
        plan, rule, clearance_m, fmt, stored_as = await anyio.to_thread.run_sync(
            tracks_check, pid, request.headers.get("content-type"), name)
        try:
            upload = Upload(config.plans_dir / pid, stored_as, fmt)
        except FileNotFoundError:
            raise ApiProblem(404, f"no plan {pid}") from None
        try:
            try:
                async for chunk in request.stream():
                    if chunk:
                        upload.write(chunk)
            except ClientDisconnect:
                note.detail = f"tracks {stored_as}: cut off after {upload.bytes} bytes"
                raise ApiProblem(400, "the upload was cut off before its end") from None
            upload.close()
            manifest = await anyio.to_thread.run_sync(
                tracks_store, pid, upload, plan, rule, clearance_m, who, name is not None, note)
        finally:
            upload.discard()
        added = manifest.tracks[-1]
        note.detail = (f"tracks {added.name} ({added.format}, {added.bytes} bytes): {added.pings_added} "
                       f"pings added; delivered measured from {len(manifest.tracks)} files, {manifest.pings} "
                       f"pings of {manifest.units} units")
        base = f"/plans/{pid}"
        out = TracksOut(plan_id=pid, stored=added.name, tracks=[TrackFileOut(**dataclasses.asdict(t))
                                                                 for t in manifest.tracks],
                        units=manifest.units, pings=manifest.pings, status=manifest.status,
                        links=DeliveredLinks(json=f"{base}/delivered", csv=f"{base}/delivered.csv"))
        return json_response(out.model_dump_json(by_alias=True))

    def delivered_report(who: Caller, plan_id: str, name: str, note: RequestNote) -> bytes:
        record = find(who, plan_id, note)
        ready(who, record)
        view = jobs.FULL if who.sees_full_plans else jobs.VIEWER
        with plan_lock(record.plan_id):
            found = read_report(config.plans_dir / record.plan_id, view, name)
        if found is None:
            raise ApiProblem(404, f"plan {record.plan_id} has no tracks yet: a planner uploads them with "
                             f"POST /plans/{record.plan_id}/tracks")
        body, manifest = found
        note.detail = (f"{name} ({view}): measured from {len(manifest.tracks)} track files, {manifest.pings} "
                       f"pings of {manifest.units} units")
        return body

    @app.get("/plans/{plan_id}/delivered", tags=["delivered"], response_model=DeliveredOut,
             responses=problem_responses(403, 404, 409))
    def read_delivered(plan_id: PlanId, who: Who, note: Note) -> Response:
        """What was delivered against the plan (``delivered.json``), measured from every track uploaded.

        Planners get the full report; viewers and admins the redacted one. 404 until
        tracks have been uploaded.
        """
        return Response(delivered_report(who, str(plan_id), "delivered.json", note),
                        media_type="application/json")

    @app.get("/plans/{plan_id}/delivered.csv", tags=["delivered"], response_class=Response,
             responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                              "description": "One row per planned stop: its status and minutes present"},
                        **problem_responses(403, 404, 409)})
    def read_delivered_csv(plan_id: PlanId, who: Who, note: Note) -> Response:
        """``delivered.csv``: each planned stop's measured status, a download (redacted unless a planner)."""
        body = delivered_report(who, str(plan_id), "delivered.csv", note)
        return Response(body, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="delivered.csv"'})

    @app.get("/audit", tags=["admin"], responses=problem_responses(403))
    def read_audit(
        who: Who,
        note: Note,
        after_id: Annotated[int, Query(ge=0, le=2**62, description="Entries after this id")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        plan_id: Annotated[uuid.UUID | None, Query()] = None,
        key_id: Annotated[str | None, Query(max_length=40)] = None,
    ) -> list[AuditOut]:
        """The audit log, oldest first (page on with ``after_id``); each entry with its chain hashes."""
        need(who, "audit")
        entries = store.audit_entries(limit, after_id, None if plan_id is None else str(plan_id), key_id)
        note.detail = f"{len(entries)} entries"
        return [AuditOut(id=e.entry_id, **{k: v for k, v in dataclasses.asdict(e).items() if k != "entry_id"})
                for e in entries]

    def key_out(k: KeyRecord) -> KeyOut:
        return KeyOut(id=k.key_id, role=k.role, name=k.name, created_at=k.created_at,
                      revoked_at=k.revoked_at)

    @app.post("/keys", status_code=201, tags=["admin"], responses=problem_responses(403))
    def make_key(body: KeyIn, who: Who, note: Note) -> NewKey:
        """Make a viewer key; the key is in this answer and nowhere else.

        Keys that read protected sites (planner) or make keys (admin) are made
        only with ``patrols keys create`` on the server host.
        """
        need(who, "keys")
        note.detail = f"asked for a {audit.one_line(body.role, 20)} key"
        if body.role in ROLES and body.role not in API_ROLES:
            raise ApiProblem(403, f"role: only {', '.join(API_ROLES)} keys are made over the API; make "
                             f"{body.role} keys with `patrols keys create` on the server host")
        if body.role not in API_ROLES:
            raise ApiProblem(422, f"role: must be {' or '.join(API_ROLES)}",
                             errors=[f"role: must be {' or '.join(API_ROLES)}"])
        key, record = create_key(store, body.role, body.name)
        note.detail = f"made {record.role} key {record.key_id}"
        return NewKey(key=key, **key_out(record).model_dump())

    @app.get("/keys", tags=["admin"], responses=problem_responses(403))
    def list_keys(who: Who) -> list[KeyOut]:
        """Every key: id, role, name, when made and revoked."""
        need(who, "keys")
        return [key_out(k) for k in store.list_keys()]

    @app.delete("/keys/{key_id}", status_code=204, tags=["admin"], response_class=Response,
                responses=problem_responses(403, 404))
    def revoke_key(key_id: Annotated[str, PathParam(max_length=40)], who: Who, note: Note) -> Response:
        """Revoke a key; requests with it are refused from then on."""
        need(who, "keys")
        note.detail = audit.one_line(key_id, 40)
        if not store.revoke_key(key_id):
            raise ApiProblem(404, f"no active key {key_id!r}")
        return Response(status_code=204)

    return app


def _problem_http_protocol() -> Any:
    """uvicorn's HTTP protocol, answering a request that is not HTTP at all with a problem, not plain text."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's own
        return "auto"
    from patrols.service.middleware import API_CSP
    from patrols.service.problems import MEDIA_TYPE, problem_body

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            body = json.dumps(problem_body(400, f"not a valid HTTP request: {msg}", "")).encode("ascii")
            head = [b"HTTP/1.1 400 Bad Request", b"content-type: " + MEDIA_TYPE.encode("ascii"),
                    b"content-length: " + str(len(body)).encode("ascii"), b"connection: close",
                    b"cache-control: no-store", b"x-content-type-options: nosniff",
                    b"x-frame-options: DENY", b"referrer-policy: no-referrer",
                    b"content-security-policy: " + API_CSP.encode("ascii")]
            self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            self.transport.close()

    return ProblemHttpToolsProtocol


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000,
          access_log: bool = True, accept_broken_audit: bool = False) -> None:
    """Run the service under uvicorn until interrupted.

    Parameters
    ----------
    config
        The service's configuration.
    host, port
        Where to listen; loopback by default. A host address given here is
        added to the config's ``allowed_hosts``.
    access_log
        Whether uvicorn logs each request.
    accept_broken_audit
        Start even if the audit log's chain is broken (the break is recorded).
    """
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    name = host.strip("[]").lower()
    if name not in ("0.0.0.0", "::", "") and name not in config.allowed_hosts:
        config = dataclasses.replace(config, allowed_hosts=(*config.allowed_hosts, name))
    app = create_app(config, accept_broken_audit=accept_broken_audit)
    log.info("data in %s; areas: %s; answering to hosts: %s", config.data_dir.resolve(),
             ", ".join(config.areas), ", ".join(config.allowed_hosts))
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info", server_header=False,
                http=_problem_http_protocol())
