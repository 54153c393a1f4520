"""Online stores Feast loads by class path (SQLite, Redis), with a columnar, newest-wins write path
for materialization; Feast's layout and reads are kept. Design note: docs/explanation/features.md."""

from __future__ import annotations

SQLITE_STORE = "datacentric.features.online_stores.sqlite.SqliteOnlineStore"
REDIS_STORE = "datacentric.features.online_stores.redis.RedisOnlineStore"

__all__ = ["REDIS_STORE", "SQLITE_STORE"]
