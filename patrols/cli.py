"""The ``patrols`` command line.

Exit status 0 on success; on bad input, status 2 and one line on stderr naming
the file, row or field and what is wrong. Nothing is written on failure.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
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


def _load_data(area_path: Path, say):
    # Imports here keep `patrols --help` fast.
    from patrols.inputs import load_area_data

    began = time.perf_counter()
    data = load_area_data(area_path)
    say(f"loaded {data.area.name}: {len(data.network.node_ids)} nodes, {len(data.incidents)} incidents, "
        f"{len(data.area.sites)} sites, {len(data.area.units)} units, {len(data.events)} events "
        f"({time.perf_counter() - began:.1f} s)")
    return data


def _load(area_path: Path, say):
    data = _load_data(area_path, say)
    return data.area, data.network, data.incidents


def _last_week(folder: Path, area_name: str, week: date) -> dict:
    """Last week's ``delivered.json`` from a ``patrols delivered`` folder, checked."""
    import json

    path = folder / "delivered.json"
    if not path.is_file():
        raise InputError(path, "no delivered report here (run `patrols delivered` first)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        area, started = doc["area"], date.fromisoformat(doc["week_start"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a delivered report: {exc}") from None
    if area != area_name:
        raise InputError(path, f"the report is for {area!r}, not {area_name!r}", field="area")
    if started >= week:
        raise InputError(path, f"the report's week ({started.isoformat()}) is not before "
                               f"{week.isoformat()}", field="week_start")
    return doc


def run_plan(area_path: Path, week: date, out: Path, seed: int, time_limit: float | None,
             redact: bool, quiet: bool, workers: int = 2, delivered: Path | None = None) -> Path:
    """Plan a week and write its bundle; the shared body of ``plan`` and ``demo``."""
    from patrols.outputs.bundle import write_bundle
    from patrols.outputs.redaction import redact as redact_plan
    from patrols.planning import plan_week

    say = _say(quiet)
    data = _load_data(area_path, say)
    area = data.area
    last_week = _last_week(delivered, area.name, week) if delivered else None
    plan = plan_week(area, data.network, data.incidents, week, seed=seed, time_limit_s=time_limit,
                     progress=say, tension=data.tension, events=data.events, workers=workers,
                     last_week=last_week)
    if redact:
        plan = redact_plan(plan, data.network, area.settings.redaction_clearance_m)
    written = write_bundle(plan, out, tile_url=area.tile_url)
    say(f"wrote {written}")
    return written


