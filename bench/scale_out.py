"""Scale-out: the same areas planned on one and on two Dask workers (issue 16's target).

Three areas (the demo, Westminster; Rutland's demo; the Leeds test area), each
with its own solver time limit, planned by ``patrols plan-many`` as a user runs
it (a fresh process: imports, cluster start, loading, solving, writing), in one
run on this machine, interleaved ``--repeat`` times:

- ``--workers 1``: a LocalCluster of one single-threaded worker process;
- ``--workers 2``: a LocalCluster of two;
- ``--scheduler``: a ``dask scheduler`` and two ``dask worker --nthreads 1``
  processes started beforehand on loopback (their start is not timed: a cluster
  outlives the runs it serves), a fresh pair for each repeat so no worker starts
  with an area's inputs already loaded.

The figure is the ratio of median wall times, one worker over two. Every run's
``plan.geojson`` of every area must be byte-identical to the first run's.

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
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
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
                 "--no-dashboard", "--host", "127.0.0.1"],
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "scale-out")
    ap.add_argument("--out", type=Path, help="write the report here (markdown)")
    args = ap.parse_args()
    times: dict[str, list[float]] = {"1 worker": [], "2 workers": [], "2 dask workers": []}
    first: dict[str, bytes] = {}
    identical = True
    index = {}
    for k in range(args.repeat):
        for label, extra in (("1 worker", ["--workers", "1"]), ("2 workers", ["--workers", "2"]),
                             ("2 dask workers", None)):
            out = args.work / f"{label.replace(' ', '-')}-{k}"
            cluster = None
            if extra is None:
                cluster = Cluster(args.work / f"cluster-{k}")
                extra = ["--scheduler", cluster.address]
            try:
                seconds, index = run_many(out, extra)
            finally:
                if cluster is not None:
                    cluster.close()
            times[label].append(seconds)
            for area in index["areas"]:
                data = (out / area["folder"] / "plan.geojson").read_bytes()
                identical &= first.setdefault(area["folder"], data) == data
            print(f"run {k + 1}: {label} {seconds:.1f} s", file=sys.stderr, flush=True)
    med = {label: statistics.median(v) for label, v in times.items()}
    ratio = med["1 worker"] / med["2 workers"]
    ratio_ext = med["1 worker"] / med["2 dask workers"]
    lines = [
        "# Scale-out: one Dask worker against two (issue 16)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on this machine ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); {args.repeat} interleaved runs of each, each a fresh "
        "`patrols plan-many` process. Command: "
        f"`.venv/bin/python bench/scale_out.py --repeat {args.repeat}`.",
        "",
        f"Areas: {', '.join(a['name'] for a in index['areas'])} (week {WEEK}, seed 0, each area's own "
        f"solver time limit); {index['totals']['unit_shifts']} unit-shifts, "
        f"{index['totals']['required_visits']} protective visits in all.",
        "",
        "| cluster | median wall | runs |",
        "|---|---:|---|",
        *(f"| {label} | {med[label]:.1f} s | {', '.join(f'{t:.1f}' for t in v)} |"
          for label, v in times.items()),
        "",
        f"**Two workers against one: {ratio:.2f}x** (target at least 1.7x); a scheduler and two "
        f"`dask worker` processes started apart: {ratio_ext:.2f}x (their start not timed).",
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
