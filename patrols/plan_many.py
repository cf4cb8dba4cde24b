"""Planning many areas' weeks at once on a Dask cluster (``patrols plan-many``).

Each area's week is planned as Dask tasks finer than the area, so one large
force spreads over the cluster:

1. ``prepare``: read the area (its network and incidents from the worker's
   cache: each worker loads an area's inputs once, whatever number of its tasks
   it runs) and make every shift's problem (:func:`patrols.planning.prepare_week`);
2. ``day``: one task per day of the week takes that day's problems out of the
   prepared week where it lies (Dask runs it beside its input), and ``solve``
   solves them (:func:`patrols.planning.solve_day`) on any worker: the problems
   are plain data, never an OR-Tools model, which cannot be pickled;
3. ``finish``: turn the solutions into the plan (:func:`patrols.planning.finish_week`),
   then make the two halves of its bundle side by side
   (:data:`patrols.outputs.bundle.BUNDLE_PARTS`), sent back to this process, which
   writes each area's folder whole.

The arithmetic is that of ``patrols plan``, day seeds included, so each area's
``plan.geojson`` is byte for byte the one ``patrols plan`` writes with the same
seed. Without a scheduler address an in-process ``LocalCluster`` runs one
single-threaded worker process per core (the OR-Tools routing wrapper holds
the GIL for a whole solve, so threads would not help).

Faults: an area whose input is bad, or whose task fails, is reported in the
index with its reason and the others go on. A task whose worker dies (killed,
out of memory) is run again elsewhere once (``allowed-failures = 1``); a second
loss fails its area. Nothing is half-written: each area's folder and the index
are written whole or not at all.

This module holds the orchestration only; planning is in :mod:`patrols.planning`
and the cluster is Dask's (``distributed``), not written here.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from patrols.errors import PatrolsError

# How many times a task may lose its worker before its area fails: "retried once".
ALLOWED_FAILURES = 1
DAYS = 7
# An area's tasks: prepare; per day its problems and their solving; the plan, two bundle halves, the summary.
TASKS_PER_AREA = 5 + 2 * DAYS
# Priority of an area's end (plan, bundle, summary) over any preparing or solving, whose priority is the
# area's size (unit-days x solver seconds, far below this).
END_PRIORITY = 10**9
# Priority of taking a day's problems out of a prepared week: above all, so it runs on the preparing worker
# as soon as the week is ready. It takes no time, but its input is the whole week, which Dask does not move
# to another worker: queued behind a long solve, it would hold its day back for the whole of that solve.
DAY_PRIORITY = 2 * END_PRIORITY


@dataclass(frozen=True)
class Prepared:
    """An area's week ready to solve, as the ``prepare`` task leaves it on its worker."""

    area_path: str
    area_name: str
    week: Any
    """:class:`patrols.planning.WeekProblem`."""
    settings: Any


@dataclass
class AreaRun:
    """One area of a run, as the index reports it."""

    area_path: str
    name: str = ""
    folder: str = ""
    status: str = "pending"
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    tasks: int = 0
    worker_s: float = 0.0
    """Seconds its tasks computed on workers (retries included)."""


# ------------------------------------------------------------------ the tasks (run on workers)
def prepare_task(area_path: str, week: date, seed: int, time_limit_s: float | None) -> Prepared:
    """Read an area and prepare its week (a worker task)."""
    from patrols.inputs import WORKER_INPUTS, load_area_data
    from patrols.planning import prepare_week

    # An area's tasks mostly run where its first ran: Dask keeps them beside their inputs.
    data = load_area_data(area_path, cache=WORKER_INPUTS)
    prepared = prepare_week(data.area, data.network, data.incidents, week, seed=seed,
                            time_limit_s=time_limit_s, tension=data.tension, events=data.events)
    return Prepared(area_path, data.area.name, prepared, data.area.settings)


def day_task(prepared: Prepared, day: int) -> tuple | None:
    """The ``day``-th day's arguments of :func:`patrols.planning.solve_day` (``None`` past the last)."""
    from patrols.planning import day_args

    if day >= len(prepared.week.days):
        return None
    return day_args(prepared.week, prepared.settings, day)


def solve_task(args: tuple | None) -> list | None:
    """Solve one day's shifts (a worker task)."""
    from patrols.planning import solve_day

    return None if args is None else solve_day(*args)


