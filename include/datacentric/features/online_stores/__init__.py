"""Online stores Feast loads by class path, with a columnar write path for materialization.

`feature_store.yaml` names them like any Feast plug-in:

    online_store:
      type: datacentric.features.online_stores.sqlite.SqliteOnlineStore    # or ...redis.RedisOnlineStore
      path: data/online.db

They subclass Feast's own SQLite and Redis stores and keep their table layout, key serialization and
read path, so `feast` reads, `feast materialize` and the feature server work on them unchanged. What
they add is `write_arrow`: a batch of entity rows as Arrow columns goes to the store in one
transaction (SQLite, executemany) or in a few server-side script calls (Redis), with the keys and
values serialized a column at a time (`encoding`). Both stores keep the newest value of an entity:
a row older than the stored one never replaces it, so re-running or backfilling an old interval
cannot move the online store back in time.
"""

from __future__ import annotations

SQLITE_STORE = "datacentric.features.online_stores.sqlite.SqliteOnlineStore"
REDIS_STORE = "datacentric.features.online_stores.redis.RedisOnlineStore"

__all__ = ["REDIS_STORE", "SQLITE_STORE"]
