"""Command line of the domain library: `python -m datacentric <command>`.

`python -m datacentric --help` lists the commands; docs/reference/cli.md is generated from
`build_parser()`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from datacentric.errors import DataCentricError
from datacentric.settings import BUNDLED_MANIFEST, Settings

DESCRIPTION = (
    "The data-centric library without Airflow: sample data, manifest check and JSON schema, ingestion, "
    "catalog, data states and restore, lineage, retention, point-in-time recovery and diff, run summary."
)
POINT_HELP = (
    "A POINT is an ISO time (2026-10-31T12:00:00Z; a date alone is the end of that day), run:<run id>, "
    "before:<run id>, now or empty."
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return _COMMANDS[args.command](args, settings)
    except DataCentricError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (the docs' CLI reference is generated from it)."""
    parser = argparse.ArgumentParser(prog="python -m datacentric", description=DESCRIPTION, epilog=POINT_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    p = sub.add_parser("samples", help="write the demo's sample data")
    p.add_argument("--landing", type=Path, default=None)
    p = sub.add_parser("schema", help="print the manifest JSON schema")
    p.add_argument("--out", type=Path, default=None)
    p = sub.add_parser("check", help="validate a manifest")
    p.add_argument("manifest", type=Path)
    sub.add_parser("states", help="list tagged data states")
    p = sub.add_parser("snapshot", help="snapshot the repository as a stage of a DAG for one interval")
    p.add_argument("--manifest", type=Path, default=BUNDLED_MANIFEST)
    p.add_argument("--dag-id", required=True, help="the DAG whose stage this is (the tag's first part)")
    p.add_argument("--stage", required=True, help="the stage just finished, e.g. validated")
    p.add_argument("--interval", required=True, help="the interval key, e.g. 20261031T000000Z")
    p = sub.add_parser("restore", help="restore a data state into a folder")
    p.add_argument("ref", help="a data state id (ds-...), a tag, a commit, an ISO date/time or 'latest'")
    p.add_argument("dest", type=Path)
    p.add_argument("--dates", choices=("data", "snapshot"), default="data",
                   help="what a date names: the data's date, the last state whose interval ends at or before it "
                   "(default), or the snapshot's wall-clock time")
    p = sub.add_parser("summary", help="where the results of the last run are")
    p.add_argument("--manifest", type=Path, default=BUNDLED_MANIFEST)
    p = sub.add_parser("ingest", help="ingest sources into the repository, outside Airflow")
    p.add_argument("--manifest", type=Path, default=BUNDLED_MANIFEST)
    p.add_argument("--source", action="append", help="a source of the manifest (repeatable; default: all)")
    p.add_argument("--start", default=None, help="window start, ISO date or time (default: catch up)")
    p.add_argument("--end", default=None, help="window end, exclusive (default: no end)")
    p.add_argument("--run-id", default=None, help="run id recorded in the change log (default: cli__<time>)")
    p = sub.add_parser("history", help="the runs that changed the repository")
    p.add_argument("--source", default=None)
    p = sub.add_parser("recover", help="point-in-time recovery of the repository into a folder")
    p.add_argument("point", help="ISO time, run:<id>, before:<id>, now or empty")
    p.add_argument("dest", type=Path)
    p.add_argument("--source", default=None, help="only this source's files")
    p.add_argument("--allow-missing", action="store_true", help="skip files whose content is gone, listing them")
    p = sub.add_parser("diff", help="what changed between two points, per source")
    p.add_argument("before", help="ISO time, run:<id>, before:<id>, now or empty")
    p.add_argument("after", nargs="?", default="now")
    p.add_argument("--source", default=None)
    p.add_argument("--json", action="store_true", help="the full report (every path) as JSON")
    p = sub.add_parser("catalog", help="render the manifest as an HTML catalog")
    p.add_argument("--manifest", type=Path, default=BUNDLED_MANIFEST)
    p.add_argument("--out", type=Path, default=None, help="default: <var>/catalog/<manifest name>.html")
    _add_versioning_commands(sub)
    return parser


def _samples(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.samples import generate

    landing = args.landing or settings.landing_root
    summary = generate(landing)
    print(f"sample data in {landing}: {summary.products} product rows, {summary.reviews} reviews, "
          f"{summary.events} events")
    return 0


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.manifest import manifest_json_schema

    text = json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.manifest import load_manifest

    loaded = load_manifest(args.manifest)
    print(f"{loaded.path}: valid; sources: {', '.join(loaded.spec.sources)}")
    return 0


def _states(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.versioning.versioner import Versioner

    for state in Versioner.from_settings(settings).states():
        print(f"{state['data_state_id']}  {state['date']}  {state['tag']}")
    return 0


def _snapshot(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.manifest import load_manifest
    from datacentric.versioning import Versioner, snapshot_stage

    snap = snapshot_stage(load_manifest(args.manifest), args.stage, dag_id=args.dag_id, interval_key=args.interval,
                          versioner=Versioner.from_settings(settings))
    print(json.dumps({"data_state_id": snap.data_state_id, "tag": snap.tag, "commit": snap.commit,
                      "reproduction": snap.reproduction.get("status")}))
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.versioning.versioner import Versioner

    result = Versioner.from_settings(settings).restore(args.ref, args.dest, dates=args.dates)
    print(f"restored {result['data_state_id']} ({result['tag']}) into {args.dest}; "
          f"{result['files_verified']} files verified against their hashes")
    return 0


def _summary(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.summary import run_summary

    print(run_summary(args.manifest, settings))
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from datacentric.manifest import load_manifest
    from datacentric.repository.store import DataRepository
    from datacentric.sources import Window
    from datacentric.sources.ingest import ingest_source
    from datacentric.times import parse_instant

    def when(text: str | None) -> datetime | None:
        return parse_instant(text, "--start/--end")

    loaded = load_manifest(args.manifest)
    repo = DataRepository(settings.repository).init()
    window = Window(when(args.start), when(args.end))
    run_id = args.run_id or f"cli__{datetime.now(UTC).isoformat(timespec='seconds')}"
    failed = 0
    for name in args.source or list(loaded.spec.sources):
        try:
            result = ingest_source(loaded, name, repo, landing_root=settings.landing_root, run_id=run_id, window=window)
        except DataCentricError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {result.units_ingested} unit(s) ingested, {result.units_skipped} skipped; rows in "
              f"{result.rows_in} = published {result.rows_published} + quarantined {result.rows_quarantined}")
    return 2 if failed else 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.repository.recovery import history
    from datacentric.repository.store import DataRepository

    for run in history(DataRepository(settings.repository), source=args.source):
        print(f"{run['first']}  {run['last']}  +{run['add']} ~{run['replace']} -{run['remove']}  {run['run_id']}")
    return 0


def _recover(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.repository.recovery import recover
    from datacentric.repository.store import DataRepository

    summary = recover(DataRepository(settings.repository), args.point, args.dest, source=args.source,
                      allow_missing=args.allow_missing)
    point = summary["point"]
    print(f"recovered {summary['files']} file(s) as of {args.point!r} (change {point['position']}, {point['at']}) "
          f"into {args.dest}; every file verified against its sha256")
    for group, rows in summary["rows"].items():
        print(f"  {group:<40} {rows:>10} rows")
    for path in summary["missing"]:
        print(f"  missing (content no longer kept): {path}")
    return 0


def _diff(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.repository.recovery import diff, format_diff
    from datacentric.repository.store import DataRepository

    report = diff(DataRepository(settings.repository), args.before, args.after, source=args.source)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_diff(report))
    return 0


def _catalog(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.atomic import write_atomic
    from datacentric.manifest import load_manifest
    from datacentric.repository.catalog import render_catalog
    from datacentric.repository.store import DataRepository

    loaded = load_manifest(args.manifest)
    repo = DataRepository(settings.repository) if settings.repository.exists() else None
    out = args.out or settings.var_dir / "catalog" / f"{loaded.name}.html"
    write_atomic(out, render_catalog(loaded, repo).encode("utf-8"))
    print(f"catalog of {loaded.name}: file://{out.resolve()}")
    return 0


def _add_versioning_commands(sub: Any) -> None:
    p = sub.add_parser("lineage", help="what produced a file; what depends on a source version")
    how = p.add_subparsers(dest="question", required=True)
    q = how.add_parser("of", help="what produced PATH (relative to the repository), down to its sources")
    q.add_argument("path")
    q.add_argument("--depth", type=int, default=None, help="levels of inputs to follow (default: all)")
    q = how.add_parser("dependents", help="every file made from URI (an origin; a trailing / matches a prefix) "
                                          "or a repository PATH")
    q.add_argument("ref")
    q.add_argument("--all", action="store_true", help="include versions no longer in the repository")
    for q in how.choices.values():
        q.add_argument("--sha256", default=None, help="that version only (a prefix is enough)")
        q.add_argument("--state", default=None, help="as of a data state (id, tag, commit, date)")
        q.add_argument("--json", action="store_true")
    p = sub.add_parser("retention", help="expire data states by a policy; collect unreferenced DVC objects")
    p.add_argument("--keep-last", type=int, default=None, help="states kept per <dag>/<stage> tag family")
    p.add_argument("--keep-days", type=float, default=None, help="states younger than this are kept")
    p.add_argument("--keep", action="append", default=[], help="a state id, tag or tag pattern always kept")
    p.add_argument("--apply", action="store_true", help="delete (default: only report what would go)")
    p.add_argument("--no-remote", action="store_true", help="leave the DVC remote alone")


def _lineage(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.versioning.lineage import Lineage, describe, render_upstream

    graph = Lineage.of_repository(settings.repository, state=args.state)
    if args.question == "of":
        items = graph.upstream(args.path, args.sha256, depth=args.depth)
        if args.json:
            print(json.dumps([{"depth": level, **item.as_dict()} for level, item in items], indent=2, default=str))
        else:
            print(render_upstream(items))
        return 0
    found = graph.dependents(args.ref, args.sha256, current_only=not args.all)
    if args.json:
        print(json.dumps([v.as_dict() for v in found], indent=2, default=str))
    else:
        print(f"{len(found)} file version(s) made from {args.ref}{' @ ' + args.sha256 if args.sha256 else ''}:")
        for version in found:
            print(f"  {describe(version)}")
    return 0


def _retention(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.versioning.retention import RetentionPolicy, collect
    from datacentric.versioning.versioner import Versioner

    policy = RetentionPolicy(keep_last=args.keep_last, keep_days=args.keep_days, keep=tuple(args.keep))
    report = collect(Versioner.from_settings(settings), policy, apply=args.apply,
                     remote=not args.no_remote)
    verb = "deleted" if report.applied else "would be deleted (dry run; --apply deletes)"
    print(f"{len(report.expired)} data state(s) expire, {report.states_kept} kept; "
          f"{report.objects_referenced} object(s) referenced by kept states")
    for state in report.expired:
        print(f"  expire {state['data_state_id']}  {state['date']}  {state['tag']}")
    print(f"cache: {report.cache_objects_deleted} object(s), {report.cache_bytes_freed} bytes {verb}; "
          f"remote: {report.remote_objects_deleted} object(s) {verb}")
    return 0


_COMMANDS = {
    "snapshot": _snapshot,
    "lineage": _lineage,
    "retention": _retention,
    "samples": _samples,
    "schema": _schema,
    "check": _check,
    "states": _states,
    "restore": _restore,
    "summary": _summary,
    "ingest": _ingest,
    "history": _history,
    "recover": _recover,
    "diff": _diff,
    "catalog": _catalog,
}
