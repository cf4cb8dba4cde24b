"""Scale-out: the same areas planned on one and on two Dask workers (issue 16's target).

Three areas (the demo, Westminster; Rutland's demo; the Leeds test area), each
with its own solver time limit, planned by ``patrols plan-many`` as a user runs
it (a fresh process: imports, cluster start, loading, solving, writing), in one
run on this machine, interleaved ``--repeat`` times:

- ``--workers 1``: a LocalCluster of one single-threaded worker process;
- ``--workers 2``: a LocalCluster of two;
- ``--scheduler``: a ``dask scheduler`` and two ``dask worker --nthreads 1
  --preload patrols.plan_many`` processes started beforehand on loopback (their
  start is not timed: a cluster outlives the runs it serves), a fresh pair for
  each repeat so no worker starts with an area's inputs already loaded.

Before each repeat it measures what the VM itself gives a second process on the
solver's work: one day of the demo solved twice by one process against once
each by two at once. And since the VM's cores slow each other by a varying
amount, it reports beside each ratio the one the run would have had, had its
tasks cost two workers the worker-seconds they cost one: plan-many's own scaling.

Each repeat runs the three back to back (forwards, then backwards in the next
repeat) and gives its own ratio, one worker's wall time over two's; the figure
is the median of those ratios, which a drift in this VM's speed between repeats
does not move (the ratio of the median walls is reported beside it). Every
run's ``plan.geojson`` of every area must be byte-identical to the first run's.

    .venv/bin/python bench/scale_out.py --repeat 3 --out bench/results/scale-out-<date>.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from patrols.plan_many import scheduler_env

REPO = Path(__file__).resolve().parent.parent
PATROLS = [sys.executable, "-m", "patrols.cli"]
AREAS = [REPO / "data" / "westminster" / "area.toml", REPO / "data" / "rutland" / "area.toml",
         REPO / "tests" / "data" / "leeds" / "area.toml"]
WEEK = "2018-07-02"


def run_many(out: Path, extra: list[str]) -> tuple[float, dict]:
    began = time.perf_counter()
    done = subprocess.run([*PATROLS, "plan-many", "--areas", *map(str, AREAS), "--week", WEEK,
                           "--out", str(out), "--quiet", *extra], capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"plan-many {' '.join(extra)} failed: {done.stderr.strip()}")
    return seconds, json.loads((out / "index.json").read_text())


class Cluster:
    """A ``dask scheduler`` and ``n`` ``dask worker`` processes on loopback."""

    def __init__(self, work: Path, n: int = 2) -> None:
        work.mkdir(parents=True, exist_ok=True)
        info = work / "scheduler.json"
        info.unlink(missing_ok=True)
        env = {**os.environ, **scheduler_env()}
        self.procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                                        "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]
        for _ in range(n):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--preload", "patrols.plan_many"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO))
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n, timeout=120)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def cpu_steal() -> float:
    """Seconds of CPU the hypervisor gave other guests so far (``/proc/stat``; 0 where there is none)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


LABELS = ("1 worker", "2 workers", "2 dask workers")
# One day of the demo's week solved in a fresh process, ``sys.argv[2]`` times in a row: the solver's own work.
_SOLVE = ("import pickle, sys, time\nfrom patrols.planning import solve_day\n"
          "args = pickle.loads(open(sys.argv[1], 'rb').read())\nbegan = time.perf_counter()\n"
          "for _ in range(int(sys.argv[2])):\n    solve_day(*args)\nprint(time.perf_counter() - began)\n")


def day_problem(work: Path) -> Path:
    """The demo's first day's problems, pickled once (what a ``solve`` task of plan-many gets)."""
    path = work / "westminster-day0.pickle"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", "import pickle, sys\nfrom datetime import date\n"
                        "from patrols.inputs import load_area_data\n"
                        "from patrols.planning import day_args, prepare_week\n"
                        "d = load_area_data(sys.argv[1])\n"
                        "w = prepare_week(d.area, d.network, d.incidents, date.fromisoformat(sys.argv[2]),\n"
                        "                 seed=0, tension=d.tension, events=d.events)\n"
                        "open(sys.argv[3], 'wb').write(pickle.dumps(day_args(w, d.area.settings, 0)))\n",
                        str(AREAS[0]), WEEK, str(path)], check=True, cwd=REPO)
    return path