def _moment(text: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date-time YYYY-MM-DDTHH:MM") from None


def _cmd_replan(args: argparse.Namespace) -> int:
    import json
    from zoneinfo import ZoneInfo

    from patrols.changes import load_changes_doc
    from patrols.outputs.bundle import Reuse, write_bundle
    from patrols.outputs.redaction import redact as redact_plan
    from patrols.plan import plan_from_dict
    from patrols.replan import plan_id, replan_week

    say = _say(args.quiet)
    plan_path = args.plan / "plan.json"
    if not plan_path.is_file():
        raise InputError(plan_path, "no plan here (plan.json is missing)")
    if args.out.resolve() == args.plan.resolve():
        raise InputError(args.out, "--out is the parent plan's folder: write the new plan beside it")
    raw = plan_path.read_bytes()
    try:
        parent = plan_from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(plan_path, f"not a plan: {exc}") from None
    doc = load_changes_doc(args.changes)
    data = _load_data_without_incidents(args.area, say)
    start = args.start if args.start.tzinfo else args.start.replace(
        tzinfo=ZoneInfo(data.area.settings.timezone))
    plan = replan_week(data.area, data.network, parent, plan_id(raw), start, doc, str(args.changes),
                       events=data.events, seed=args.seed, time_limit_s=args.time_limit,
                       workers=args.workers, progress=say, plan_source=str(plan_path))
    rp = plan.extra["replan"]
    say(f"stops kept {rp['stops_kept']}, moved {rp['stops_moved']}, retimed {rp['stops_retimed']}, "
        f"added {rp['stops_added']}, dropped {rp['stops_dropped']}; other units' stops kept in the "
        f"shifts solved again: {rp['other_units_kept_share']:.0%}")
    for warning in plan.extra["warnings"]:
        print(f"patrols: warning: {warning['message']}", file=sys.stderr, flush=True)
    reuse = None
    if args.redact:
        plan = redact_plan(plan, data.network, data.area.settings.redaction_clearance_m)
    else:
        solved = set(rp["shifts_solved"])
        reuse = Reuse(args.plan, parent, frozenset(r.key for r in plan.routes
                                                   if f"{r.date.isoformat()}/{r.shift}" not in solved))
    written = write_bundle(plan, args.out, tile_url=data.area.tile_url, reuse=reuse)
    say(f"wrote {written}")
    return 0


def _cmd_delivered(args: argparse.Namespace) -> int:
    import json

    from patrols import defaults
    from patrols.area import VisitRule, load_area, visit_rule
    from patrols.delivered.measure import measure_plan, unplanned_minutes
    from patrols.delivered.report import delivered_csv, delivered_json, visible
    from patrols.delivered.tracks import read_tracks
    from patrols.delivered.webmap import delivered_map_html
    from patrols.outputs.bundle import write_folder
    from patrols.plan import plan_from_dict

    say = _say(args.quiet)
    plan_path = args.plan / "plan.json"
    if not plan_path.is_file():
        raise InputError(plan_path, "no plan here (plan.json is missing)")
    try:
        plan = plan_from_dict(json.loads(plan_path.read_bytes()))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(plan_path, f"not a plan: {exc}") from None
    # The rule: the area's [delivered] when given, else the one the plan was made with.
    clearance = defaults.REDACTION_CLEARANCE_M
    if args.area:
        area = load_area(args.area)
        rule, clearance = area.delivered, area.settings.redaction_clearance_m
    elif "delivered_rule" in plan.extra:
        rule = visit_rule(plan.extra["delivered_rule"], plan_path, "extra.delivered_rule")
    else:
        rule = VisitRule()
    began = time.perf_counter()
    tracks = read_tracks(args.tracks, {r.unit_id for r in plan.routes})
    pings = sum(len(p.t) for p in tracks.values())
    read_s = time.perf_counter() - began
    results = measure_plan(plan, tracks, rule)
    unplanned = unplanned_minutes(plan, tracks, rule)
    redact = args.redact or plan.redacted
    say(f"{pings} pings of {len(tracks)} units read in {read_s:.1f} s; {len(results)} planned stops "
        f"measured in {time.perf_counter() - began - read_s:.1f} s")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("done", "late", "short", "missed",
                                                                     "no_data")}
    say(", ".join(f"{k} {v}" for k, v in counts.items()))
    write_folder({
        "delivered.csv": delivered_csv(visible(plan, results, redact, clearance), redact),
        "map.html": delivered_map_html(plan, results, tracks, redact, clearance),
        "delivered.json": delivered_json(plan, results, unplanned, rule, pings, redact, clearance),
    }, args.out)
    say(f"wrote {args.out}")
    return 0


def _cmd_synthetic_tracks(args: argparse.Namespace) -> int:
    import json

    from patrols.delivered.simulate import choose_faults, make_tracks
    from patrols.delivered.tracks import tracks_csv, tracks_gpx
    from patrols.plan import plan_from_dict

    plan_path = args.plan / "plan.json"
    if not plan_path.is_file():
        raise InputError(plan_path, "no plan here (plan.json is missing)")
    plan = plan_from_dict(json.loads(plan_path.read_bytes()))
    skip, cut = choose_faults(plan, args.skip, args.cut, args.seed)
    tracks = make_tracks(plan, args.interval, args.noise, args.seed, skip, cut)
    text = tracks_gpx(tracks) if args.out.suffix.lower() == ".gpx" else tracks_csv(tracks)
    _atomic_write(args.out, text)
    if args.truth:
        truth = [{"unit": k.split("/")[0], "route": k, "seq": q, "made": "skipped"} for k, q in sorted(skip)]
        truth += [{"unit": k.split("/")[0], "route": k, "seq": q, "made": f"cut to {share:.2f}"}
                  for (k, q), share in sorted(cut.items())]
        _atomic_write(args.truth, json.dumps(truth, indent=2) + "\n")
    return 0


