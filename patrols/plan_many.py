"""Planning many areas' weeks at once on a Dask cluster (``patrols plan-many``).

Each area's week is planned as Dask tasks finer than the area, so one large
force spreads over the cluster:

1. ``prepare``: read the area (its network and incidents from the worker's
   cache: each worker loads an area's inputs once, whatever number of its tasks
   it runs) and make every shift's problem (:func:`patrols.planning.prepare_week`);
2. ``layout``: how many shift problems each day has (a task beside the
   prepared week); then one ``solve`` task per shift solves it
   (:func:`patrols.planning.solve_shift`) on any worker, after the same day's
   earlier shift (a day's hotspot dosage runs through its shifts in order; days
   are independent). The problems are plain data, never an OR-Tools model, which
   cannot be pickled. Shifts, not days, are the unit because a day of a borough
   is one long shift and some short ones: with days as the unit, one worker
   often sat idle while the other finished the week's last day. The scheduler
   hands the most urgent shift to whichever worker is free (see
   :data:`SCHEDULING`), and a worker fetches an area's prepared week once;
3. ``plan``: turn the solutions into the plan (:func:`patrols.planning.finish_week`)
   where the area was prepared, then make the two halves of its bundle
   (:data:`patrols.outputs.bundle.BUNDLE_PARTS`) on two workers at once, sent
   back to this process, which writes each area's folder whole.

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
# An area's tasks whatever its size: prepare, layout, the plan, two bundle halves, the summary; each shift
# adds one (solving it).
TASKS_PER_AREA = 6
# Priority of an area's end (plan, bundle, summary) over any preparing or solving, whose priorities come
# from the area's size (unit-days x solver seconds, far below this; larger areas are prepared first and
# solved last).
END_PRIORITY = 10**9
# More shift problems than any day has (a priority unit: see _submit_solving).
SHIFTS_PER_DAY_MAX = 1000
# Priority of counting a prepared week's shifts: above all, so it runs on the preparing worker (beside its
# input, the whole week) as soon as the week is ready, not behind a long solve.
LAYOUT_PRIORITY = 2 * END_PRIORITY


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

    # The area's plan is made on this worker too, from the network this leaves in the worker's cache.
    data = load_area_data(area_path, cache=WORKER_INPUTS)
    prepared = prepare_week(data.area, data.network, data.incidents, week, seed=seed,
                            time_limit_s=time_limit_s, tension=data.tension, events=data.events)
    return Prepared(area_path, data.area.name, prepared, data.area.settings)


def layout_task(prepared: Prepared) -> tuple[int, ...]:
    """How many shift problems each day of the prepared week has, in order."""
    return tuple(len(day) for day in prepared.week.days)


def solve_task(prepared: Prepared, day: int, n: int, earlier: tuple | None) -> tuple:
    """Solve the ``n``-th shift of the ``day``-th day after the day's ``earlier`` one (``None`` for the
    first), seeded as ``patrols plan`` seeds it: its ``SlotResult`` and the day's dosage after it (a
    worker task)."""
    from patrols.planning import DayDosage, day_args, solve_shift

    tasks, repeat_value, daily_cap, limit, seed, workers, min_share = day_args(prepared.week,
                                                                               prepared.settings, day)
    dosage = DayDosage() if earlier is None else earlier[1]
    return solve_shift(tasks[n], n, dosage, repeat_value, daily_cap, limit, seed, workers, min_share)


def finish_task(prepared: Prepared, layout: tuple[int, ...], *solved: tuple) -> Any:
    """The area's plan from its solved shifts, day by day as ``layout`` counts them (a worker task):
    :class:`patrols.plan.Plan`."""
    from patrols.inputs import WORKER_INPUTS, load_area_data
    from patrols.planning import finish_week

    data = load_area_data(prepared.area_path, cache=WORKER_INPUTS, incidents=False)
    results, at = [], 0
    for count in layout:
        results.append([r for r, _ in solved[at:at + count]])
        at += count
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


# How the scheduler hands out tasks. Dask sends a task to a worker as soon as its inputs are ready, to one
# holding them, and queues only "root-ish" tasks (a group of tasks larger than the cluster, with few inputs)
# on the scheduler, handing each to the next worker with a free thread, most urgent first. Here every
# shift's input is its area's prepared week: left to the first rule, all of an area's shifts queued on the
# worker that prepared it, in that worker's order, and work stealing moved them to the other only after a
# second or more; a long shift could wait behind another there while the other worker sat idle. Counting
# a group of shifts root-ish whatever the number of their inputs, and giving a worker one task at a time
# (``worker-saturation`` 1.0), makes the scheduler one queue for all the run's shifts, in priority order.
SCHEDULING = {"distributed.scheduler.worker-saturation": 1.0,
              "distributed.scheduler.rootish-taskgroup-dependencies": 10**9}


def scheduler_env() -> dict[str, str]:
    """Environment variables for a ``dask scheduler`` started apart, to run plan-many as the local cluster
    does: a task whose worker is lost is retried once (:data:`ALLOWED_FAILURES`), and the shifts are
    handed out from one queue (:data:`SCHEDULING`).

    >>> scheduler_env()["DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"]
    '1.0'
    """
    settings = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES, **SCHEDULING}
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
            for key, value in settings.items()}


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
    settings: dict[str, Any] = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES, **SCHEDULING,
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

    def expect(self, tasks: int) -> None:
        """Count ``tasks`` more to do (an area's shifts are known once it is prepared)."""
        self.tasks += tasks

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


def _on(workers: list[str]) -> dict[str, Any]:
    """``client.submit``'s arguments to run a task on one of ``workers``, or on any other when they are
    gone by then (none: anywhere)."""
    return {"workers": workers, "allow_other_workers": True} if workers else {}


def _submit_solving(client: Any, prep: Any, layout: tuple[int, ...], folder: str, weight: int) -> list[Any]:
    """An area's shifts, once its layout is known, each solved after its day's earlier shift; then the
    plan, made where the area was prepared (its network is loaded there), before any solving once it can
    run (it ends an area).

    Order: the smaller areas' shifts first, so their plans and bundles (which cannot be split) are made
    while the larger areas' shifts still run, and those, many and short, fill the end of the run evenly.
    Within an area a day's first shift goes before its later ones (the rest of its day waits for it, and
    it is mostly the longest), so the long tasks start first.
    """
    solved = []
    for d, count in enumerate(layout):
        earlier = None
        for n in range(count):
            key = task_key("solve", folder, f"d{d}s{n}")
            earlier = client.submit(solve_task, prep, d, n, earlier, key=key,
                                    priority=(count - n) - SHIFTS_PER_DAY_MAX * weight)
            solved.append(earlier)
    where = list(client.who_has([prep]).get(prep.key, ()))
    plan = client.submit(finish_task, prep, layout, *solved, key=task_key("plan", folder),
                         priority=END_PRIORITY + weight, **_on(where))
    return [*solved, plan]


def _submit_bundle(client: Any, plan: Any, tile_url: str | None, folder: str, weight: int) -> list[Any]:
    """The two halves of an area's bundle and its summary, once its plan is made: one half where the plan
    is, the other on the least busy other worker. Left to Dask, both would queue where the plan is (a task
    goes where its input lies) until work stealing moved one, which took 1-1.5 s on two workers."""
    from patrols.outputs.bundle import BUNDLE_PARTS

    here = list(client.who_has([plan]).get(plan.key, ()))
    others = [w for w in client.scheduler_info().get("workers", {}) if w not in here]
    if others:
        busy = client.processing(others)
        others = [min(others, key=lambda w: (len(busy.get(w, ())), w))]
    places = [here, others]
    priority = END_PRIORITY + weight
    halves = [client.submit(files_task, plan, part, tile_url, key=task_key("files", folder, part),
                            priority=priority, **_on(places[i % 2])) for i, part in enumerate(BUNDLE_PARTS)]
    summary = client.submit(summary_task, plan, key=task_key("summary", folder), priority=priority,
                            **_on(here))
    return [*halves, summary]


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
            # Each task's area and role by its key, for the whole run; the futures themselves only while
            # their area runs, so a done area's results leave the workers' memory (a national run has
            # hundreds of areas).
            roles: dict[str, tuple[AreaRun, str]] = {}
            live: dict[str, list[Any]] = {}
            for run in runs:
                if run.status == "failed":
                    continue
                # The largest areas are prepared first: their preparation is the longest.
                prep = client.submit(prepare_task, run.area_path, week, seed, time_limit_s,
                                     key=task_key("prepare", run.folder), priority=sizes[run.area_path])
                run.tasks = TASKS_PER_AREA
                layout = client.submit(layout_task, prep, key=task_key("layout", run.folder),
                                       priority=LAYOUT_PRIORITY)
                roles.update({prep.key: (run, "prepare"), layout.key: (run, "layout")})
                live[run.area_path] = [prep, layout]  # the prepared week first
            bar = progress or ProgressBar(len(runs), 0, enabled=False)
            bar.expect(sum(r.tasks for r in runs))
            bar.update(areas=sum(1 for r in runs if r.status == "failed"),
                       failed=sum(1 for r in runs if r.status == "failed"))
            running = as_completed([f for fs in live.values() for f in fs])

            def add(run: AreaRun, role: str, new: list[Any]) -> None:
                roles.update({f.key: (run, role) for f in new})
                live[run.area_path] += new
                for f in new:
                    running.add(f)

            for fut in running:
                run, role = roles[fut.key]
                if run.status == "failed":
                    bar.update(tasks=1)
                    continue
                if fut.status == "error":
                    run.status, run.reason = "failed", _reason(fut.exception())
                    # The area's other tasks are dropped: their results are not wanted.
                    client.cancel([f for f in live.pop(run.area_path) if not f.done()])
                    parts.pop(run.area_path, None)
                    bar.update(tasks=1, areas=1, failed=1)
                    if on_area:
                        on_area(run)
                    continue
                if fut.status == "cancelled":
                    bar.update(tasks=1)
                    continue
                bar.update(tasks=1)
                weight = sizes[run.area_path]
                if role == "layout":
                    *shifts, plan = _submit_solving(client, live[run.area_path][0], fut.result(), run.folder,
                                                    weight)
                    run.tasks += len(shifts)
                    bar.expect(len(shifts))
                    add(run, "task", shifts)
                    add(run, "plan", [plan])
                elif role == "plan":
                    parts[run.area_path] = _submit_bundle(client, fut, tiles[run.area_path], run.folder,
                                                          weight)
                    add(run, "files", parts[run.area_path])
                elif (role == "files" and run.status == "pending"
                      and all(f.status == "finished" for f in parts[run.area_path])):
                    # Written once: the parts' states change beside this loop, so when the last two finish
                    # together both can find all three finished.
                    *halves, summary = parts[run.area_path]
                    files: dict[str, str | bytes] = {}
                    for half in halves:
                        files.update(half.result())
                    write_folder(files, out / run.folder)
                    run.status, run.summary = "done", summary.result()
                    del live[run.area_path], parts[run.area_path]
                    bar.update(areas=1)
                    if on_area:
                        on_area(run)
            bar.close()
        _count_worker_seconds(stream.data, {key: run for key, (run, _) in roles.items()})
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
