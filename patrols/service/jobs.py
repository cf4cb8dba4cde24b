"""Plan jobs: planning a week in a worker process, one job per core, with a bounded queue.

A job writes two bundles side by side in ``plans/<id>/``: ``full/`` for
planners and ``viewer/`` for everyone else. The viewer's plan is the one
redaction of the product (:func:`patrols.outputs.redaction.redact`, the same as
``patrols plan --redact``).

Each worker process keeps the road network and incidents of the areas it has
planned, so only the first job of an area pays for loading them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patrols import defaults
from patrols.errors import PatrolsError
from patrols.plan import Plan
from patrols.service.store import Store

if TYPE_CHECKING:
    from patrols.network import Network

FULL = "full"
VIEWER = "viewer"

Summaries = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class PlanJob:
    """What a worker needs to make one plan; plain values so it crosses process boundaries."""

    plan_id: str
    area_path: str
    week: date
    seed: int
    time_limit_s: float | None
    redact: bool
    out_dir: str
    db_path: str


class QueueFull(Exception):
    """Every worker is busy and the queue holds as many jobs as it may."""


def write_plan_bundles(plan: Plan, network: Network, out_dir: str | Path, redact: bool = False,
                       tile_url: str | None = None,
                       clearance_m: float = defaults.REDACTION_CLEARANCE_M) -> Summaries:
    """Write the full and the viewer bundle of a plan to ``out_dir``, all or nothing.

    Parameters
    ----------
    plan
        The plan as made.
    network
        The network it was made on (the viewer's routes are routed on it again).
    out_dir
        The plan's folder; ``full/`` and ``viewer/`` are made inside it.
    redact
        Whether the planner asked for the full bundle redacted too.
    tile_url
        The area's map tiles, if any.
    clearance_m
        The area's redaction clearance around protected sites.

    Returns
    -------
    tuple of dict
        The summaries of the full and the viewer bundle.
    """
    from patrols.outputs.bundle import write_bundle
    from patrols.outputs.redaction import redact as redact_plan
    from patrols.outputs.summary import summarize

    out = Path(out_dir)
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    seen = redact_plan(plan, network, clearance_m)
    full = seen if redact else plan
    try:
        write_bundle(full, partial / FULL, tile_url=tile_url)
        write_bundle(seen, partial / VIEWER, tile_url=tile_url)
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summarize(full), summarize(seen)


# Per worker process: loaded networks and incidents, keyed by file and modification time.
_INPUTS: dict[Any, Any] = {}
_STORES: dict[str, Store] = {}


def make_plan(job: PlanJob) -> Summaries:
    """Plan the week of a job and write its bundles; runs in a worker process.

    Parameters
    ----------
    job
        The job.

    Returns
    -------
    tuple of dict
        The summaries of the full and the viewer bundle.
    """
    from patrols.planning import plan_week

    store = _STORES.get(job.db_path) or _STORES.setdefault(job.db_path, Store(job.db_path))
    if not store.mark_running(job.plan_id):
        raise PatrolsError("the plan was deleted before it started")
    from patrols.inputs import load_area_data

    # The network and incidents are read once per worker (until their files change);
    # the small files each time, so an analyst's edits are seen.
    data = load_area_data(job.area_path, cache=_INPUTS)
    # The service already runs one job per core, so each plans its days in one process.
    plan = plan_week(data.area, data.network, data.incidents, job.week, seed=job.seed,
                     time_limit_s=job.time_limit_s, tension=data.tension, events=data.events, workers=1)
    return write_plan_bundles(plan, data.network, job.out_dir, job.redact, data.area.tile_url,
                              data.area.settings.redaction_clearance_m)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PatrolsError):
        return str(exc)
    if isinstance(exc, BrokenProcessPool):
        return "the plan's worker process stopped unexpectedly"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"planning failed: {type(exc).__name__}: {first}"[:500]


class JobRunner:
    """Runs plan jobs on a pool of workers with room for a bounded number waiting.

    Parameters
    ----------
    store
        Where each job's outcome is recorded.
    workers
        Jobs run at once.
    queue
        Jobs that may wait beyond those running.
    planner
        The job function; :func:`make_plan` unless a test brings its own.
    executor
        Makes what runs ``planner``: a pool of ``workers`` spawned processes
        unless given. Made on the first job, and again after a shutdown, so an
        app that is started and stopped more than once keeps working.
    """

    def __init__(self, store: Store, workers: int, queue: int,
                 planner: Callable[[PlanJob], Summaries] = make_plan,
                 executor: Callable[[], Executor] | None = None) -> None:
        self.store = store
        self.workers = workers
        self.capacity = workers + queue
        self._planner = planner
        self._make_executor = executor or self._new_pool
        self._executor: Executor | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, Future[Summaries]] = {}
        self._stopping = False

    def _new_pool(self) -> Executor:
        # Spawn, not fork: the server has threads, and a forked child of a
        # threaded process can inherit a lock held by a thread that is not copied.
        return ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet finished (running or waiting)."""
        return len(self._pending)

    def submit(self, job: PlanJob, accept: Callable[[], Any]) -> None:
        """Take a job if there is room, calling ``accept`` (which records it) first.

        Raises
        ------
        QueueFull
            When as many jobs are pending as the runner allows.
        """
        with self._lock:
            if len(self._pending) >= self.capacity:
                raise QueueFull
            accept()
            try:
                if self._executor is None:
                    self._executor, self._stopping = self._make_executor(), False
                try:
                    future = self._executor.submit(self._planner, job)
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): the pool refuses all work
                    # from then on, so start a fresh one rather than fail every job.
                    self._executor = self._make_executor()
                    future = self._executor.submit(self._planner, job)
            except BaseException as exc:
                self.store.fail_plan(job.plan_id, _reason(exc))
                raise
            self._pending[job.plan_id] = future
        future.add_done_callback(lambda f: self._done(job, f))

    def _done(self, job: PlanJob, future: Future[Summaries]) -> None:
        with self._lock:
            self._pending.pop(job.plan_id, None)
        if future.cancelled():
            self.store.fail_plan(job.plan_id, "cancelled before it started")
            return
        exc = future.exception()
        if exc is not None:
            reason = ("stopped by a shutdown of the service before it finished" if self._stopping
                      else _reason(exc))
            if not self.store.fail_plan(job.plan_id, reason):
                shutil.rmtree(job.out_dir, ignore_errors=True)
            return
        full, seen = future.result()
        if not self.store.finish_plan(job.plan_id, full, seen):
            # Deleted while it ran: its bundles must not outlive it.
            shutil.rmtree(job.out_dir, ignore_errors=True)

    def cancel(self, plan_id: str) -> None:
        """Cancel a job that has not started; a running one finishes and is then discarded."""
        future = self._pending.get(plan_id)
        if future is not None:
            future.cancel()

    def shutdown(self) -> None:
        """Stop the workers; the jobs they had are marked failed."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._stopping = True
        if executor is None:
            return
        for future in list(self._pending.values()):
            future.cancel()
        if isinstance(executor, ProcessPoolExecutor):
            # A running plan can take minutes; the service must not wait for it to
            # stop. Python 3.11 has no public way to end pool workers (3.14 adds
            # terminate_workers), hence the private attribute, guarded.
            for process in list((getattr(executor, "_processes", None) or {}).values()):
                process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)
