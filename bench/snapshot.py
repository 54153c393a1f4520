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

Usage: python bench/snapshot.py [--dir DIR] [--repeat N] [--large-mib N] [--small-files N] [--dvc-add]
`--dvc-add` also times `dvc add` with DVC's default cache links on the same data, for reference.
The last line is JSON: {"benchmark": "snapshot", "ratio_large": ..., "ratio_small_files": ...,
"ratio_noop": ..., "incremental_fraction": ...}.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

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


def dvc_add_reference(files: list[Path], base: Path, work: Path, name: str) -> float:
    """`dvc add` of the same files with DVC's default cache link types (reflink, copy)."""
    from dvc.repo import Repo

    root = work / f"{name}-dvc"
    shutil.rmtree(root, ignore_errors=True)
    for path in files:
        target = root / "raw" / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    Repo.init(str(root)).close()
    with Repo(str(root)) as repo:
        start = time.perf_counter()
        repo.add([str(root / "raw")])
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument("--dvc-add", action="store_true", help="also time dvc add (default links) for reference")
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
        time.sleep(versioning.RACY_MARGIN_NS / 1e9 + 0.1)
        walks, noops = [], []
        for rep in range(args.repeat):
            walks.append(stat_walk(combined.root / "raw"))
            noops.append(timed(lambda r=rep: combined.snapshot(f"bench/noop/{r}", message="noop", push=False)))
        walk, noop = min(walks), min(noops)
        nfiles = len(small) + 1
        print(f"no-op: {nfiles} files: stat walk {walk:.4f}s, re-snapshot {noop:.4f}s -> {noop / walk:.2f}x")
        incrementals = []
        new_small = max(1, len(small) // 100)
        for rep in range(args.repeat):
            added = write_small(combined.root / "raw" / "small", new_small, rng, prefix=f"new{rep}-",
                                start=len(small))
            one_percent = max(CHUNK, args.large_mib * CHUNK // 100)
            write_large(combined.root / "raw" / "large" / f"blob-new-{rep}.bin", one_percent)
            assert added
            incrementals.append(timed(lambda r=rep: combined.snapshot(f"bench/inc/{r}", message="inc", push=False)))
            # Files written just before a snapshot's scan are hashed again by the next one (racy
            # margin); let that happen untimed, so each timed round has exactly 1% new data.
            time.sleep(versioning.RACY_MARGIN_NS / 1e9 + 0.1)
            combined.snapshot(f"bench/settle/{rep}", message="settle", push=False)
        incremental = min(incrementals)
        print(f"incremental: +{new_small} small files and +{max(1, args.large_mib // 100)} MiB: {incremental:.4f}s "
              f"against the full snapshot {full:.3f}s -> {incremental / full:.4f}")
        if args.dvc_add:
            print(f"reference: dvc add (default links) large {dvc_add_reference([large], data, work, 'large'):.3f}s, "
                  f"small files {dvc_add_reference(small, data, work, 'small'):.3f}s")
        print(json.dumps({
            "benchmark": "snapshot",
            "ratio_large": round(snap_large / base_large, 3),
            "ratio_small_files": round(snap_small / base_small, 3),
            "ratio_noop": round(noop / walk, 3),
            "incremental_fraction": round(incremental / full, 4),
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
