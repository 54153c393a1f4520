"""Benchmark: snapshots of the data repository against hashing the same bytes and linking the files.

Each case is measured against a baseline in the same run, best of `--repeat` runs each:

* large:        one 1 GiB file; baseline: md5 of its bytes + one hardlink;
* small_files:  20,000 files of 1-8 KiB in 100 partition folders; baseline: md5 + hardlink per file;
* noop:         a re-snapshot of the repository holding both, nothing changed; baseline: a plain stat
                walk (os.walk + os.stat of every file) over the same tree;
* incremental:  1% new data (a new partition with 1% of the small files and a file of 1% of the large
                file's bytes) snapshotted, against the full snapshot of the same repository. Files
                written less than the racy margin (1 s) before a snapshot's scan are hashed once more by
                the next snapshot; an untimed snapshot after each round settles that, so each timed
                round has exactly its 1%.

A snapshot here is the whole `Versioner.snapshot` without the push to a remote (which copies bytes to
another place by nature): scan, hash, cache links, .dvc files, git commit and annotated tag. The
repositories are initialised (git + DVC) before timing, as they are once in a deployment.

Against the stock tools a user would pick instead, on the same trees: `dvc add raw` then
`git add raw.dvc .gitignore` and `git commit`, the commands as a user types them, in a repository
initialised beforehand (`git init`, `dvc init`, committed), for the large file, the small files and
the 1% change (the same new files, added to a DVC repository holding the same tree, after its full
`dvc add` + commit). Twice: with DVC's default cache settings (cache.type reflink,copy), then with
the project's link types (cache.type reflink,hardlink,copy: hardlinks on filesystems without
reflinks). Before a DVC time counts, the recorded content is checked: DVC's raw.dvc names the same
directory hash, size and number of files as the project's. speed-up = DVC's time / the project's.

Usage: python bench/snapshot.py [--dir DIR] [--repeat N] [--dvc-repeat N] [--large-mib N] [--small-files N]
The last line is JSON: {"benchmark": "snapshot", "ratio_large": ..., "ratio_small_files": ...,
"ratio_noop": ..., "incremental_fraction": ..., "speedup_vs_dvc_large": ..., "speedup_vs_dvc_small": ...,
"speedup_vs_dvc_incremental": ... (DVC with the project's link types), "speedup_vs_dvc_default_large":
..., "speedup_vs_dvc_default_small": ..., "speedup_vs_dvc_default_incremental": ... (DVC's defaults)}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from datacentric.versioning import scanner  # noqa: E402
from datacentric.versioning import versioner as versioning  # noqa: E402
from datacentric.versioning.versioner import Versioner  # noqa: E402

CHUNK = 1 << 20


def write_large(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(CHUNK)
    with path.open("wb") as handle:
        for i in range(size // CHUNK):
            handle.write(block[i % 251:] + block[: i % 251])  # distinct blocks, cheap to make


def write_small(root: Path, count: int, rng: random.Random, prefix: str = "p", start: int = 0) -> list[Path]:
    paths = []
    for i in range(start, start + count):
        folder = root / f"{prefix}{i // 200:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{i:06d}.bin"
        path.write_bytes(rng.randbytes(rng.randint(1024, 8192)))
        paths.append(path)
    return paths


def baseline_hash_and_link(files: list[Path], scratch: Path) -> float:
    """md5 of every file's bytes and one hardlink per file: the least a content-addressed cache does."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    start = time.perf_counter()
    for path in files:
        digest = hashlib.md5()
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
        os.link(path, scratch / digest.hexdigest())
    return time.perf_counter() - start


def stat_walk(root: Path) -> float:
    start = time.perf_counter()
    count = 0
    for folder, _, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(folder, name))
            count += 1
    return time.perf_counter() - start


def fresh_repository(root: Path, sources: dict[str, list[Path]], base: Path) -> Versioner:
    """A repository whose raw zone holds hardlinks of `sources` (no copy), initialised, not snapshotted."""
    shutil.rmtree(root, ignore_errors=True)
    for zone_path, files in sources.items():
        for path in files:
            target = root / "raw" / zone_path / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    versioner = Versioner(root)
    versioner.init()
    return versioner


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def snapshot_case(name: str, files: list[Path], base: Path, work: Path, repeat: int) -> tuple[float, float]:
    """Best baseline and best full snapshot of `files`, alternating so both see the same cache state."""
    baselines, snapshots = [], []
    for rep in range(repeat):
        baselines.append(baseline_hash_and_link(files, work / f"{name}-links"))
        versioner = fresh_repository(work / f"{name}-repo", {name: files}, base)
        snapshots.append(timed(lambda v=versioner, r=rep: v.snapshot(f"bench/{name}/{r}", message=name, push=False)))
    return min(baselines), min(snapshots)