def machine_scaling(problem: Path) -> float:
    """How much faster two processes each solving the same day finish than one process solving it twice,
    now (2.0 at best).

    The VM's second core is not always a whole one (other guests share the host, and two solvers
    share caches): this is the most any two-worker run could gain at the moment it is measured.
    """
    def wall(copies: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", _SOLVE, str(problem), str(3 - copies)],
                                  stdout=subprocess.PIPE, text=True, cwd=REPO) for _ in range(copies)]
        return max(float(p.communicate()[0].split()[-1]) for p in procs)

    return wall(1) / wall(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "scale-out")
    ap.add_argument("--out", type=Path, help="write the report here (markdown)")
    args = ap.parse_args()
    times: dict[str, list[float]] = {label: [] for label in LABELS}
    steal: dict[str, list[float]] = {label: [] for label in LABELS}
    work: dict[str, list[float]] = {label: [] for label in LABELS}
    share: dict[str, list[float]] = {label: [] for label in LABELS}
    first: dict[str, bytes] = {}
    identical = True
    index = {}
    machine: list[float] = []
    # Each network's graph cache (patrols.graph_cache) is made before the timed runs, as a user's
    # second run finds it: otherwise the first run alone would read its GraphML cold.
    subprocess.run([sys.executable, "-c", "import sys\nfrom patrols.area import load_area\n"
                    "from patrols.inputs import load_network\n"
                    "for p in sys.argv[1:]:\n    load_network(load_area(p))\n", *map(str, AREAS)],
                   check=True, cwd=REPO)
    problem = day_problem(args.work)
    for k in range(args.repeat):
        machine.append(machine_scaling(problem))
        # Each repeat runs the three back to back, in turn forwards and backwards, so a drift in the
        # machine's speed falls on all three alike; each repeat gives its own ratios.
        for label in (LABELS if k % 2 == 0 else LABELS[::-1]):
            out = args.work / f"{label.replace(' ', '-')}-{k}"
            cluster = None
            extra = {"1 worker": ["--workers", "1"], "2 workers": ["--workers", "2"]}.get(label)
            if extra is None:
                cluster = Cluster(args.work / f"cluster-{k}")
                extra = ["--scheduler", cluster.address]
            stolen = cpu_steal()
            try:
                seconds, index = run_many(out, extra)
            finally:
                if cluster is not None:
                    cluster.close()
            times[label].append(seconds)
            steal[label].append(cpu_steal() - stolen)
            work[label].append(index["worker_s"])
            share[label].append(index["worker_share"])
            for area in index["areas"]:
                data = (out / area["folder"] / "plan.geojson").read_bytes()
                identical &= first.setdefault(area["folder"], data) == data
            print(f"run {k + 1}: {label} {seconds:.1f} s", file=sys.stderr, flush=True)
    med = {label: statistics.median(v) for label, v in times.items()}
    pairs = [t1 / t2 for t1, t2 in zip(times["1 worker"], times["2 workers"], strict=True)]
    pairs_ext = [t1 / t2 for t1, t2 in zip(times["1 worker"], times["2 dask workers"], strict=True)]
    ratio, ratio_ext = statistics.median(pairs), statistics.median(pairs_ext)
    inflation = statistics.median(work["2 workers"]) / statistics.median(work["1 worker"])
    own = [r * w2 / w1 for r, w1, w2 in zip(pairs, work["1 worker"], work["2 workers"], strict=True)]
    lines = [
        "# Scale-out: one Dask worker against two (issue 16)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); {args.repeat} repeats, each running the three one after "
        "the other (forwards, then backwards), each a fresh `patrols plan-many` process. Command: "
        f"`.venv/bin/python bench/scale_out.py --repeat {args.repeat}`.",
        "",
        f"Areas: {', '.join(a['name'] for a in index['areas'])} (week {WEEK}, seed 0, each area's own "
        f"solver time limit); {index['totals']['unit_shifts']} unit-shifts, "
        f"{index['totals']['required_visits']} protective visits in all.",
        "",
        "| cluster | median wall | runs | worker-seconds of each run (the tasks' compute time) | "
        "CPU stolen by the hypervisor during each run |",
        "|---|---:|---|---|---|",
        *(f"| {label} | {med[label]:.1f} s | {', '.join(f'{t:.1f}' for t in v)} | "
          f"{', '.join(f'{w:.1f}' for w in work[label])} | "
          f"{', '.join(f'{s:.1f} s' for s in steal[label])} |" for label, v in times.items()),
        "",
        f"The same tasks took {inflation:.2f}x the worker-seconds on two local workers as on one "
        "(median over the repeats): what the two cores of this VM lose to each other. The workers "
        "computed for this share of workers x the wall time inside the command (from reading the areas, "
        "cluster start and close included, to the index; `worker_share` in `index.json`): "
        + "; ".join(f"{label} {statistics.median(share[label]):.2f}" for label in LABELS) + ".",
        "",
        f"This VM's own two-core scaling on the solver's work (one day of the demo solved by two processes "
        f"at once against twice by one) before each repeat: {', '.join(f'{m:.2f}' for m in machine)}. "
        "The scaling of plan-many itself, were the tasks to cost two workers what they cost one (each "
        "repeat's ratio times its worker-seconds on two over those on one): "
        f"{', '.join(f'{r:.2f}' for r in own)} (median {statistics.median(own):.2f}x).",
        "",
        f"Each repeat's one worker over its two workers: {', '.join(f'{r:.2f}' for r in pairs)}; over its "
        f"two `dask worker`s: {', '.join(f'{r:.2f}' for r in pairs_ext)}.",
        "",
        f"**Two workers against one: {ratio:.2f}x** (the median of the repeats' ratios; target at least "
        f"1.7x); the ratio of the median walls: {med['1 worker'] / med['2 workers']:.2f}x. A scheduler and "
        f"two `dask worker` processes started apart: {ratio_ext:.2f}x (their start not timed).",
        "",
        f"Every area's `plan.geojson` identical in every run: {'yes' if identical else 'NO'}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
