"""Snapshots of the data repository with DVC and git (tagged, named by a data state id), and restores
of past data states. Design note: docs/explanation/data-state-ids.md."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import marshal
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacentric.errors import ParamError, RepositoryError, TimeFormatError
from datacentric.hashing import sha256_json
from datacentric.repository.store import CHANGELOG, ZONES
from datacentric.times import is_date_only, parse_instant, parse_time
from datacentric.versioning import scanner
from datacentric.versioning.cache import ObjectStore, atomic_write_bytes, md5_file, object_path
from datacentric.versioning.dvcfiles import ZoneContent, content_tuple, dvc_file_text, parse_dvc_file
from datacentric.versioning.git import GIT_ENV, ensure_lines, run_command
from datacentric.versioning.scanner import ZoneScan, gc_paused
from datacentric.versioning.state_id import data_state_id, stage_pins, state_time, tag_name

if TYPE_CHECKING:
    from datacentric.manifest import LoadedManifest
    from datacentric.repository import DataRepository
    from datacentric.settings import Settings


log = logging.getLogger(__name__)


TRACKED_ZONES = tuple(ZONES)


REMOTE_NAME = "storage"
# What a date given to resolve/restore names: the data's interval end, or the snapshot's wall-clock time.
DATE_MEANINGS = ("data", "snapshot")


# Cache link types, best first; the first one the filesystem supports is used (see module doc).
DEFAULT_LINK_TYPES = ("reflink", "hardlink", "copy")


RESTORE_LINK_TYPES = ("reflink", "copy")


INDEX_VERSION = 2


_GITIGNORE = ".publish.lock\n.snapshot.lock\n.init.lock\n*.tmp\n"


_DVCIGNORE = "# temporary files of atomic publishes and snapshots\n*.tmp\n"


# Record keys that describe a state but are not pins (they do not enter the data state id).
_META_KEYS = ("tag", "commit", "date", "data_state_id", "run", "changelog_bytes", "taken_at")


@dataclass(frozen=True)
class Snapshot:
    """One snapshot: its id, tag and commit, whether it made a new commit, its pins, and, for an
    interval that had been snapshotted before, how the new content compares with the tagged one."""

    data_state_id: str
    tag: str
    commit: str
    tree: str
    changed: bool
    pins: dict[str, Any]
    reproduction: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_link_types(raw: str) -> tuple[str, ...]:
    """Cache link types from a comma-separated list (DATACENTRIC_DVC_CACHE_TYPE), best first."""
    types = tuple(t.strip() for t in raw.split(",") if t.strip())
    unknown = [t for t in types if t not in ("reflink", "hardlink", "symlink", "copy")]
    if unknown or not types:
        raise RepositoryError(f"DATACENTRIC_DVC_CACHE_TYPE={raw!r}: expected a list of reflink, hardlink, copy")
    if "symlink" in types:
        raise RepositoryError("DATACENTRIC_DVC_CACHE_TYPE: symlink is not supported for snapshots; use hardlink")
    return types


def s3_remote_options(remote: str | None, endpoint: str | None) -> dict[str, str]:
    """Options of an S3 remote: its endpoint (DATACENTRIC_DVC_REMOTE_ENDPOINT) as DVC's endpointurl.

    Credentials are left to dvc-s3's own lookup (AWS_* variables, profiles, instance roles) unless a
    caller passes them, in which case they go to DVC's local config only."""
    if not remote or not remote.startswith("s3://"):
        return {}
    return {"endpointurl": endpoint} if endpoint else {}


