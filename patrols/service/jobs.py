"""Plan jobs: planning a week in a worker process, one job per core, with a bounded queue.

The workers are a pool of processes the service starts, or, when the server
config names a Dask scheduler (``[dask] scheduler``), the workers of that
cluster (:class:`DaskExecutor`); the job function is the same.

A job writes two bundles side by side in ``plans/<id>/``: ``full/`` for
planners and ``viewer/`` for everyone else. The viewer's plan is the one
redaction of the product (:func:`patrols.outputs.redaction.redact`, the same as
``patrols plan --redact``).

A re-plan job (``parent_id`` set) reads its parent's full ``plan.json`` and
re-plans it (:func:`patrols.replan.replan_week`) instead of planning the week;
its full bundle takes the parent's per-route files of the routes it kept. Its
changes were checked when the job was accepted; what only the solving can find
(a pin its unit cannot reach, a parent deleted before the job started) fails
the job with a one-line reason.

Each worker process keeps the road network and incidents of the areas it has
planned, so only the first job of an area pays for loading them.

Workers never outlive the service: each asks the kernel to kill it when the
thread that started it ends (``PR_SET_PDEATHSIG`` on Linux; all workers are
started by one thread that lives as long as the pool) and also checks its
parent every 0.2 s, and before it moves a finished bundle into place. A worker
of a server that was killed therefore writes nothing more. A job is cancelled
when its plan is deleted; a clean shutdown stops the workers and marks the jobs
they had failed at once.

On a Dask cluster the workers are not the service's children: nothing ties
them to it, so the checks above of a running job are its plan's record alone
(the service marks it failed before it stops, and a job whose plan is not
running any more writes nothing). A job whose worker dies is run again by Dask
(up to the scheduler's ``allowed-failures``) and then fails, as a job whose
pool worker dies fails at once. A clean shutdown cancels the jobs and closes
the service's client; the cluster goes on.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patrols import defaults
from patrols.errors import PatrolsError
from patrols.plan import Plan
from patrols.service.files import make_private, partial_dir, private_dir, remove_plan_files
from patrols.service.store import Store

if TYPE_CHECKING:
    from patrols.inputs import AreaData
    from patrols.network import Network
    from patrols.outputs.bundle import Reuse

FULL = "full"
VIEWER = "viewer"
SHUTDOWN_ERROR = "stopped by a shutdown of the service before it finished"
DROPPED_ERROR = "dropped by the Dask cluster before it finished (its scheduler was lost or restarted)"
DASK_CONNECT_TIMEOUT_S = 10
PARENT_POLL_S = 0.2
_PR_SET_PDEATHSIG = 1

Summaries = tuple[dict[str, Any], dict[str, Any]]
log = logging.getLogger(__name__)


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
    parent_id: str | None = None
    """Set for a re-plan: the plan re-planned, whose full bundle is beside ``out_dir``."""
    replan_from: str | None = None
    """A re-plan's moment: ISO 8601 with an offset."""
    changes: str | None = None
    """A re-plan's changes document, as JSON text (see :mod:`patrols.changes`)."""


class QueueFull(Exception):
    """Every worker is busy and the queue holds as many jobs as it may."""


class KeyBusy(QueueFull):
    """The key already has as many jobs queued or running as one key may."""


# Per worker process: the service's pid, set when the worker starts.
_PARENT: int | None = None


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:  # re-parented: the service is gone
            _kill_self()


def start_worker(parent: int) -> None:
    """Set up a worker process of the pool: end with the service, write private files, ignore Ctrl-C.

    Parameters
    ----------
    parent
        The service's process id.
    """
    global _PARENT
    _PARENT = parent
    os.umask(0o077)
    # Ctrl-C reaches the whole process group; the service stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watch below still works
            pass
    if os.getppid() != parent:  # the service died before the signal was asked for
        _kill_self()
    threading.Thread(target=_watch_parent, args=(parent,), name="patrols-parent-watch", daemon=True).start()


def parent_alive() -> bool:
    """Whether the service that started this worker is still running.

    ``True`` outside a worker of the pool, a Dask worker included: the service
    is not its parent.
    """
    return _PARENT is None or os.getppid() == _PARENT


