"""Feast's Redis online store with a fast, atomic newest-wins write path (a Lua script per batch of
keys). Design note and settings: docs/explanation/features.md (Redis)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from feast import utils
from feast.feature_view import FeatureView
from feast.infra.online_stores import redis as feast_redis
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import Field

from datacentric.features.online_stores import REDIS_STORE, encoding
from datacentric.features.online_stores._arrow import feature_columns, record_batch, to_protos

# Entities encoded at a time: bounds the Python objects alive at once.
WRITE_SLICE = 10_000
# KEYS: entity hash keys. ARGV[1]: arguments per key, ARGV[2]: key ttl in seconds (0: none); then per
# key: event seconds, nanos, and the HSET field/value pairs, the `_ts:<view>` pair first (so the
# timestamp field is found at a fixed place and the pairs go to HSET without building a Lua table).
NEWEST_WINS = """
local per = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local written = 0

local function varint(s, pos)
  local value, scale, start = 0, 1, pos
  while true do
    local b = string.byte(s, pos)
    if b == nil then return nil, pos end
    value = value + (b % 128) * scale
    pos = pos + 1
    if b < 128 then
      if pos - start == 10 then value = value - 18446744073709551616 end  -- negative int64
      return value, pos
    end
    scale = scale * 128
  end
end

-- google.protobuf.Timestamp: field 1 seconds, field 2 nanos, both varints, zero fields left out
local function stamp(s)
  local seconds, nanos, pos = 0, 0, 1
  while pos <= #s do
    local tag = string.byte(s, pos)
    local value
    value, pos = varint(s, pos + 1)
    if value == nil then return nil end
    if tag == 8 then seconds = value elseif tag == 16 then nanos = value else return nil end
  end
  return seconds, nanos
end

for i = 1, #KEYS do
  local base = 2 + (i - 1) * per
  local stored = redis.call('HGET', KEYS[i], ARGV[base + 3])
  local older = false
  if stored then
    local s, n = stamp(stored)
    local seconds, nanos = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
    if s ~= nil and (s > seconds or (s == seconds and n > nanos)) then older = true end
  end
  if not older then
    redis.call('HSET', KEYS[i], unpack(ARGV, base + 3, base + per))
    if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
    written = written + 1
  end
end
return written
"""


class RedisOnlineStoreConfig(feast_redis.RedisOnlineStoreConfig):
    """Feast's Redis store settings plus how many entities one script call writes."""

    # Feast picks the store class by `type`; its base config's Literal admits only "redis".
    type: Literal["datacentric.features.online_stores.redis.RedisOnlineStore"] = REDIS_STORE  # type: ignore[assignment]
    entities_per_call: int = Field(default=500, ge=1)