def _load_data_without_incidents(area_path: Path, say):
    from patrols.inputs import load_area_data

    began = time.perf_counter()
    data = load_area_data(area_path, incidents=False)
    say(f"loaded {data.area.name}: {len(data.network.node_ids)} nodes, {len(data.area.sites)} sites, "
        f"{len(data.area.units)} units, {len(data.events)} events ({time.perf_counter() - began:.1f} s)")
    return data


def _cmd_plan(args: argparse.Namespace) -> int:
    # Default: maps/<folder of the area file>-<week>, e.g. maps/westminster-2018-07-02.
    out = args.out or Path("maps") / f"{_slug(args.area.resolve().parent.name)}-{args.week.isoformat()}"
    run_plan(args.area, args.week, out, args.seed, args.time_limit, args.redact, args.quiet, args.workers,
             args.delivered)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if not DEMO_AREA.is_file():
        raise InputError(DEMO_AREA, "the bundled demo area is missing (run from a clone of the repository)")
    run_plan(DEMO_AREA, DEMO_WEEK, args.out or DEMO_OUT, args.seed, args.time_limit, args.redact,
             args.quiet, args.workers)
    return 0


def _cmd_plan_many(args: argparse.Namespace) -> int:
    from patrols.plan_many import TASKS_PER_AREA, ProgressBar, plan_many

    if args.scheduler and args.workers_many:
        raise InputError("--workers", "give --workers for the local cluster or --scheduler, not both")
    bar = ProgressBar(len(args.areas), len(args.areas) * TASKS_PER_AREA,
                      enabled=not args.quiet and sys.stderr.isatty())
    index = plan_many(args.areas, args.week, args.out, seed=args.seed, time_limit_s=args.time_limit,
                      scheduler=args.scheduler, workers=args.workers_many, progress=bar)
    say = _say(args.quiet)
    for area in index["areas"]:
        if area["status"] != "done":
            who = f"{area['name']}: " if area["name"] else ""
            print(f"patrols: {who}{area['reason']}", file=sys.stderr)
    say(f"planned {index['areas_planned']} area(s), {index['areas_failed']} failed, on "
        f"{index['scheduler']} in {index['wall_s']:.1f} s; wrote {Path(args.out) / 'index.html'}")
    return 0 if index["areas_failed"] == 0 else 1


def _cmd_hotspots(args: argparse.Namespace) -> int:
    from patrols.hotspots import score_segments

    say = _say(args.quiet)
    data = _load_data(args.area, say)
    began = time.perf_counter()
    segments = score_segments(data.network, data.incidents, args.as_of, data.area.settings,
                              tension=data.tension, events=data.events, shifts=data.area.shifts)
    say(f"scored {len(segments)} street pieces in {time.perf_counter() - began:.2f} s")
    # Six decimals is plenty for a per-metre score; pieces that round to 0 are left out.
    segments = segments.round(6)
    segments = segments[segments["score"] > 0] if not args.all else segments
    _atomic_write(args.out, segments.to_json(drop_id=True))
    say(f"wrote {len(segments)} scored street pieces to {args.out}")
    return 0


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month YYYY-MM")
    return text.strip()


