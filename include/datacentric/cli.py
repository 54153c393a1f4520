"""Command line of the domain library: `python -m datacentric <command>`.

    samples [--landing DIR]            write the bundled demo's sample data (deterministic)
    schema [--out FILE]                the manifest's JSON schema, for editor completion
    check MANIFEST                     validate a manifest; errors name line and field
    states                             the tagged data states of the repository
    restore REF DEST                   restore a data state (id, tag or date) into DEST, verifying hashes
    summary [--manifest FILE]          where each result of the last run is
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from datacentric.errors import DataCentricError
from datacentric.settings import BUNDLED_MANIFEST, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datacentric", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("samples", help="write the demo's sample data")
    p.add_argument("--landing", type=Path, default=None)
    p = sub.add_parser("schema", help="print the manifest JSON schema")
    p.add_argument("--out", type=Path, default=None)
    p = sub.add_parser("check", help="validate a manifest")
    p.add_argument("manifest", type=Path)
    sub.add_parser("states", help="list tagged data states")
    p = sub.add_parser("restore", help="restore a data state into a folder")
    p.add_argument("ref")
    p.add_argument("dest", type=Path)
    p = sub.add_parser("summary", help="where the results of the last run are")
    p.add_argument("--manifest", type=Path, default=BUNDLED_MANIFEST)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        return _COMMANDS[args.command](args, settings)
    except DataCentricError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


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
    from datacentric.versioning import Versioner

    for state in Versioner(settings.repository).states():
        print(f"{state['data_state_id']}  {state['date']}  {state['tag']}")
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.versioning import Versioner

    result = Versioner(settings.repository, remote=settings.dvc_remote).restore(args.ref, args.dest)
    print(f"restored {result['data_state_id']} ({result['tag']}) into {args.dest}; "
          f"{result['files_verified']} files verified against their hashes")
    return 0


def _summary(args: argparse.Namespace, settings: Settings) -> int:
    from datacentric.summary import run_summary

    print(run_summary(args.manifest, settings))
    return 0


_COMMANDS = {
    "samples": _samples,
    "schema": _schema,
    "check": _check,
    "states": _states,
    "restore": _restore,
    "summary": _summary,
}