def finish_task(prepared: Prepared, *days: list | None) -> Any:
    """The area's plan from its solved days (a worker task): :class:`patrols.plan.Plan`."""
    from patrols.inputs import WORKER_INPUTS, load_area_data
    from patrols.planning import finish_week

    data = load_area_data(prepared.area_path, cache=WORKER_INPUTS, incidents=False)
    results = [d for d in days if d is not None]
    return finish_week(data.area, data.network, prepared.week, results, workers=1,
                       solve_wall_s=sum(r.seconds for day in results for r in day))


def files_task(plan: Any, part: str, tile_url: str | None) -> dict[str, str | bytes]:
    """One half of the plan's bundle (:data:`patrols.outputs.bundle.BUNDLE_PARTS`), as a worker task."""
    from patrols.outputs.bundle import bundle_files

    return bundle_files(plan, tile_url, parts=(part,))


def summary_task(plan: Any) -> dict[str, Any]:
    """The plan's ``summary.json`` content, for the index."""
    from patrols.outputs.summary import summarize

    return summarize(plan)


# ------------------------------------------------------------------ the cluster
def cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def make_client(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: on the cluster at ``scheduler``, or on a new in-process ``LocalCluster``.

    The local cluster has ``workers`` (default: one per core) worker processes of
    one thread each, no dashboard, and loses a task's worker at most
    :data:`ALLOWED_FAILURES` times before failing it. A remote scheduler keeps its
    own setting (``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1`` where it starts).
    """
    from distributed import Client

    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise PatrolsError(f"--scheduler {scheduler}: cannot reach the scheduler ({exc})") from None
    return Client(local_cluster(workers))


# What a worker's tasks import (about 3 s of pandas, SciPy, OSMnx, OR-Tools and PyVRP).
WORKER_MODULES = ("distributed", "patrols.inputs", "patrols.planning", "patrols.outputs.bundle",
                  "patrols.outputs.summary")


# Dask settings of the local cluster's workers. Its statistical profiler samples each worker's stack a hundred
# times a second (for a dashboard this cluster does not have), and its monitors poll every process's memory
# ten times a second; on two cores, paired runs of the three test areas took 3-5% less wall time and
# 5-10% fewer worker-seconds without the one and with the others every second or two.
QUIET_WORKERS = {"distributed.worker.profile.enabled": False,
                 "distributed.worker.memory.monitor-interval": "1s",
                 "distributed.admin.system-monitor.interval": "2s"}


def dask_setup(worker: Any) -> None:
    """Dask's preload hook: ``dask worker --preload patrols.plan_many`` imports :data:`WORKER_MODULES` as
    the worker starts, so its first task does not wait for them (a cluster outlives its runs)."""
    import importlib

    for name in WORKER_MODULES:
        importlib.import_module(name)


def _forkserver_settings() -> dict[str, Any]:
    """Dask settings that fork the local workers from a server that has imported :data:`WORKER_MODULES`,
    and that server started (it imports them while this process goes on); ``{}`` where the
    platform has no ``forkserver``."""
    import multiprocessing
    import multiprocessing.forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return {}
    # Once running, the server keeps these whatever Dask names later (its own modules, on first use).
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_MODULES))
    multiprocessing.forkserver.ensure_running()
    return {"distributed.worker.multiprocessing-method": "forkserver"}


def local_cluster(workers: int | None = None):
    """A ``LocalCluster`` of ``workers`` (default: one per core) single-threaded worker processes on
    loopback, without dashboards, that loses a task's worker at most :data:`ALLOWED_FAILURES` times.

    Where the platform has it, the workers are forked from a server process that has imported
    :data:`WORKER_MODULES` once (multiprocessing's ``forkserver``), rather than each importing them
    anew: on two cores that saves one core about 3 s at the start of every run. :func:`plan_many`
    starts that server before it reads the areas, so the imports overlap its own. A worker that
    replaces a lost one is started the usual way, by a fresh interpreter (it imports them in its first
    task), with the same :data:`QUIET_WORKERS` settings.
    """
    import logging

    import dask
    from distributed import LocalCluster

    # The settings twice over: the scheduler and the nannies read Dask's config as they are made (here),
    # the worker processes get `config` from their nanny, also those Dask starts later for lost ones.
    settings: dict[str, Any] = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                                **QUIET_WORKERS, **_forkserver_settings()}
    with dask.config.set(settings):
        return LocalCluster(n_workers=workers or cores(), threads_per_worker=1, processes=True,
                            host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                            scheduler_kwargs={"dashboard": False}, worker_dashboard_address=None,
                            silence_logs=logging.ERROR, config=dict(QUIET_WORKERS))


class ProgressBar:
    """Areas and tasks done, on one line of a terminal; nothing when the stream is not one."""

    def __init__(self, areas: int, tasks: int, stream: Any = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.areas, self.tasks = areas, tasks
        self.areas_done = self.tasks_done = self.failed = 0
        self.began = time.perf_counter()

    def update(self, tasks: int = 0, areas: int = 0, failed: int = 0) -> None:
        """Count finished tasks and areas and draw the line again."""
        self.tasks_done += tasks
        self.areas_done += areas
        self.failed += failed
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.tasks_done / max(1, self.tasks))
        bar = "#" * filled + "." * (width - filled)
        extra = f", {self.failed} failed" if self.failed else ""
        self.stream.write(f"\r[{bar}] areas {self.areas_done}/{self.areas}{extra}, "
                          f"tasks {self.tasks_done}/{self.tasks}, {time.perf_counter() - self.began:.0f} s")
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def folder_name(name: str, taken: set[str]) -> str:
    """A folder name for an area: its name in lower-case letters, digits and dashes, made unique."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "area"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PatrolsError):
        return str(exc)
    name = type(exc).__name__
    if name == "KilledWorker":
        return f"its worker was lost twice while running it ({str(exc).splitlines()[0][:200]})"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}: {first}"[:500]


def _count_worker_seconds(records: list[dict[str, Any]], runs_by_key: dict[Any, AreaRun]) -> None:
    """Add each task's compute time (Dask's task stream) to its area's ``worker_s``."""
    for record in records:
        run = runs_by_key.get(record.get("key"))
        if run is not None:
            run.worker_s += sum(s["stop"] - s["start"] for s in record.get("startstops", ())
                                if s.get("action") == "compute")


def task_key(role: str, folder: str, part: str = "") -> str:
    """A task's key: its role and area, so the task stream and the dashboard show what it is, and the
    scheduler learns each area's task durations apart (Dask groups durations by this prefix).

    >>> task_key("solve", "leeds-campus", "d3")[:22]
    'solve-leeds-campus-d3-'
    """
    import uuid

    return "-".join(x for x in (role, folder, part, uuid.uuid4().hex) if x)


def _submit_end(client: Any, prep: Any, solved: list[Any], tile_url: str | None, folder: str,
                weight: int) -> list[Any]:
    """An area's end, once it is prepared: its plan, the two halves of its bundle and its summary.

    The plan is made where the area was prepared (its network is loaded there),
    then the bundle's halves side by side; all go before any solving, so the last
    area's tail is as short as it can be; of two areas' ends the larger's goes first (it is the one
    the run waits for: its last day is the last long task).
    """
    from patrols.outputs.bundle import BUNDLE_PARTS

    priority = END_PRIORITY + weight

    where = list(client.who_has([prep]).get(prep.key, ()))
    plan = client.submit(finish_task, prep, *solved, key=task_key("plan", folder), priority=priority,
                         workers=where or None, allow_other_workers=True)
    halves = [client.submit(files_task, plan, part, tile_url, key=task_key("files", folder, part),
                            priority=priority) for part in BUNDLE_PARTS]
    summary = client.submit(summary_task, plan, key=task_key("summary", folder), priority=priority)
    return [plan, *halves, summary]


def plan_many(area_paths: Sequence[str | Path], week: date, out: str | Path, seed: int = 0,
              time_limit_s: float | None = None, scheduler: str | None = None, workers: int | None = None,
              progress: ProgressBar | None = None, client: Any = None,
              on_area: Callable[[AreaRun], None] | None = None) -> dict[str, Any]:
    """Plan every area's week on a Dask cluster and write ``out/<area>/`` and the index.

    Parameters
    ----------
    area_paths
        The areas' ``area.toml`` files.
    week
        First day of the week.
    out
        The output folder: one bundle folder per area, ``index.json`` and ``index.html``.
    seed, time_limit_s
        As ``patrols plan``'s (the time limit is each area's own when ``None``).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); an in-process
        ``LocalCluster`` when ``None``.
    workers
        Worker processes of the local cluster (default: one per core).
    progress
        Drawn as tasks finish (see :class:`ProgressBar`).
    client
        A Dask client to use instead of making one (tests, the service).
    on_area
        Called as each area finishes or fails.

    Returns
    -------
    dict
        The index (also written as ``index.json``).
    """
    if client is None and scheduler is None:
        _forkserver_settings()  # the local workers' imports start now, beside this process's
    from distributed import as_completed, get_task_stream

    from patrols.area import load_area
    from patrols.outputs.bundle import write_file, write_folder
    from patrols.outputs.many_index import index_html, index_json

    began = time.perf_counter()
    out = Path(out)
    runs = [AreaRun(str(Path(p).resolve())) for p in area_paths]
    taken: set[str] = set()
    # The small files are checked here, so a bad area is reported before any cluster work.
    tiles: dict[str, str | None] = {}
    parts: dict[str, list[Any]] = {}
    pending: dict[str, tuple[Any, list[Any]]] = {}
    sizes: dict[str, int] = {}
    for run in runs:
        try:
            area = load_area(run.area_path)
            run.name, tiles[run.area_path] = area.name, area.tile_url
            # Solving grows with the unit-shifts and their solver time: the size that orders the areas.
            limit = area.settings.time_limit_s if time_limit_s is None else time_limit_s
            sizes[run.area_path] = round(sum(len(u.days) for u in area.units) * limit)
            run.folder = folder_name(run.name, taken)
        except PatrolsError as exc:
            run.status, run.reason = "failed", str(exc)
            run.folder = folder_name(Path(run.area_path).parent.name or "area", taken)
    own = client is None
    client = client or make_client(scheduler, workers)
    try:
        # What each task computed, on which worker: the run's worker-seconds beside its wall time.
        with get_task_stream(client) as stream:
            n_workers = len(client.scheduler_info().get("workers", {}))
            futures: dict[Any, tuple[AreaRun, str]] = {}
            for run in runs:
                if run.status == "failed":
                    continue
                # The largest areas first: their preparation and days are the run's critical path. A plan
                # and its bundle go before any solving as soon as they can (they end an area).
                weight = sizes[run.area_path]
                prep = client.submit(prepare_task, run.area_path, week, seed, time_limit_s,
                                     key=task_key("prepare", run.folder), priority=weight)
                days = [client.submit(day_task, prep, d, key=task_key("day", run.folder, f"d{d}"),
                                      priority=DAY_PRIORITY) for d in range(DAYS)]
                solved = [client.submit(solve_task, day, key=task_key("solve", run.folder, f"d{d}"),
                                        priority=weight) for d, day in enumerate(days)]
                run.tasks = TASKS_PER_AREA
                futures[prep] = (run, "prepare")
                futures.update({f: (run, "task") for f in [*days, *solved]})
                pending[run.area_path] = (prep, solved)
            bar = progress or ProgressBar(len(runs), sum(r.tasks for r in runs), enabled=False)
            bar.update(areas=sum(1 for r in runs if r.status == "failed"),
                       failed=sum(1 for r in runs if r.status == "failed"))
            running = as_completed(list(futures))
            for fut in running:
                run, role = futures[fut]
                if run.status == "failed":
                    bar.update(tasks=1)
                    continue
                if fut.status == "error":
                    run.status, run.reason = "failed", _reason(fut.exception())
                    # The area's other tasks are dropped: their results are not wanted.
                    client.cancel([f for f, (r, _) in futures.items() if r is run and not f.done()])
                    bar.update(tasks=1, areas=1, failed=1)
                    if on_area:
                        on_area(run)
                    continue
                if fut.status == "cancelled":
                    bar.update(tasks=1)
                    continue
                bar.update(tasks=1)
                if role == "prepare":
                    plan, *ends = _submit_end(client, *pending[run.area_path], tiles[run.area_path],
                                              run.folder, sizes[run.area_path])
                    futures[plan] = (run, "task")
                    futures.update({f: (run, "files") for f in ends})
                    parts[run.area_path] = ends
                    for f in (plan, *ends):
                        running.add(f)
                if role == "files" and all(f.status == "finished" for f in parts[run.area_path]):
                    *halves, summary = parts[run.area_path]
                    files: dict[str, str | bytes] = {}
                    for half in halves:
                        files.update(half.result())
                    write_folder(files, out / run.folder)
                    run.status, run.summary = "done", summary.result()
                    bar.update(areas=1)
                    if on_area:
                        on_area(run)
            bar.close()
        _count_worker_seconds(stream.data, {f.key: run for f, (run, _) in futures.items()})
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    index = index_json(runs, week, seed, time_limit_s, scheduler or f"LocalCluster({n_workers})",
                       n_workers, time.perf_counter() - began)
    write_file(out / "index.json", (json.dumps(index, indent=2) + "\n").encode("utf-8"))
    write_file(out / "index.html", index_html(index).encode("utf-8"))
    return index