class Versioner:
    """Snapshots and restores one data repository.

    :param root: the data repository (a folder; made a git + DVC repository on first use)
    :param remote: DVC remote URL: a folder or s3://bucket/prefix (None: no remote)
    :param remote_config: extra options of the remote (endpointurl, access_key_id, ...); written to
        DVC's local config (.dvc/config.local, never committed)
    :param link_types: cache link types, best first (default: DATACENTRIC_DVC_CACHE_TYPE or
        reflink,hardlink,copy)

    `Versioner.from_settings()` builds the one the deployment settings describe.
    """

    def __init__(
        self,
        root: Path | str,
        remote: str | None = None,
        *,
        remote_config: dict[str, str] | None = None,
        link_types: Iterable[str] | None = None,
    ) -> None:
        from datacentric.settings import Settings

        settings = Settings.from_env()
        self.root = Path(root)
        self.remote = remote
        self.remote_config = (dict(remote_config) if remote_config is not None
                              else s3_remote_options(remote, settings.dvc_remote_endpoint))
        self.link_types = tuple(link_types) if link_types is not None else parse_link_types(settings.dvc_cache_types)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, remote_config: dict[str, str] | None = None,
                      ) -> Versioner:
        """The versioner of the deployment: its repository, DVC remote and link types from `settings`
        (default: the environment). `remote_config` adds remote options, e.g. credentials from a
        connection, to the endpoint the settings name."""
        from datacentric.settings import Settings

        settings = settings or Settings.from_env()
        config = s3_remote_options(settings.dvc_remote, settings.dvc_remote_endpoint)
        config.update(remote_config or {})
        return cls(settings.repository, remote=settings.dvc_remote, remote_config=config,
                   link_types=parse_link_types(settings.dvc_cache_types))

    # -- setup ---------------------------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        return self.root / ".dvc" / "cache"

    def init(self) -> None:
        """Make the repository a git + DVC repository with its remote; cheap and safe to call every time."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").is_dir() or not (self.root / ".dvc").is_dir():
            # Its own lock: a snapshot calls init while it holds the snapshot lock.
            with open(self.root / ".init.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                self._init_atomically()
        ensure_lines(self.root / ".gitignore", [*_GITIGNORE.splitlines(), *(f"/{zone}" for zone in TRACKED_ZONES)])
        ensure_lines(self.root / ".dvcignore", _DVCIGNORE.splitlines())
        if self.remote:
            self._configure_remote()

    def _init_atomically(self) -> None:
        """Create `.git` and `.dvc` in a staging folder and rename each into place when it is complete.

        A `.git` or `.dvc` that exists was therefore made whole: an init killed half-way (a worker lost
        during `dvc init`) leaves only a staging folder, which the next init removes, never an empty
        `.dvc/config` that a retry would trust and so lose autostage and the cache link types."""
        for stale in self.root.glob(".init-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=".init-", suffix=".tmp", dir=self.root))
        try:
            run_command(["git", "init", "--quiet", "--initial-branch=main", str(staging)])
            new_dvc = not (self.root / ".dvc").is_dir()
            if new_dvc:
                from dvc.repo import Repo

                with Repo.init(str(staging), subdir=False, force=True) as repo, repo.config.edit() as conf:
                    conf.setdefault("core", {})["autostage"] = True
                    conf.setdefault("cache", {})["type"] = ",".join(self.link_types)
                os.rename(staging / ".dvc", self.root / ".dvc")
            if not (self.root / ".git").is_dir():
                os.rename(staging / ".git", self.root / ".git")
            if new_dvc:
                self._git("add", ".dvc")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _configure_remote(self) -> None:
        """The remote's URL in the committed config; endpoint and credentials in the local one only."""
        wanted = sha256_json([self.remote, self.remote_config])
        marker = self._state_dir() / "remote"
        if marker.exists() and marker.read_text() == wanted:
            return
        from dvc.repo import Repo

        with Repo(str(self.root)) as repo:
            with repo.config.edit() as conf:
                conf.setdefault("remote", {})[REMOTE_NAME] = {"url": self.remote}
                conf.setdefault("core", {})["remote"] = REMOTE_NAME
            with repo.config.edit("local") as conf:
                local = conf.setdefault("remote", {}).setdefault(REMOTE_NAME, {})
                local.clear()
                local.update(self.remote_config)
        atomic_write_bytes(marker, wanted.encode())

    def indexed_objects(self) -> set[str]:
        """The cache objects the snapshot index believes are there (files of the working copy since
        the last snapshot). The next snapshot trusts the index, so garbage collection keeps these."""
        index = _load_index(self._state_dir() / "index", self)
        found: set[str] = set()
        for zone in (index.get("zones") or {}).values():
            if zone.get("content"):
                found.add(zone["content"][0])
            for record in (zone.get("dirs") or {}).values():
                found.update(info[3] for info in marshal.loads(record[2]).values())
        return found

    def _state_dir(self) -> Path:
        path = self.root / ".dvc" / "tmp" / "datacentric"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- snapshot ------------------------------------------------------------------------------

    def snapshot(
        self,
        tag: str,
        *,
        message: str,
        pins: dict[str, Any] | None = None,
        run: dict[str, Any] | None = None,
        push: bool = True,
        rescan: bool = False,
    ) -> Snapshot:
        """Commit the zones' current content and tag it.

        Idempotent: an unchanged repository gets no new commit. When `tag` exists already (a retry,
        a re-run or a backfill of the interval), `reproduction` reports how the content compares
        with it: "identical" when every file the tag recorded is there with the same hash and the
        snapshot brings no content that is not committed yet (the tagged state is returned as it
        is); else "different", with the changed, removed and added files, and the new state is
        tagged `<tag>+2` (+3, ...): a tag is never moved. Concurrent snapshots of one repository
        take turns on a file lock.
        """
        with self._lock():
            self.init()
            self._clear_stale_git_locks()
            zones = self._commit_zones(rescan=rescan)
            if push and self.remote:
                self._push(zones)
            changelog = self.root / CHANGELOG
            # Measured before staging: the state includes at least this much of the change log.
            changelog_bytes = changelog.stat().st_size if changelog.exists() else 0
            self._git("add", "--all")
            changed = self._commit(message)
            commit, tree = self._git("rev-parse", "HEAD", "HEAD^{tree}").split()
            all_pins = {
                "data_tree": tree,
                "zones": {zone: content.md5 for zone, content in sorted(zones.items())},
                "label_version": zones["labels"].md5 if "labels" in zones else None,
                **(pins or {}),
            }
            state_id = data_state_id(all_pins)
            run_meta = dict(run or {})
            existing = self._tag_commit(tag)
            final_tag = tag
            reproduction: dict[str, Any] = {"status": "new", "tag": tag}
            if existing is not None:
                reproduction = self.compare(tag, zones=zones)
                recorded = self.resolve(tag)
                if (reproduction["status"] == "identical" and changed and tree != self._tree_of(existing)
                        and state_id != recorded["data_state_id"]):
                    # Every tagged file is still there, but this snapshot brings content no state has yet
                    # (e.g. late data for the interval): that is a new state, not the tagged one. (Equal
                    # ids mean equal content and definitions: the commit differs in run records only.)
                    reproduction["status"] = "different"
                recorded_pins = _pins_of(recorded)
                reproduction["pins_differing"] = sorted(
                    k for k in set(recorded_pins) | set(all_pins)
                    if k not in ("data_tree", "zones", "label_version") and recorded_pins.get(k) != all_pins.get(k)
                )
                if reproduction["status"] == "identical":
                    # A retry or a re-run of this interval reproduced every file of the tagged state.
                    return Snapshot(recorded["data_state_id"], tag, recorded["commit"], self._tree_of(existing), False,
                                    recorded_pins, reproduction, recorded.get("run", {}))
                for later in self._suffixed_tags(tag):
                    if self._tree_of(later[1]) == tree:
                        # This content was tagged by an earlier re-run (e.g. the retry of one that died
                        # after tagging): that state stands.
                        state = self.resolve(later[0])
                        reproduction["new_tag"] = later[0]
                        return Snapshot(state["data_state_id"], later[0], later[1], tree, changed, _pins_of(state),
                                        reproduction, state.get("run", {}))
                final_tag = self._next_free_tag(tag)
                reproduction["new_tag"] = final_tag
                log.warning("tag %s names other content (%d changed, %d removed); this snapshot is tagged %s",
                            tag, len(reproduction["changed"]), len(reproduction["removed"]), final_tag)
            record = {"data_state_id": state_id, **all_pins, "run": run_meta, "changelog_bytes": changelog_bytes,
                      "taken_at": datetime.now(UTC).isoformat()}
            self._git("tag", "-a", final_tag, "-m", json.dumps(record, sort_keys=True))
            return Snapshot(state_id, final_tag, commit, tree, changed, all_pins, reproduction, run_meta)

    def compare(self, ref: str, *, zones: dict[str, ZoneContent] | None = None) -> dict[str, Any]:
        """How the current content compares with the state `ref`, file by file, from the recorded md5s.

        status is "identical" when every file the state recorded is present with the same hash;
        `added` counts files present now that the state did not have (from later stages or
        intervals, or new), `added_sample` names some.
        """
        state = self.resolve(ref)
        if zones is None:
            zones = self._current_zones()
        recorded = self.zone_contents(state["commit"])
        changed: list[str] = []
        removed: list[str] = []
        added: list[str] = []
        compared = 0
        unverifiable: list[str] = []
        for zone in sorted(set(recorded) | set(zones)):
            old, new = recorded.get(zone), zones.get(zone)
            if old is not None and new is not None and old.md5 == new.md5:
                compared += old.nfiles
                continue
            try:
                old_files = self.dir_entries(old.md5) if old else {}
                new_files = self.dir_entries(new.md5) if new else {}
            except RepositoryError:
                unverifiable.append(zone)
                continue
            for rel, md5 in old_files.items():
                path = f"{zone}/{rel}"
                if rel not in new_files:
                    removed.append(path)
                elif new_files[rel] != md5:
                    changed.append(path)
                compared += 1
            added.extend(f"{zone}/{rel}" for rel in new_files if rel not in old_files)
        status = "identical" if not (changed or removed or unverifiable) else "different"
        return {"status": status, "tag": state["tag"], "data_state_id": state["data_state_id"],
                "files_compared": compared, "changed": changed, "removed": removed, "added": len(added),
                "added_sample": added[:20], "unverifiable_zones": unverifiable}

    # -- zones -> .dvc files and cache objects --------------------------------------------------

    def _commit_zones(self, *, rescan: bool) -> dict[str, ZoneContent]:
        index_path = self._state_dir() / "index"
        with gc_paused():
            index = {} if rescan else _load_index(index_path, self)
            scan_start = time.time_ns()
            store = ObjectStore(self.cache_dir, self.link_types)
            new_index: dict[str, Any] = {"version": INDEX_VERSION, "cache": str(self.cache_dir.resolve()),
                                         "scanned_at_ns": scan_start, "zones": {}}
            contents: dict[str, ZoneContent] = {}
            for zone in TRACKED_ZONES:
                old = index.get("zones", {}).get(zone) or {}
                scan = ZoneScan(self.root / zone, old.get("dirs", {}), store,
                                 int(index.get("scanned_at_ns", 0)) - scanner.RACY_MARGIN_NS)
                root_dir = scan.run()
                if root_dir is None or not root_dir.count:
                    content = None
                elif scan.changed or not old.get("content"):
                    if not root_dir.fragment:  # an index without the zone's listing: look at everything
                        scan = ZoneScan(self.root / zone, {}, store, -1)
                        root_dir = scan.run()
                        assert root_dir is not None
                    content = store.add_tree(root_dir.fragment, root_dir.size, root_dir.count)
                else:
                    content = ZoneContent(*old["content"])
                if "" in scan.dirs:  # the whole zone's listing is its .dir object; not kept twice
                    scan.dirs[""] = (*scan.dirs[""][:4], "", *scan.dirs[""][5:])
                new_index["zones"][zone] = {"dirs": scan.dirs, "content": content_tuple(content)}
                dvc_file = self.root / f"{zone}.dvc"
                if content is None:
                    dvc_file.unlink(missing_ok=True)
                    continue
                contents[zone] = content
                text = dvc_file_text(zone, content)
                if not dvc_file.exists() or dvc_file.read_text() != text:
                    atomic_write_bytes(dvc_file, text.encode())
            atomic_write_bytes(index_path, marshal.dumps(new_index))
        if store.stored:
            log.info("snapshot of %s: %d new object(s) in the cache (%s)", self.root, store.stored,
                     store.link_used or "none")
        return contents

    def _current_zones(self) -> dict[str, ZoneContent]:
        contents = {}
        for zone in TRACKED_ZONES:
            dvc_file = self.root / f"{zone}.dvc"
            if dvc_file.exists():
                content = parse_dvc_file(dvc_file.read_text(), dvc_file)
                if content is not None:
                    contents[zone] = content
        return contents

    def zone_contents(self, commit: str) -> dict[str, ZoneContent]:
        """Each zone's recorded content at `commit` (from its .dvc file)."""
        blobs = self.read_blobs(commit, [f"{zone}.dvc" for zone in TRACKED_ZONES])
        contents = {}
        for zone in TRACKED_ZONES:
            blob = blobs.get(f"{zone}.dvc")
            if blob is not None:
                content = parse_dvc_file(blob.decode(), f"{commit[:12]}:{zone}.dvc")
                if content is not None:
                    contents[zone] = content
        return contents

    def dir_entries(self, dir_md5: str) -> dict[str, str]:
        """relpath -> md5 of a .dir object, read from the cache, else from the remote."""
        path = object_path(self.cache_dir, dir_md5)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = self._fetch_from_remote(dir_md5)
        try:
            return {entry["relpath"]: entry["md5"] for entry in json.loads(raw)}
        except (ValueError, KeyError, TypeError) as exc:
            raise RepositoryError(f"DVC object {dir_md5} is not a readable directory listing: {exc}") from None

    def _fetch_from_remote(self, md5: str) -> bytes:
        if not self.remote:
            raise RepositoryError(f"DVC object {md5} is neither in the cache {self.cache_dir} nor on a remote")
        from dvc.repo import Repo

        with Repo(str(self.root)) as repo:
            odb = repo.cloud.get_remote_odb(REMOTE_NAME)
            try:
                with odb.fs.open(odb.oid_to_path(md5), "rb") as handle:
                    return handle.read()
            except FileNotFoundError:
                raise RepositoryError(f"DVC object {md5} is neither in the cache nor on remote {self.remote}") from None

    # -- remote --------------------------------------------------------------------------------

    def _push(self, zones: dict[str, ZoneContent]) -> None:
        """Push each zone whose listing is not known to be on the remote: its files that the zone's
        last pushed listing did not have, then the listing (DVC transfers a .dir after its files, so a
        listing on the remote means all its files are there)."""
        marker = self._state_dir() / "pushed.json"
        try:
            pushed = json.loads(marker.read_text())
        except (FileNotFoundError, ValueError):
            pushed = {}
        done: dict[str, str] = pushed.get(self.remote or "", {})
        if not isinstance(done, dict):
            done = {}
        todo = {zone: content for zone, content in zones.items() if done.get(zone) != content.md5}
        if not todo:
            return
        from dvc.repo import Repo
        from dvc_data.hashfile.hash_info import HashInfo

        objects: set[HashInfo] = set()
        for zone, content in todo.items():
            files = set(self.dir_entries(content.md5).values())
            if done.get(zone):
                with contextlib.suppress(RepositoryError):
                    files -= set(self.dir_entries(done[zone]).values())
            objects.update(HashInfo("md5", md5) for md5 in files)
            objects.add(HashInfo("md5", content.md5))
        with Repo(str(self.root)) as repo:
            result = repo.cloud.push(objects)
        if result.failed:
            raise RepositoryError(f"push to DVC remote {self.remote} failed for {len(result.failed)} object(s)")
        done.update({zone: content.md5 for zone, content in todo.items()})
        pushed[self.remote or ""] = done
        atomic_write_bytes(marker, json.dumps(pushed).encode())
        log.info("pushed %d zone(s) (%d object(s) checked) to %s", len(todo), len(objects), self.remote)

    # -- lookups -------------------------------------------------------------------------------

    def states(self) -> list[dict[str, Any]]:
        """Every tagged data state, oldest first: tag, commit, date, its pins and run."""
        if not (self.root / ".git").exists():
            return []
        out = self._git(
            "for-each-ref", "--sort=creatordate", "refs/tags",
            "--format=%(refname:short)%00%(*objectname)%00%(creatordate:iso-strict)%00%(contents)%01",
        )
        states = []
        for entry in out.split("\x01"):
            entry = entry.strip("\n")
            if not entry:
                continue
            name, commit, date, contents = entry.split("\x00", 3)
            try:
                record = json.loads(contents.strip())
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or "data_state_id" not in record:
                continue
            # The tag's own date has whole seconds; the record's time tells states of one second apart.
            states.append({**record, "tag": name, "commit": commit, "date": record.get("taken_at") or date})
        return sorted(states, key=state_time)

    def resolve(self, ref: str, *, dates: str = "data") -> dict[str, Any]:
        """A data state by id, tag, commit (or its prefix of 7+ characters), ISO date/time or "latest".

        A date/time names, with `dates="data"` (the default), the data's date: the last state whose
        data interval ends at or before it (a bare date D means the end of day D, so the state of the
        interval [D, D+1) is found); with `dates="snapshot"`, the wall-clock time of the snapshot: the
        last state snapshotted at or before it (a bare date means the end of that day). UTC when no
        offset is given."""
        if dates not in DATE_MEANINGS:
            raise ParamError(f"dates={dates!r}: a date names the data's interval end ('data') or the "
                             "snapshot's time ('snapshot')")
        ref = str(ref).strip()
        states = self.states()
        if ref == "latest" and states:
            return states[-1]
        for state in reversed(states):
            if ref in (state["data_state_id"], state["tag"]):
                return state
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            for state in reversed(states):
                if state["commit"].startswith(ref):
                    return state
        when = _parse_when(ref, dates)
        if when is not None:
            if dates == "snapshot":
                for state in reversed(states):
                    if state_time(state) <= when:
                        return state
                raise RepositoryError(f"no data state snapshotted at or before {when.isoformat()} in {self.root} "
                                      f"(the first is from {states[0]['date'] if states else 'never'})")
            dated = sorted(((data_end(s), state_time(s), i, s) for i, s in enumerate(states)), key=lambda t: t[:3])
            before = [t[3] for t in dated if t[0] <= when]
            if before:
                return before[-1]
            first = dated[0][0].isoformat() if dated else "none: no state yet"
            raise RepositoryError(f"no data state whose interval ends at or before {when.isoformat()} in "
                                  f"{self.root} (the earliest interval end is {first}; dates='snapshot' looks "
                                  "up the snapshots' wall-clock times instead)")
        raise RepositoryError(f"no data state {ref!r} in {self.root} (known: {len(states)} tagged states); "
                              "give a data state id (ds-...), a tag, a commit, an ISO date or 'latest'")

    # -- restore -------------------------------------------------------------------------------

    def restore(self, ref: str, dest: Path | str, *, link_types: Iterable[str] = RESTORE_LINK_TYPES,
                dates: str = "data") -> dict[str, Any]:
        """Materialise the data state `ref` into `dest` (absent or empty) and verify every file's hash.

        The state is restored into a temporary sibling folder and renamed into place when complete,
        so a killed restore leaves no half-restored `dest`. Data comes from this repository's cache
        when it is on this machine, else (or for objects missing there) from the DVC remote.
        """
        from dvc.repo import Repo

        state = self.resolve(ref, dates=dates)
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise RepositoryError(f"restore target {dest} is not empty")
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".restoring", dir=dest.parent))
        try:
            run_command(["git", "clone", "--quiet", "--no-checkout", str(self.root.resolve()), str(work)])
            run_command(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", state["commit"]], cwd=work)
            local_cache = self.cache_dir
            with Repo(str(work)) as repo, repo.config.edit("local") as conf:
                conf.setdefault("cache", {})["type"] = ",".join(link_types)
                if local_cache.exists():
                    conf["cache"]["dir"] = str(local_cache.resolve())
                if self.remote:
                    conf.setdefault("remote", {})[REMOTE_NAME] = {"url": self.remote, **self.remote_config}
                    conf.setdefault("core", {})["remote"] = REMOTE_NAME
            source = "cache"
            with Repo(str(work)) as repo:
                try:
                    if not local_cache.exists():
                        raise FileNotFoundError(local_cache)
                    repo.checkout(force=True)
                except Exception as exc:  # noqa: BLE001 - any checkout failure falls back to the remote
                    # The remote of the Versioner, else the one the repository's committed config names.
                    log.info("restoring %s from the DVC remote (%s)", state["tag"], exc)
                    try:
                        repo.pull(force=True)
                    except Exception as pull_exc:  # noqa: BLE001 - reported with both causes
                        raise RepositoryError(f"cannot restore {state['tag']}: not in the cache ({exc}) and not "
                                              f"pulled from the DVC remote ({pull_exc})") from pull_exc
                    source = "remote"
            verified = verify_tree(work)
            if dest.exists():
                dest.rmdir()
            os.rename(work, dest)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return {**state, "restored_to": str(dest), "files_verified": verified, "restored_from": source}

    def ensure_restored(self, ref: str, dest: Path | str, *, dates: str = "data") -> dict[str, Any]:
        """`restore`, except that a `dest` already holding this state (a retry, a second run) is only
        verified again. A `dest` holding anything else is an error."""
        state = self.resolve(ref, dates=dates)
        dest = Path(dest)
        if dest.is_dir() and any(dest.iterdir()):
            head = None
            if (dest / ".git").is_dir():
                with contextlib.suppress(RepositoryError):
                    head = run_command(["git", "rev-parse", "HEAD"], cwd=dest).strip()
            if head != state["commit"]:
                raise RepositoryError(f"restore target {dest} is not empty and does not hold {state['tag']} "
                                      f"(commit {state['commit'][:12]}); choose an empty folder")
            return {**state, "restored_to": str(dest), "files_verified": verify_tree(dest),
                    "restored_from": "workspace", "reused": True}
        return {**self.restore(state["data_state_id"], dest), "reused": False}

    # -- internals -----------------------------------------------------------------------------

    def read_blobs(self, commit: str, paths: list[str]) -> dict[str, bytes | None]:
        """Several files of one commit through one `git cat-file --batch` process."""
        query = "".join(f"{commit}:{path}\n" for path in paths).encode()
        proc = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, input=query, capture_output=True,
                              env={**os.environ, **GIT_ENV})
        if proc.returncode != 0:
            raise RepositoryError(f"git cat-file failed in {self.root}: {proc.stderr.decode(errors='replace')}")
        out, pos = proc.stdout, 0
        blobs: dict[str, bytes | None] = {}
        for path in paths:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if header[-1] == b"missing" or len(header) < 3:
                blobs[path] = None
                continue
            size = int(header[2])
            blobs[path] = out[pos:pos + size]
            pos += size + 1
        return blobs

    def _commit(self, message: str) -> bool:
        """Commit what is staged; False when there was nothing to commit (the first commit of a
        repository is made even when empty, so every snapshot has a commit to tag)."""
        proc = subprocess.run(["git", "commit", "--quiet", "-m", message], cwd=self.root, capture_output=True,
                              text=True, env={**os.environ, **GIT_ENV})
        if proc.returncode == 0:
            return True
        if "nothing to commit" not in proc.stdout + proc.stderr:
            raise RepositoryError(f"git commit failed in {self.root}: {proc.stderr.strip() or proc.stdout.strip()}")
        if self._has_head():
            return False
        self._git("commit", "--quiet", "--allow-empty", "-m", message)
        return True

    def _tree_of(self, commit: str) -> str:
        return self._git("rev-parse", f"{commit}^{{tree}}").strip()

    def _has_head(self) -> bool:
        try:
            self._git("rev-parse", "--verify", "--quiet", "HEAD")
            return True
        except RepositoryError:
            return False

    def _tag_commit(self, tag: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}").strip()
        except RepositoryError:
            return None

    def _suffixed_tags(self, tag: str) -> list[tuple[str, str]]:
        """The tags <tag>+2, <tag>+3, ... that exist, with their commits."""
        found = []
        n = 2
        while (commit := self._tag_commit(f"{tag}+{n}")) is not None:
            found.append((f"{tag}+{n}", commit))
            n += 1
        return found

    def _next_free_tag(self, tag: str) -> str:
        n = 2
        while self._tag_commit(f"{tag}+{n}") is not None:
            n += 1
        return f"{tag}+{n}"

    def _clear_stale_git_locks(self) -> None:
        """Remove lock files a killed git process left behind. Every git write to this repository
        happens under the snapshot lock, which this process holds, so any such lock is stale."""
        git_dir = self.root / ".git"
        candidates = [git_dir / name for name in ("index.lock", "HEAD.lock", "packed-refs.lock", "config.lock")]
        refs = git_dir / "refs"
        if refs.exists():
            candidates.extend(refs.rglob("*.lock"))
        for lock in candidates:
            if lock.exists():
                log.warning("removing stale git lock %s (left by a killed process)", lock)
                lock.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two runs snapshotting at once take turns: the second waits, then commits on top.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".snapshot.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The repository's snapshot lock, for other writers of its history (retention)."""
        return self._lock()

    def _git(self, *args: str) -> str:
        return run_command(["git", *args], cwd=self.root)