DVC = str(Path(sys.executable).with_name("dvc"))
DVC_LINKS = {"default": None, "project": ",".join(versioning.DEFAULT_LINK_TYPES)}
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}


def run(*command: str, cwd: Path) -> None:
    env = {**os.environ, **GIT_IDENTITY, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def dvc_repository(root: Path, sources: dict[str, list[Path]], base: Path, links: str | None) -> Path:
    """A git + DVC repository (initialised and committed) whose raw/ holds hardlinks of `sources`."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    run("git", "init", "-q", "--initial-branch=main", cwd=root)
    run(DVC, "init", "-q", cwd=root)
    if links is not None:
        run(DVC, "config", "cache.type", links, cwd=root)
    run("git", "add", ".dvc", ".dvcignore", cwd=root)
    run("git", "commit", "-q", "-m", "init", cwd=root)
    link_tree(root, sources, base)
    return root


def link_tree(root: Path, sources: dict[str, list[Path]], base: Path) -> None:
    for zone_path, files in sources.items():
        for path in files:
            target = root / "raw" / zone_path / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


def dvc_add_commit(root: Path, message: str) -> float:
    """`dvc add raw`, then git add + commit of what it wrote, as a user runs them."""
    start = time.perf_counter()
    run(DVC, "add", "-q", "raw", cwd=root)
    run("git", "add", "raw.dvc", ".gitignore", cwd=root)
    run("git", "commit", "-q", "-m", message, cwd=root)
    return time.perf_counter() - start


def recorded(root: Path, tag: str | None = None) -> tuple[str, int, int]:
    """(directory md5, size, files) of raw/ as raw.dvc records it (at `tag`: as committed there)."""
    if tag is None:
        text = (root / "raw.dvc").read_text()
    else:
        text = subprocess.run(["git", "show", f"{tag}:raw.dvc"], cwd=root, capture_output=True, text=True,
                              check=True).stdout
    (out,) = yaml.safe_load(text)["outs"]
    return out["md5"], out["size"], out["nfiles"]


def check_same_record(what: str, project_root: Path, dvc_root: Path, tag: str | None = None) -> None:
    ours, theirs = recorded(project_root, tag), recorded(dvc_root)
    if ours != theirs:
        raise SystemExit(f"{what}: the project recorded raw/ as {ours}, DVC as {theirs}")


def dvc_case(name: str, files: list[Path], base: Path, work: Path, repeat: int, project_root: Path) -> dict[str, float]:
    """Best `dvc add` + `git commit` of `files` per link setting, each checked against the project's record."""
    best = {}
    for setting, links in DVC_LINKS.items():
        times = []
        for rep in range(repeat):
            root = dvc_repository(work / f"{name}-dvc-{setting}", {name: files}, base, links)
            times.append(dvc_add_commit(root, f"{name} {rep}"))
            check_same_record(f"{name} ({setting} links)", project_root, root)
        shutil.rmtree(work / f"{name}-dvc-{setting}")
        best[setting] = min(times)
    return best


def dvc_incremental(rounds: list[list[Path]], project_root: Path, sources: dict[str, list[Path]], base: Path,
                    work: Path) -> dict[str, float]:
    """Per link setting: a DVC repository with the tree the project's incremental rounds started from,
    added and committed (untimed); then each round's new files linked in and `dvc add` + commit timed.
    Each round's record is checked against the project's snapshot of that round."""
    best = {}
    for setting, links in DVC_LINKS.items():
        root = dvc_repository(work / f"incremental-dvc-{setting}", sources, base, links)
        dvc_add_commit(root, "full")
        times = []
        for rep, files in enumerate(rounds):
            for path in files:
                target = root / "raw" / path.relative_to(project_root / "raw")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
            times.append(dvc_add_commit(root, f"inc {rep}"))
            check_same_record(f"incremental round {rep} ({setting} links)", project_root, root, f"bench/inc/{rep}")
        shutil.rmtree(root)
        best[setting] = min(times)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument("--dvc-repeat", type=int, default=1, help="runs of each DVC case (best counts)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-snapshot-", dir=args.dir))
    rng = random.Random(42)
    try:
        data = work / "data"
        large = data / "large" / "blob-0000.bin"
        write_large(large, args.large_mib * CHUNK)
        small = write_small(data / "small", args.small_files, rng)
        # Warm-up: imports and the page cache are not what is measured.
        Versioner(work / "warm").snapshot("warm/up/0", message="warm", push=False)
        baseline_hash_and_link(small[:100], work / "warm-links")

        base_large, snap_large = snapshot_case("large", [large], data, work, args.repeat)
        print(f"large: 1 file, {args.large_mib} MiB: md5+link {base_large:.3f}s, snapshot {snap_large:.3f}s "
              f"-> {snap_large / base_large:.2f}x")
        base_small, snap_small = snapshot_case("small", small, data, work, args.repeat)
        print(f"small files: {len(small)} files, {sum(p.stat().st_size for p in small) >> 20} MiB: md5+link "
              f"{base_small:.3f}s, snapshot {snap_small:.3f}s -> {snap_small / base_small:.2f}x")
        run(DVC, "version", cwd=work)  # warm-up of the command line: its files in the page cache
        startup = min(timed(lambda: run(DVC, "version", cwd=work)) for _ in range(3))
        print(f"for context: `dvc version` (the command line's start-up) takes {startup:.3f}s", flush=True)
        stock: dict[str, dict[str, float]] = {}
        for name, files in (("large", [large]), ("small", small)):
            stock[name] = dvc_case(name, files, data, work, args.dvc_repeat, work / f"{name}-repo")
            ours = snap_large if name == "large" else snap_small
            print(f"{name}: dvc add + git commit, default links {stock[name]['default']:.3f}s "
                  f"({stock[name]['default'] / ours:.1f}x the snapshot), the project's links "
                  f"{stock[name]['project']:.3f}s ({stock[name]['project'] / ours:.1f}x); same raw.dvc record",
                  flush=True)
        for name in ("large", "small"):
            shutil.rmtree(work / f"{name}-repo")
            shutil.rmtree(work / f"{name}-links")

        # The repository holding both: its full snapshot, then no-op and 1% incremental snapshots.
        fulls = []
        for rep in range(args.repeat):
            combined = fresh_repository(work / "repo", {"large": [large], "small": small}, data)
            fulls.append(timed(lambda v=combined, r=rep: v.snapshot(f"bench/full/{r}", message="full", push=False)))
        full = min(fulls)
        # Directory times younger than the racy margin are looked at again; a real re-snapshot comes later.
        time.sleep(scanner.RACY_MARGIN_NS / 1e9 + 0.1)
        walks, noops = [], []
        for rep in range(args.repeat):
            walks.append(stat_walk(combined.root / "raw"))
            noops.append(timed(lambda r=rep: combined.snapshot(f"bench/noop/{r}", message="noop", push=False)))
        walk, noop = min(walks), min(noops)
        nfiles = len(small) + 1
        print(f"no-op: {nfiles} files: stat walk {walk:.4f}s, re-snapshot {noop:.4f}s -> {noop / walk:.2f}x")
        incrementals = []
        rounds: list[list[Path]] = []
        new_small = max(1, len(small) // 100)
        for rep in range(args.repeat):
            added = write_small(combined.root / "raw" / "small", new_small, rng, prefix=f"new{rep}-",
                                start=len(small))
            one_percent = max(CHUNK, args.large_mib * CHUNK // 100)
            write_large(combined.root / "raw" / "large" / f"blob-new-{rep}.bin", one_percent)
            assert added
            rounds.append([*added, combined.root / "raw" / "large" / f"blob-new-{rep}.bin"])
            incrementals.append(timed(lambda r=rep: combined.snapshot(f"bench/inc/{r}", message="inc", push=False)))
            # Files written just before a snapshot's scan are hashed again by the next one (racy
            # margin); let that happen untimed, so each timed round has exactly 1% new data.
            time.sleep(scanner.RACY_MARGIN_NS / 1e9 + 0.1)
            combined.snapshot(f"bench/settle/{rep}", message="settle", push=False)
        incremental = min(incrementals)
        print(f"incremental: +{new_small} small files and +{max(1, args.large_mib // 100)} MiB: {incremental:.4f}s "
              f"against the full snapshot {full:.3f}s -> {incremental / full:.4f}")
        stock["incremental"] = dvc_incremental(rounds, combined.root, {"large": [large], "small": small}, data, work)
        print(f"incremental: dvc add + git commit of the same 1%, default links {stock['incremental']['default']:.3f}s "
              f"({stock['incremental']['default'] / incremental:.1f}x the snapshot), the project's links "
              f"{stock['incremental']['project']:.3f}s ({stock['incremental']['project'] / incremental:.1f}x); "
              "same raw.dvc record")
        ours = {"large": snap_large, "small": snap_small, "incremental": incremental}
        print(json.dumps({
            "benchmark": "snapshot",
            "ratio_large": round(snap_large / base_large, 3),
            "ratio_small_files": round(snap_small / base_small, 3),
            "ratio_noop": round(noop / walk, 3),
            "incremental_fraction": round(incremental / full, 4),
            **{f"speedup_vs_dvc_{case}": round(stock[case]["project"] / ours[case], 2) for case in ours},
            **{f"speedup_vs_dvc_default_{case}": round(stock[case]["default"] / ours[case], 2) for case in ours},
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
