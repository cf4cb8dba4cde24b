"""The ``patrols`` command line.

Exit status 0 on success; on bad input, status 2 and one line on stderr naming
the file, row or field and what is wrong. Nothing is written on failure.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from patrols.errors import InputError, PatrolsError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_AREA = REPO_ROOT / "data" / "westminster" / "area.toml"
DEMO_WEEK = date(2018, 7, 2)
DEMO_OUT = Path("maps") / "westminster-demo"


def _week(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _say(quiet: bool):
    return (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))


def _load(area_path: Path, say):
    # Imports here keep `patrols --help` fast.
    from patrols.area import load_area
    from patrols.incidents import read_all
    from patrols.network import Network, load_graph

    area = load_area(area_path)
    began = time.perf_counter()
    network = Network(load_graph(area.network_path), area.settings.foot_speed_kmh)
    incidents = read_all(area.incident_paths)
    say(f"loaded {area.name}: {len(network.node_ids)} nodes, {len(incidents)} incidents, "
        f"{len(area.sites)} sites, {len(area.units)} units ({time.perf_counter() - began:.1f} s)")
    return area, network, incidents


def run_plan(area_path: Path, week: date, out: Path, seed: int, time_limit: float | None,
             redact: bool, quiet: bool) -> Path:
    """Plan a week and write its bundle; the shared body of ``plan`` and ``demo``."""
    from patrols.outputs.bundle import redact as redact_plan
    from patrols.outputs.bundle import write_bundle
    from patrols.planning import plan_week

    say = _say(quiet)
    area, network, incidents = _load(area_path, say)
    plan = plan_week(area, network, incidents, week, seed=seed, time_limit_s=time_limit, progress=say)
    if redact:
        plan = redact_plan(plan)
    written = write_bundle(plan, out, tile_url=area.tile_url)
    say(f"wrote {written}")
    return written


def _cmd_plan(args: argparse.Namespace) -> int:
    # Default: maps/<folder of the area file>-<week>, e.g. maps/westminster-2018-07-02.
    out = args.out or Path("maps") / f"{_slug(args.area.resolve().parent.name)}-{args.week.isoformat()}"
    run_plan(args.area, args.week, out, args.seed, args.time_limit, args.redact, args.quiet)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if not DEMO_AREA.is_file():
        raise InputError(DEMO_AREA, "the bundled demo area is missing (run from a clone of the repository)")
    run_plan(DEMO_AREA, DEMO_WEEK, args.out or DEMO_OUT, args.seed, args.time_limit, args.redact,
             args.quiet)
    return 0


def _cmd_hotspots(args: argparse.Namespace) -> int:
    from patrols.hotspots import score_segments

    say = _say(args.quiet)
    area, network, incidents = _load(args.area, say)
    segments = score_segments(network, incidents, args.as_of, area.settings)
    segments = segments[segments["score"] > 0] if not args.all else segments
    _atomic_write(args.out, segments.drop(columns=["u", "v"]).to_json(drop_id=True))
    say(f"wrote {len(segments)} scored street segments to {args.out}")
    return 0


def _cmd_synthetic_sites(args: argparse.Namespace) -> int:
    from patrols.area import load_area
    from patrols.network import Network, load_graph
    from patrols.synthetic import sites_csv, synthetic_sites

    area = load_area(args.area)
    network = Network(load_graph(area.network_path), area.settings.foot_speed_kmh)
    _atomic_write(args.out, sites_csv(synthetic_sites(network, args.n, args.seed)))
    return 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "area"


def _atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``patrols`` command."""
    parser = argparse.ArgumentParser(prog="patrols", description="Plan a week of police patrols.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", type=Path, help="bundle folder to write")
        p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
        p.add_argument("--time-limit", type=_positive, default=None,
                       help="solver seconds per shift (default: the area's, 2-3 s)")
        p.add_argument("--redact", action="store_true",
                       help="hide protected sites: their visits look like any other stop")
        p.add_argument("--quiet", action="store_true", help="print nothing but errors")

    demo = sub.add_parser("demo", help="plan the bundled Westminster week end to end")
    common(demo)
    demo.set_defaults(func=_cmd_demo)

    plan = sub.add_parser("plan", help="plan a week for an area")
    plan.add_argument("--area", type=Path, required=True, help="the area's area.toml")
    plan.add_argument("--week", type=_week, required=True, help="first day of the week, YYYY-MM-DD")
    common(plan)
    plan.set_defaults(func=_cmd_plan)

    hot = sub.add_parser("hotspots", help="write the scored street segments as GeoJSON")
    hot.add_argument("--area", type=Path, required=True)
    hot.add_argument("--as-of", type=_week, required=True, help="ignore incidents on or after this date")
    hot.add_argument("--out", type=Path, required=True)
    hot.add_argument("--all", action="store_true", help="include segments that scored 0")
    hot.add_argument("--quiet", action="store_true")
    hot.set_defaults(func=_cmd_hotspots)

    syn = sub.add_parser("synthetic-sites", help="make synthetic protected sites on an area's streets")
    syn.add_argument("--area", type=Path, required=True)
    syn.add_argument("--n", type=int, default=36)
    syn.add_argument("--seed", type=int, default=2018)
    syn.add_argument("--out", type=Path, required=True)
    syn.set_defaults(func=_cmd_synthetic_sites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PatrolsError as exc:
        print(f"patrols: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("patrols: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