class RedisOnlineStore(feast_redis.RedisOnlineStore):
    """Feast's Redis store; writes are server-side compare-and-set calls over many keys."""

    _script: Any = None

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Feast's write interface (used by `feast materialize`, push and write_to_online_store)."""
        if not data:
            return
        if _is_cluster(config):
            super().online_write_batch(config, table, data, progress)
            return
        view = feast_redis._versioned_fv_name(table, config)
        version = config.entity_key_serialization_version
        ts_field = f"_ts:{view}".encode()
        keys, rows = [], []
        for entity_key, values, timestamp, _ in data:
            stamp = Timestamp()
            stamp.FromDatetime(utils.make_tzaware(timestamp))
            keys.append(_redis_key(config.project, entity_key, entity_key_serialization_version=version))
            row = [stamp.seconds, stamp.nanos, ts_field, stamp.SerializeToString()]
            for name, value in values.items():
                row += (_mmh3(f"{view}:{name}"), value.SerializeToString())
            rows.append(row)
        with _Writer(self, config) as writer:
            # rows of different lengths (feature subsets) go to different calls
            for width in sorted({len(row) for row in rows}):
                picked = [i for i, row in enumerate(rows) if len(row) == width]
                writer.submit([keys[i] for i in picked], [rows[i] for i in picked])
        if progress:
            progress(len(data))

    def write_arrow(self, config: RepoConfig, table: FeatureView, batch: pa.Table | pa.RecordBatch) -> int:
        """Write entity rows given as Arrow columns (join keys, the timestamp field, the features),
        at most one row per entity. Returns how many entities were written (the others were older
        than the stored values)."""
        batch = record_batch(batch)
        if batch.num_rows == 0:
            return 0
        keys, names, value_types, timestamp = feature_columns(table)
        kinds = [f.dtype.to_value_type().value for f in table.features]
        covered = all(encoding.supported(batch.schema.field(n).type, k) for n, k in zip(names, kinds, strict=True))
        encoded = None
        if covered and not _is_cluster(config):
            encoded = encoding.entity_keys([batch.column(k) for k in keys], keys, value_types,
                                           suffix=config.project.encode("utf-8"))
        if encoded is None:
            data = to_protos(batch, table)
            self.online_write_batch(config, table, data, None)
            return len(data)
        view = feast_redis._versioned_fv_name(table, config)
        fields = [_mmh3(f"{view}:{name}") for name in names]
        with _Writer(self, config) as writer:
            # Encoding the next slice here overlaps with the server running the script on the last.
            for lo in range(0, batch.num_rows, WRITE_SLICE):
                part = batch.slice(lo, WRITE_SLICE)
                stamps, seconds, nanos = encoding.timestamp_protos(part.column(timestamp))
                rows = np.empty((part.num_rows, 4 + 2 * len(names)), dtype=object)
                rows[:, 0] = seconds.tolist()
                rows[:, 1] = nanos.tolist()
                rows[:, 2] = f"_ts:{view}".encode()
                rows[:, 3] = stamps.to_pylist()
                for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
                    rows[:, 4 + 2 * j] = fields[j]
                    rows[:, 5 + 2 * j] = encoding.covered(encoding.values(part.column(name), kind), kind).to_pylist()
                writer.submit(encoded.slice(lo, WRITE_SLICE).to_pylist(), rows)
        return writer.written

    def disconnect(self) -> None:
        """Release the client's connections; the next call opens new ones."""
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
                self._script = None

    def _newest_wins(self, config: RepoConfig) -> Any:
        client = self._get_client(config.online_store)
        if self._script is None:
            self._script = client.register_script(NEWEST_WINS)
        return self._script, client


class _Writer:
    """Runs the newest-wins script over keys in calls of `entities_per_call` keys, on two background
    threads (two connections): the caller encodes the next keys and one thread packs its call while
    the server runs the other's. Calls may finish in any order; the script's timestamp comparison
    makes the result the same. At most three submissions wait at a time (bounded memory); errors
    surface in `submit` or on exit."""

    def __init__(self, store: RedisOnlineStore, config: RepoConfig) -> None:
        from concurrent.futures import ThreadPoolExecutor

        settings = config.online_store
        self.script, self.client = store._newest_wins(config)
        self.step = int(getattr(settings, "entities_per_call", 500))
        self.ttl = int(settings.key_ttl_seconds or 0)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="redis-online-write")
        self.pending: list[Any] = []
        self.written = 0

    def __enter__(self) -> _Writer:
        return self

    def submit(self, keys: list[bytes], rows: Sequence[Sequence[Any]] | np.ndarray) -> None:
        while len(self.pending) >= 3:
            self.written += self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self._run, keys, rows))

    def _run(self, keys: list[bytes], rows: Sequence[Sequence[Any]] | np.ndarray) -> int:
        written = 0
        per = len(rows[0]) if len(rows) else 0
        for lo in range(0, len(keys), self.step):
            chunk = rows[lo:lo + self.step]
            flat = chunk.reshape(-1).tolist() if isinstance(chunk, np.ndarray) else [x for row in chunk for x in row]
            written += int(self.script(keys=keys[lo:lo + self.step], args=[per, self.ttl, *flat], client=self.client))
        return written

    def __exit__(self, *exc: Any) -> None:
        try:
            for future in self.pending:
                if exc[0] is None:
                    self.written += future.result()
                else:
                    future.cancel()
        finally:
            self.pool.shutdown(wait=True)


def _is_cluster(config: RepoConfig) -> bool:
    return config.online_store.redis_type == feast_redis.RedisType.redis_cluster
