"""A table or a query in a SQL database through SQLAlchemy: whole, by time partition, or above a
watermark. Design note: docs/explanation/ingestion.md."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from datacentric.hashing import sha256_text
from datacentric.sources.base import (
    EVERYTHING,
    ParsedUnit,
    SourceReader,
    Unit,
    Window,
    floor_partition,
    next_partition,
    partitions,
    safe_unit_name,
)
from datacentric.times import parse_time

_TIME_KINDS = ("timestamp", "date")


class SqlReader(SourceReader):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine: Any = None
        self._sample: Any = None  # a value of the incremental column, to bind bounds of the same kind

    # -- connection ----------------------------------------------------------------------------

    def url(self) -> str:
        loc = self.spec.location
        if loc.url is not None:
            return loc.url.replace("{landing}", str(self.landing_root.resolve()))
        url = self.clients.get("sql_url")
        if not url:
            raise self.error(f"conn_id {loc.conn_id!r}", "no SQLAlchemy URL was resolved for this connection")
        return str(url)

    def engine(self) -> Any:
        if self._engine is None:
            import sqlalchemy as sa

            try:
                self._engine = sa.create_engine(self.url())
            except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
                raise self.error("location.url", f"not a usable SQLAlchemy URL ({exc})") from None
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def where(self) -> str:
        loc = self.spec.location
        return f"{self._redacted_url()}#{'table ' + loc.table if loc.table else 'query'}"

    # -- units ---------------------------------------------------------------------------------

    def units(self, window: Window = EVERYTHING, state: Mapping[str, Any] | None = None) -> list[Unit]:
        loc = self.spec.location
        state = state or {}
        base = safe_unit_name(loc.table or "query")
        column = loc.incremental_column
        if column is None:
            return [Unit(name=base, origin=self.where())]
        if self.spec.columns[column].type in _TIME_KINDS:
            return self._partition_units(window, state, base)
        watermark = state.get("cursor")
        label = "start" if watermark is None else _label(watermark)
        return [Unit(name=f"{base}/after-{label}", origin=f"{self.where()}?{column}>{label}", bounds=(watermark, None))]

    def _partition_units(self, window: Window, state: Mapping[str, Any], base: str) -> list[Unit]:
        import sqlalchemy as sa

        loc = self.spec.location
        with self._connection() as conn:
            source = self._selectable(conn)
            column = self._column(source)
            low_value, high_value = conn.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
        if low_value is None:
            raise self.error(self.where(), f"no rows with a value in {loc.incremental_column!r} (empty source)")
        self._sample = low_value
        low, high = parse_time(low_value), parse_time(high_value)
        assert low is not None and high is not None
        data_start = floor_partition(low, loc.partition)
        data_end = next_partition(floor_partition(high, loc.partition), loc.partition)
        if window.start is not None:
            lower = window.start
        else:
            cursor = parse_time(state.get("cursor"))
            # A catch-up re-reads the partition of its cursor: rows may have joined it since.
            lower = floor_partition(cursor, loc.partition) if cursor is not None else data_start
        lower = max(lower, data_start)
        upper = min(window.end, data_end) if window.end is not None else data_end
        return [
            Unit(name=f"{base}/{name}", origin=f"{self.where()}/{loc.partition}={name}", bounds=(start, end))
            for name, start, end in partitions(lower, upper, loc.partition)
        ] if lower < upper else []

    # -- reading -------------------------------------------------------------------------------

    def read(self, unit: Unit) -> ParsedUnit:
        import pandas as pd
        import sqlalchemy as sa

        loc = self.spec.location
        with self._connection() as conn:
            source = self._selectable(conn)
            if isinstance(source, sa.Table):
                statement = sa.select(source)
            else:
                statement = sa.select(sa.literal_column("*")).select_from(source)
            column = self._column(source) if loc.incremental_column else None
            if column is not None and unit.bounds is not None:
                low, high = unit.bounds
                if self.spec.columns[loc.incremental_column].type in _TIME_KINDS:
                    statement = statement.where(column >= self._bind(conn, source, column, low),
                                                column < self._bind(conn, source, column, high))
                else:
                    if low is not None:
                        statement = statement.where(column > low)
                    statement = statement.order_by(column)
            try:
                frame = pd.read_sql(statement, conn)
            except sa.exc.SQLAlchemyError as exc:
                problem = f"query failed: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
                raise self.error(unit.origin, problem) from None
        if column is None and frame.empty:
            raise self.error(unit.origin, "no rows (empty source)")
        return ParsedUnit(frame, fingerprint=_frame_fingerprint(frame), cursor=self._cursor_of(frame))

    def next_state(self, window: Window, state: Mapping[str, Any], cursors: list[Any]) -> dict[str, Any]:
        column = self.spec.location.incremental_column
        if column is None:
            return {}
        cursors = [c for c in cursors if c is not None]
        previous = state.get("cursor")
        if self.spec.columns[column].type in _TIME_KINDS:
            # Only a catch-up moves the cursor: a backfill of an old window must not make the next
            # catch-up skip what lies between.
            ends = [end for end in map(parse_time, cursors) if end is not None]
            if not window.is_catch_up or not ends:
                return {"cursor": previous} if previous is not None else {}
            before = parse_time(previous)
            latest = max(ends) if before is None else max(*ends, before)
            return {"cursor": latest.isoformat()}
        if not cursors:
            return {"cursor": previous} if previous is not None else {}
        return {"cursor": max([*cursors, *([previous] if previous is not None else [])])}

    # -- helpers -------------------------------------------------------------------------------

    def _connection(self) -> Any:
        import sqlalchemy as sa

        try:
            return self.engine().connect()
        except sa.exc.SQLAlchemyError as exc:
            raise self.error(self.where(), f"cannot connect: {getattr(exc, 'orig', None) or exc}") from None

    def _selectable(self, conn: Any) -> Any:
        import sqlalchemy as sa

        loc = self.spec.location
        if loc.query is not None:
            columns: list[sa.ColumnClause[Any]] = [sa.column(loc.incremental_column)] if loc.incremental_column else []
            return sa.text(loc.query).columns(*columns).subquery("source_query")
        schema, _, table_name = loc.table.rpartition(".")
        try:
            return sa.Table(table_name, sa.MetaData(), schema=schema or None, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise self.error(self.where(), f"table {loc.table!r} does not exist") from None
        except sa.exc.SQLAlchemyError as exc:
            problem = f"cannot read table {loc.table!r}: {getattr(exc, 'orig', None) or exc}"
            raise self.error(self.where(), problem) from None

    def _column(self, source: Any) -> Any:
        name = self.spec.location.incremental_column
        try:
            return source.c[name]
        except KeyError:
            found = ", ".join(c.name for c in source.c)
            raise self.error(self.where(), f"incremental column {name!r} not found (columns: {found})") from None

    def _bind(self, conn: Any, source: Any, column: Any, when: datetime) -> Any:
        """A time bound in the column's own kind, so the database compares like with like."""
        import sqlalchemy as sa

        if self._sample is None:
            self._sample = conn.execute(sa.select(column).where(column.is_not(None)).limit(1)).scalar()
        return bind_time(self._sample, when)

    def _cursor_of(self, frame: Any) -> Any:
        column = self.spec.location.incremental_column
        if column is None or column not in frame.columns or frame.empty:
            return None
        values = frame[column].dropna()
        if values.empty:
            return None
        if self.spec.columns[column].type in _TIME_KINDS:
            import pandas as pd

            latest = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce").max()
            return None if pd.isna(latest) else latest.isoformat()
        top = values.max()
        return top.item() if hasattr(top, "item") else top

    def _redacted_url(self) -> str:
        import sqlalchemy as sa

        try:
            return sa.make_url(self.url()).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            raise self.error("location.url", "not a valid SQLAlchemy URL") from None


def bind_time(sample: Any, when: datetime) -> Any:
    """`when` (UTC) as a value comparable with `sample`, a value the column holds."""
    if isinstance(sample, datetime):
        return when if sample.tzinfo is not None else when.replace(tzinfo=None)
    if isinstance(sample, date):
        return when.date()
    if isinstance(sample, str):
        # Text timestamps (SQLite) compare as text: write the bound in the column's own ISO layout.
        separator = sample[10] if len(sample) > 10 else None
        text = when.strftime("%Y-%m-%d") if separator is None else when.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
        if sample.endswith("Z"):
            text += "Z"
        elif re.search(r"[+-]\d{2}:?\d{2}$", sample[10:]):
            text += "+00:00"
        return text
    return when


def _label(value: Any) -> str:
    text = str(value)
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if clean != text or len(clean) > 60:
        clean = f"{clean[:40]}-{sha256_text(text)[:12]}"
    return clean


def _frame_fingerprint(frame: Any) -> str:
    import pandas as pd

    digest = hashlib.sha256(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return digest.hexdigest()