def _cmd_backtest(args: argparse.Namespace) -> int:
    from patrols.backtest import backtest_month, write_report
    from patrols.incidents import category_slug

    say = _say(args.quiet)
    area, network, incidents = _load(args.area, say)
    # Default: what the area's hotspot surface counts ([hotspots] categories); "all" = every category.
    categories = args.categories or list(area.settings.hotspot_categories)
    if categories and "all" not in {category_slug(c) for c in categories}:
        wanted = {category_slug(c) for c in categories}
        missing = sorted(wanted - set(incidents["category"]))
        if missing:
            raise InputError(area.incident_paths[0] if area.incident_paths else area.path,
                             "no incidents of category " + ", ".join(missing), field="category")
        incidents = incidents[incidents["category"].isin(wanted)]
    months = incidents["timestamp"].dt.strftime("%Y-%m")
    results = []
    for month in args.test_month:
        if not (months == month).any():
            raise InputError(area.path, f"no incidents in test month {month}", field="incidents")
        if not (months < month).any():
            raise InputError(area.path, f"no incidents before test month {month} to learn from",
                             field="incidents")
        began = time.perf_counter()
        res = backtest_month(network, incidents, month, args.train_months, area.settings)
        results.append(res)
        at5 = res.table[(res.table["coverage"] == 0.05)].set_index("method")
        say(f"{month}: {res.n_test} test incidents; at 5% of street length PAI model "
            f"{at5.loc['model', 'pai']:.2f}, grid {at5.loc['grid_kde', 'pai']:.2f}, last month "
            f"{at5.loc['last_month', 'pai']:.2f}, 12 months halved {at5.loc['months12_halved', 'pai']:.2f}; "
            f"PEI model {at5.loc['model', 'pei']:.3f} ({time.perf_counter() - began:.1f} s)")
    out = args.out or Path("maps") / f"backtest-{_slug(area.name)}-{'_'.join(args.test_month)}"
    command = "patrols backtest " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "patrols backtest"
    cats = ", ".join(sorted(set(incidents["category"])))
    written = write_report(results, out, f"Hotspot back-test: {area.name} ({cats})", command)
    say(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _cmd_synthetic_sites(args: argparse.Namespace) -> int:
    from patrols.area import load_area
    from patrols.inputs import load_network
    from patrols.synthetic import (
        CONTACT_COLUMNS,
        PEOPLE_COLUMNS,
        sites_csv,
        synthetic_people,
        synthetic_sites,
        table_csv,
    )

    if (args.people is None) != (args.contacts is None):
        raise InputError("--people" if args.people is None else "--contacts",
                         "give --people and --contacts together")
    area = load_area(args.area)
    rows = synthetic_sites(load_network(area), args.n, args.seed)
    if args.people is not None:
        rows, people, contacts = synthetic_people(rows, sorted(area.stations), args.seed)
        _atomic_write(args.people, table_csv(people, PEOPLE_COLUMNS))
        _atomic_write(args.contacts, table_csv(contacts, CONTACT_COLUMNS))
    _atomic_write(args.out, sites_csv(rows))
    return 0


def _cmd_synthetic_incidents(args: argparse.Namespace) -> int:
    from patrols.area import load_area
    from patrols.inputs import load_network
    from patrols.synthetic import synthetic_incidents

    network = load_network(load_area(args.area))
    frame = synthetic_incidents(network, args.n, args.seed, args.before)
    gz = str(args.out).endswith(".gz")
    text = frame.to_csv(index=False, lineterminator="\n")
    if gz:
        import gzip

        _atomic_write_bytes(args.out, gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        _atomic_write(args.out, text)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from patrols.service.app import serve
    from patrols.service.config import load_config

    serve(load_config(args.config, args.data), args.host, args.port, access_log=not args.no_access_log,
          accept_broken_audit=args.accept_broken_audit)
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from patrols.service import audit
    from patrols.service.config import load_config
    from patrols.service.keys import check_name, create_key
    from patrols.service.store import Store

    db_path = load_config(args.config, args.data).db_path
    if args.keys_command == "create":
        check_name(args.name)  # before anything is made
    # A broken audit log is not written to, nor its triggers made again, until
    # a start of the service has been told to accept it.
    audit.check(db_path)
    store = Store(db_path)
    if args.keys_command == "create":
        key, record = create_key(store, args.role, args.name)
        store.audit(audit.HOST, audit.HOST, "key.create", None, "ok",
                    f"made {record.role} key {record.key_id} with patrols keys create", "local")
        print(key)
        print(f"made {record.role} key {record.key_id}: the key above is shown this once",
              file=sys.stderr)
    elif args.keys_command == "list":
        for k in store.list_keys():
            state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
            # Names are one printable line when made; shown escaped all the same.
            print(f"{k.key_id}\t{k.role}\t{k.created_at}\t{state}\t{audit.one_line(k.name, 200)}")
    elif not store.revoke_key(args.key_id):
        raise InputError(args.key_id, "no active key with this id (see `patrols keys list`)")
    else:
        store.audit(audit.HOST, audit.HOST, "key.revoke", None, "ok",
                    f"{args.key_id} with patrols keys revoke", "local")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from patrols.service import audit
    from patrols.service.config import load_config

    db_path = load_config(args.config, args.data).db_path
    if not db_path.is_file():
        raise InputError(db_path, "no service database here (see --data)")
    report = audit.verify(db_path)
    print(report.line())
    return 0 if report.intact else 1


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "area"


def _atomic_write(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    from patrols.outputs.bundle import write_file

    write_file(path, data)


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
        p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                       help="processes solving days at once (default: 2, or 1 on one core)")

    demo = sub.add_parser("demo", help="plan the bundled Westminster week end to end")
    common(demo)
    demo.set_defaults(func=_cmd_demo)

    plan = sub.add_parser("plan", help="plan a week for an area")
    plan.add_argument("--area", type=Path, required=True, help="the area's area.toml")
    plan.add_argument("--week", type=_week, required=True, help="first day of the week, YYYY-MM-DD")
    plan.add_argument("--delivered", type=Path,
                      help="last week's `patrols delivered` folder: raise under-dosed streets, list the "
                           "protective visits not made")
    common(plan)
    plan.set_defaults(func=_cmd_plan)

    many = sub.add_parser("plan-many", help="plan many areas' weeks at once on a Dask cluster")
    many.add_argument("--areas", type=Path, nargs="+", required=True, help="the areas' area.toml files")
    many.add_argument("--week", type=_week, required=True, help="first day of the week, YYYY-MM-DD")
    many.add_argument("--out", type=Path, required=True,
                      help="folder for each area's bundle, index.json and index.html")
    many.add_argument("--seed", type=int, default=0)
    many.add_argument("--time-limit", type=_positive, default=None,
                      help="solver seconds per shift (default: each area's own)")
    many.add_argument("--scheduler", default=None,
                      help="a running Dask scheduler, tcp://HOST:PORT (default: a local cluster)")
    many.add_argument("--workers", dest="workers_many", type=lambda t: int(_positive(t)), default=None,
                      help="worker processes of the local cluster (default: one per core)")
    many.add_argument("--quiet", action="store_true", help="print nothing but errors")
    many.set_defaults(func=_cmd_plan_many)

    rep = sub.add_parser("replan", help="plan the rest of a planned week again after changes")
    rep.add_argument("--area", type=Path, required=True, help="the area's area.toml")
    rep.add_argument("--plan", type=Path, required=True, help="the plan's bundle folder (holding plan.json)")
    rep.add_argument("--from", dest="start", type=_moment, required=True,
                     help="from when the changes hold, YYYY-MM-DDTHH:MM (Europe/London unless an offset "
                          "is given); every stop before it is kept")
    rep.add_argument("--changes", type=Path, required=True, help="CHANGES.toml")
    rep.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    rep.add_argument("--seed", type=int, default=None,
                     help="seed of the shifts solved again (default: the plan's)")
    rep.add_argument("--time-limit", type=_positive, default=None,
                     help="solver seconds per shift (default: the plan's)")
    rep.add_argument("--redact", action="store_true", help="hide protected sites, as for plan")
    rep.add_argument("--quiet", action="store_true", help="print nothing but errors")
    rep.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                     help="processes solving days at once (default: 2, or 1 on one core)")
    rep.set_defaults(func=_cmd_replan)

    dlv = sub.add_parser("delivered", help="what was delivered against a plan, from AVL/GPS tracks")
    dlv.add_argument("--plan", type=Path, required=True, help="the plan's bundle folder (holding plan.json)")
    dlv.add_argument("--tracks", type=Path, nargs="+", required=True,
                     help="GPX 1.1 tracks (a trk per unit named by its id, or a file per unit) and/or CSV "
                          "pings unit,timestamp,lat,lon")
    dlv.add_argument("--out", type=Path, required=True,
                     help="folder to write delivered.csv, delivered.json and map.html to")
    dlv.add_argument("--area", type=Path,
                     help="area.toml whose [delivered] rule to use (default: the plan's)")
    dlv.add_argument("--redact", action="store_true", help="leave out protective visits and stops near sites")
    dlv.add_argument("--quiet", action="store_true", help="print nothing but errors")
    dlv.set_defaults(func=_cmd_delivered)

    stk = sub.add_parser("synthetic-tracks",
                         help="make AVL tracks from a plan (to test `delivered`): CSV, or GPX by extension")
    stk.add_argument("--plan", type=Path, required=True)
    stk.add_argument("--interval", type=_positive, default=30.0, help="seconds between pings (default 30)")
    stk.add_argument("--noise", type=float, default=15.0, help="position noise, metres (default 15)")
    stk.add_argument("--skip", type=int, default=0, help="stops not made, chosen at random")
    stk.add_argument("--cut", type=int, default=0, help="stops cut to a third of their dwell")
    stk.add_argument("--seed", type=int, default=0)
    stk.add_argument("--out", type=Path, required=True, help="tracks.csv or tracks.gpx")
    stk.add_argument("--truth", type=Path, help="also write which stops were skipped or cut (JSON)")
    stk.set_defaults(func=_cmd_synthetic_tracks)

    hot = sub.add_parser("hotspots", help="write the scored street segments as GeoJSON")
    hot.add_argument("--area", type=Path, required=True)
    hot.add_argument("--as-of", type=_week, required=True, help="ignore incidents on or after this date")
    hot.add_argument("--out", type=Path, required=True)
    hot.add_argument("--all", action="store_true", help="include segments that scored 0")
    hot.add_argument("--quiet", action="store_true")
    hot.set_defaults(func=_cmd_hotspots)

    bt = sub.add_parser("backtest",
                        help="predict months from the months before; hit rate, PAI, PEI vs baselines")
    bt.add_argument("--area", type=Path, required=True)
    bt.add_argument("--test-month", type=_month, nargs="+", required=True, help="month(s) YYYY-MM to predict")
    bt.add_argument("--train-months", type=lambda t: int(_positive(t)), default=12,
                    help="months before each test month to learn from (default 12)")
    bt.add_argument("--categories", nargs="+", default=None,
                    help='incident categories (slugs or police.uk names, e.g. "public order"), or "all"; '
                         "default the area's [hotspots] categories")
    bt.add_argument("--out", type=Path, default=None, help="report folder (default maps/backtest-...)")
    bt.add_argument("--quiet", action="store_true")
    bt.set_defaults(func=_cmd_backtest)

    syn = sub.add_parser("synthetic-sites", help="make synthetic protected sites on an area's streets")
    syn.add_argument("--area", type=Path, required=True)
    syn.add_argument("--n", type=int, default=36)
    syn.add_argument("--seed", type=int, default=2018)
    syn.add_argument("--out", type=Path, required=True)
    syn.add_argument("--people", type=Path, default=None, help="also write synthetic people.csv here")
    syn.add_argument("--contacts", type=Path, default=None, help="and their contacts.csv here")
    syn.set_defaults(func=_cmd_synthetic_sites)

    sin = sub.add_parser("synthetic-incidents",
                         help="make a year of synthetic clustered incidents on an area's streets")
    sin.add_argument("--area", type=Path, required=True)
    sin.add_argument("--n", type=int, default=6000)
    sin.add_argument("--seed", type=int, default=2018)
    sin.add_argument("--before", type=_week, required=True, help="the year before this date (YYYY-MM-DD)")
    sin.add_argument("--out", type=Path, required=True, help="CSV (.csv or .csv.gz)")
    sin.set_defaults(func=_cmd_synthetic_incidents)

    def service_files(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="server config TOML (default: serve the demo area)")
        p.add_argument("--data", type=Path, help="data folder: database and plan bundles "
                       "(default: the config's, else ./patrols-service)")

    serve = sub.add_parser("serve", help="run the planning service (HTTP API)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log each request")
    serve.add_argument("--accept-broken-audit", action="store_true",
                       help="start even if the audit log's chain is broken (each break is recorded in the "
                       "log, and not asked about again)")
    service_files(serve)
    serve.set_defaults(func=_cmd_serve)

    keys = sub.add_parser("keys", help="make, list and revoke the service's API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key and print it (shown once)")
    create.add_argument("--role", required=True, choices=("admin", "planner", "viewer"))
    create.add_argument("--name", default="", help="who or what the key is for: one printable line")
    listing = keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    for p in (create, listing, revoke):
        service_files(p)
    keys.set_defaults(func=_cmd_keys)

    aud = sub.add_parser("audit", help="check the service's audit log")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    verify = aud_sub.add_parser("verify", help="check the hash chain: exit 0 with the entry count and head "
                                "hash, or 1 naming the first broken entry")
    service_files(verify)
    aud.set_defaults(func=_cmd_audit)
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