def write_plan_bundles(plan: Plan, network: Network, out_dir: str | Path, redact: bool = False,
                       tile_url: str | None = None,
                       clearance_m: float = defaults.REDACTION_CLEARANCE_M,
                       still_wanted: Callable[[], bool] | None = None,
                       reuse: Reuse | None = None) -> Summaries:
    """Write the full and the viewer bundle of a plan to ``out_dir``, all or nothing.

    They are written to ``.<id>.partial`` beside it, made private (``0700`` and
    ``0600``), and renamed into place only if ``still_wanted`` says so.

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
    still_wanted
        Asked just before the bundles are moved into place; when it says no
        (the plan was deleted, the service is gone) they are removed instead.
    reuse
        A re-plan's parent bundle: the full bundle takes its files of unchanged
        routes (see :class:`patrols.outputs.bundle.Reuse`).

    Returns
    -------
    tuple of dict
        The summaries of the full and the viewer bundle.
    """
    from patrols.outputs.bundle import write_bundle
    from patrols.outputs.redaction import redact as redact_plan
    from patrols.outputs.summary import summarize

    out = Path(out_dir)
    partial = partial_dir(out)
    shutil.rmtree(partial, ignore_errors=True)
    seen = redact_plan(plan, network, clearance_m)
    full = seen if redact else plan
    try:
        private_dir(partial)
        write_bundle(full, partial / FULL, tile_url=tile_url, reuse=None if redact else reuse)
        write_bundle(seen, partial / VIEWER, tile_url=tile_url)
        make_private(partial)
        if still_wanted is not None and not still_wanted():
            raise PatrolsError("the plan was deleted, or the service stopped, while it was made")
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summarize(full), summarize(seen)


_STORES: dict[str, Store] = {}


def make_plan(job: PlanJob) -> Summaries:
    """Plan the week of a job (or re-plan its parent) and write its bundles; runs in a worker process.

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
    if not parent_alive():
        raise PatrolsError("the service stopped before the plan started")
    if not _start_job(store, job.plan_id):
        raise PatrolsError("the plan was deleted before it started")
    from patrols.inputs import WORKER_INPUTS, load_area_data

    # The network and incidents are read once per worker (until their files change);
    # the small files each time, so an analyst's edits are seen. A re-plan reads no incidents.
    data = load_area_data(job.area_path, cache=WORKER_INPUTS, incidents=job.parent_id is None)
    reuse = None
    if job.parent_id is not None:
        plan, reuse = replan(job, data)
    else:
        # The service already runs one job per core, so each plans its days in one process.
        plan = plan_week(data.area, data.network, data.incidents, job.week, seed=job.seed,
                         time_limit_s=job.time_limit_s, tension=data.tension, events=data.events, workers=1)

    def still_wanted() -> bool:
        record = store.plan(job.plan_id)
        return parent_alive() and record is not None and record.status == "running"

    return write_plan_bundles(plan, data.network, job.out_dir, job.redact, data.area.tile_url,
                              data.area.settings.redaction_clearance_m, still_wanted, reuse)


def _start_job(store: Store, plan_id: str) -> bool:
    """Mark a job's plan running; ``False`` if it is gone or no longer wanted.

    A plan already running is this job run again: Dask runs a task again when
    its worker dies while running it.
    """
    if store.mark_running(plan_id):
        return True
    record = store.plan(plan_id)
    return record is not None and record.status == "running"


def parent_plan_path(plans_dir: str | Path, parent_id: str) -> Path:
    """The full ``plan.json`` of a plan, which a re-plan of it starts from."""
    return Path(plans_dir) / parent_id / FULL / "plan.json"


def replan(job: PlanJob, data: AreaData) -> tuple[Plan, Reuse]:
    """Re-plan a job's parent with its changes (the solving part of a re-plan job).

    Parameters
    ----------
    job
        A re-plan job (``parent_id``, ``replan_from`` and ``changes`` set).
    data
        The area's inputs (incidents are not needed).

    Returns
    -------
    tuple
        The new plan, and the parent's full bundle to take unchanged routes' files from.

    Raises
    ------
    patrols.errors.PatrolsError
        When the parent is gone, or a change proves impossible (one line naming the field).
    """
    import json
    from datetime import datetime

    from patrols.outputs.bundle import Reuse
    from patrols.plan import plan_from_dict
    from patrols.replan import replan_week

    assert job.parent_id is not None and job.replan_from is not None and job.changes is not None
    path = parent_plan_path(Path(job.out_dir).parent, job.parent_id)
    try:
        parent = plan_from_dict(json.loads(path.read_bytes()))
    except FileNotFoundError:
        gone = f"the parent plan {job.parent_id} was deleted before the re-plan started"
        raise PatrolsError(gone) from None
    start = datetime.fromisoformat(job.replan_from)
    plan = replan_week(data.area, data.network, parent, job.parent_id, start, json.loads(job.changes),
                       "changes", events=data.events, seed=job.seed, time_limit_s=job.time_limit_s,
                       workers=1, plan_source=f"plan {job.parent_id}")
    solved = set(plan.extra["replan"]["shifts_solved"])
    unchanged = frozenset(r.key for r in plan.routes if f"{r.date.isoformat()}/{r.shift}" not in solved)
    return plan, Reuse(path.parent, parent, unchanged)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PatrolsError):
        return str(exc)
    if isinstance(exc, BrokenProcessPool):
        return "the plan's worker process stopped unexpectedly"
    if type(exc).__name__ == "KilledWorker":  # distributed's, not imported without Dask
        return ("the plan's Dask worker stopped unexpectedly while running it, "
                "as many times as the scheduler allows (allowed-failures)")
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"planning failed: {type(exc).__name__}: {first}"[:500]


class DaskExecutor(Executor):
    """Runs jobs as tasks on the Dask cluster of a scheduler, through a client of the service's own.

    Each job is a task of its own, run even when another is alike (``pure=False``).
    When the client has been closed (its scheduler was gone longer than Dask
    waits to reconnect), the next job connects again. Shutting down cancels the
    jobs not finished and closes the client, never the cluster, which is not the
    service's: a task already running cannot be stopped by Dask, so it runs on,
    finds its plan no longer running and writes nothing.

    Parameters
    ----------
    scheduler
        The scheduler's address, ``tcp://host:port`` or ``tls://host:port``.

    Raises
    ------
    patrols.errors.PatrolsError
        When the scheduler does not answer within :data:`DASK_CONNECT_TIMEOUT_S`.
    """

    def __init__(self, scheduler: str) -> None:
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self._closed = False
        self._client, self._jobs = self._connect()

    def _connect(self) -> tuple[Any, Executor]:
        from distributed import Client

        try:
            client = Client(self.scheduler, timeout=f"{DASK_CONNECT_TIMEOUT_S}s", set_as_default=False)
        except Exception as exc:  # unreachable, refused, TLS not set up: one line for the plan's error
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PatrolsError(f"cannot reach the Dask scheduler at {self.scheduler} "
                               f"([dask] scheduler): {first}"[:500]) from None
        threads = sum(client.nthreads().values())
        log.info("plan jobs run on the Dask cluster at %s (%d worker threads now)", self.scheduler, threads)
        return client, client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` as a task on the cluster."""
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run new jobs after shutdown")
            if self._client.status in ("closed", "failed"):
                log.warning("the Dask client was closed (scheduler lost?): connecting again to %s",
                            self.scheduler)
                self._client, self._jobs = self._connect()
            return self._jobs.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel the jobs not finished (or wait for them) and close the client; the cluster goes on."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._jobs.shutdown(wait=wait and not cancel_futures)
            self._client.close(timeout=DASK_CONNECT_TIMEOUT_S)
        except Exception as exc:  # the scheduler already gone: the service stops all the same
            log.warning("closing the Dask client: %s: %s", type(exc).__name__, exc)