def _load_index(path: Path, versioner: Versioner) -> dict[str, Any]:
    try:
        index = marshal.loads(path.read_bytes())
    except (FileNotFoundError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(index, dict) or index.get("version") != INDEX_VERSION:
        return {}
    if index.get("cache") != str(versioner.cache_dir.resolve()):
        return {}  # the cache moved: nothing the index says is known to be in it
    return index


def _pins_of(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _META_KEYS}


def _parse_when(ref: str, dates: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}", ref):
        return None
    try:
        if dates == "data" and is_date_only(ref):
            # The end of day D as an interval end: the start of D+1, where the interval [D, D+1) ends.
            start = parse_instant(ref, "restore target")
            assert start is not None
            return start + timedelta(days=1)
        return parse_instant(ref, "restore target", day_end=True)
    except TimeFormatError as exc:
        raise RepositoryError(f"{exc} (it looks like a date)") from None


def data_end(state: dict[str, Any]) -> datetime:
    """Where the data of a state ends: its run's interval end, else the interval key of its tag
    (<dag>/<stage>/<YYYYmmddTHHMMSSZ>[+n]), else (a state of no interval) when it was taken, which its
    data cannot postdate."""
    end = (state.get("run") or {}).get("interval_end")
    if end:
        parsed = parse_time(end)
        if parsed is not None:
            return parsed
    key = str(state.get("tag", "")).rsplit("/", 1)[-1].split("+", 1)[0]
    try:
        return datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return state_time(state)


def snapshot_stage(
    loaded: LoadedManifest,
    stage: str,
    *,
    dag_id: str,
    interval_key: str,
    run: dict[str, Any] | None = None,
    versioner: Versioner | None = None,
    repository: DataRepository | None = None,
) -> Snapshot:
    """Snapshot the repository after `stage` of `dag_id` for one interval, tagged
    <dag>/<stage>/<interval>, with the pins `stage_pins` defines. The Airflow operator and the
    command line both call this, so the same content gets the same data state id from either."""
    from datacentric.repository import DataRepository
    from datacentric.settings import PROJECT_ROOT, Settings

    versioner = versioner or Versioner.from_settings()
    repository = repository or DataRepository(Settings.from_env().repository).init()
    run = dict(run or {})
    label = f" (run {run['run_id']})" if run.get("run_id") else ""
    return versioner.snapshot(
        tag_name(dag_id, stage, interval_key),
        message=f"{dag_id} {stage} for {interval_key}{label}",
        pins=stage_pins(loaded, repository, PROJECT_ROOT),
        run={"dag_id": dag_id, "stage": stage, **run},
    )


def verify_tree(root: Path) -> int:
    """Check every DVC-tracked file against the md5 DVC recorded; returns how many were checked."""
    from dvc.repo import Repo

    checked = 0
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            for out in stage.outs:
                out_path = Path(out.fs_path)
                if out.hash_info.isdir:
                    entries = out.get_obj()
                    if entries is None:
                        raise RepositoryError(f"the file list of {out_path} ({out.hash_info.value}) is missing")
                    for key, _, oid in entries:
                        file_path = out_path.joinpath(*key)
                        if not file_path.is_file() or md5_file(file_path) != oid.value:
                            raise RepositoryError(f"restored file {file_path} does not match its recorded hash")
                        checked += 1
                elif out.hash_info.value:
                    if not out_path.is_file() or md5_file(out_path) != out.hash_info.value:
                        raise RepositoryError(f"restored file {out_path} does not match its recorded hash")
                    checked += 1
    return checked