@dataclass
class _Pending:
    job: PlanJob
    owner: str
    future: Future[Summaries] | None = None
    discarded: bool = False
    """Its plan was deleted: it no longer counts against its key."""


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
        unless given (the service gives a :class:`DaskExecutor` when its config
        names a Dask scheduler). Made on the first job, and again after a
        shutdown, so an app that is started and stopped more than once keeps
        working; a job that finds it cannot be made fails with the reason.
    per_key
        Jobs one key may have queued or running at once.
    """

    def __init__(self, store: Store, workers: int, queue: int,
                 planner: Callable[[PlanJob], Summaries] = make_plan,
                 executor: Callable[[], Executor] | None = None, per_key: int = 2) -> None:
        self.store = store
        self.workers = workers
        self.capacity = workers + queue
        self.per_key = per_key
        self._planner = planner
        self._make_executor = executor or self._new_pool
        self._executor: Executor | None = None
        # Every worker process is started from this one thread, which lives as
        # long as the runner: a worker's parent-death signal is tied to the
        # thread that started it, and a request thread may end at any time.
        self._starter: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._stopping = False

    def _new_pool(self) -> Executor:
        # Spawn, not fork: the server has threads, and a forked child of a
        # threaded process can inherit a lock held by a thread that is not copied.
        return ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                   initializer=start_worker, initargs=(os.getpid(),))

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet finished (running or waiting)."""
        return len(self._pending)

    def pending_for(self, owner: str) -> int:
        """Jobs of one key accepted and not yet finished, not counting those of deleted plans."""
        return sum(1 for p in self._pending.values() if p.owner == owner and not p.discarded)

    def _start(self, job: PlanJob) -> Future[Summaries]:
        if self._starter is None:
            self._starter = ThreadPoolExecutor(1, thread_name_prefix="patrols-pool")
        if self._executor is None:
            self._executor, self._stopping = self._make_executor(), False
        executor = self._executor
        try:
            return self._starter.submit(executor.submit, self._planner, job).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool refuses all work
            # from then on, so start a fresh one rather than fail every job.
            self._executor = self._make_executor()
            return self._starter.submit(self._executor.submit, self._planner, job).result()

    def submit(self, job: PlanJob, accept: Callable[[], Any], owner: str = "") -> None:
        """Take a job if there is room, calling ``accept`` (which records it) first.

        Parameters
        ----------
        job
            The job.
        accept
            Records the job (as queued); called only once the job has room.
        owner
            The key id that asked for it, for the per-key limit.

        Raises
        ------
        QueueFull
            When as many jobs are pending as the runner allows.
        KeyBusy
            When ``owner`` already has as many jobs pending as one key may.
        """
        with self._lock:
            if len(self._pending) >= self.capacity:
                raise QueueFull
            if self.pending_for(owner) >= self.per_key:
                raise KeyBusy
            accept()
            pending = self._pending[job.plan_id] = _Pending(job, owner)
            try:
                pending.future = self._start(job)
            except BaseException as exc:
                self._pending.pop(job.plan_id, None)
                self.store.fail_plan(job.plan_id, _reason(exc))
                if isinstance(exc, PatrolsError):  # the Dask scheduler does not answer: the plan says why
                    return
                raise
        pending.future.add_done_callback(lambda f: self._done(job, f))

    def _done(self, job: PlanJob, future: Future[Summaries]) -> None:
        with self._lock:
            pending = self._pending.pop(job.plan_id, None)
        if future.cancelled():
            # Cancelled by the runner (the plan deleted, a shutdown), or else by
            # the Dask cluster, which drops its tasks when its scheduler is lost.
            ours = self._stopping or pending is None or pending.discarded
            reason = (SHUTDOWN_ERROR if self._stopping else "cancelled before it started" if ours
                      else DROPPED_ERROR)
            self.store.fail_plan(job.plan_id, reason)
            remove_plan_files(Path(job.out_dir).parent, job.plan_id)
            return
        exc = future.exception()
        if exc is not None:
            reason = SHUTDOWN_ERROR if self._stopping else _reason(exc)
            if not self.store.fail_plan(job.plan_id, reason):
                remove_plan_files(Path(job.out_dir).parent, job.plan_id)
            return
        full, seen = future.result()
        if not self.store.finish_plan(job.plan_id, full, seen):
            # Deleted (or failed by a shutdown) while it ran: its bundles must not outlive it.
            remove_plan_files(Path(job.out_dir).parent, job.plan_id)

    def cancel(self, plan_id: str) -> None:
        """Cancel the job of a deleted plan.

        A job still waiting never starts (if it has already been handed to a
        worker, the worker finds its plan gone and stops); a running one is
        discarded when it ends, without moving its bundles into place. Either
        way it stops counting against its key at once (and, on Dask, where a
        running task's future can be cancelled, against the runner's room too).
        """
        with self._lock:
            pending = self._pending.get(plan_id)
            if pending is None:
                return
            pending.discarded = True
        if pending.future is not None:
            pending.future.cancel()

    def shutdown(self) -> None:
        """Stop the workers and wait for them to end; the jobs they had are marked failed at once.

        On Dask the jobs are cancelled and the client closed (see
        :class:`DaskExecutor`); the cluster's workers are not the service's to stop.
        """
        with self._lock:
            executor, self._executor = self._executor, None
            starter, self._starter = self._starter, None
            self._stopping = True
            cut_off = list(self._pending.values())
        for pending in cut_off:
            if pending.future is not None:
                pending.future.cancel()
        processes = []
        if isinstance(executor, ProcessPoolExecutor):
            # A running plan can take minutes; the service must not wait for it to
            # stop. Python 3.11 has no public way to end pool workers (3.14 adds
            # terminate_workers), hence the private attribute, guarded.
            processes = list((getattr(executor, "_processes", None) or {}).values())
            for process in processes:
                process.terminate()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(1)
        # Marked now, not when the pool gets round to reporting the stopped
        # workers: the process may be gone by then.
        for pending in cut_off:
            if self.store.fail_plan(pending.job.plan_id, SHUTDOWN_ERROR):
                remove_plan_files(Path(pending.job.out_dir).parent, pending.job.plan_id)
        if starter is not None:
            starter.shutdown(wait=False)
