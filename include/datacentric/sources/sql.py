"""A table or a query in a SQL database through SQLAlchemy: whole, by time partition, or above a
watermark. Design note: docs/explanation/ingestion.md.

Rows the incremental column cannot place (a NULL; on SQLite, text that is not an ISO 8601 time) are
read as one more unit, `<table>/unplaced`, and quarantined with the reason: they are counted, never
silently left behind. SQLite text times are compared as UTC (`datetime()` applies their offset), so a
`-05:00` time lands in the partition of its UTC day. A SQLite file named by the manifest lies under the
landing root and must exist: reading never creates one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from datacentric.hashing import sha256_json, sha256_text
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
UNPLACED = "unplaced"  # the unit of the rows the incremental column cannot place
_ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


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

    def _confined_url(self) -> Any:
        """The URL to connect to; a SQLite file must exist (SQLite would create an empty one), and one
        the manifest names must lie under the landing root, like a file source's path."""
        import sqlalchemy as sa

        try:
            url = sa.make_url(self.url())
        except sa.exc.ArgumentError:
            raise self.input_error("location.url", "not a valid SQLAlchemy URL") from None
        if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
            return url
        database = url.database
        if url.query.get("uri") in ("true", "1") and database.startswith("file:"):
            database = database.removeprefix("file:").split("?", 1)[0]
        from_manifest = self.spec.location.url is not None
        root = self.landing_root.resolve()
        path = Path(database)
        where = "location.url" if from_manifest else f"conn_id {self.spec.location.conn_id!r}"
        if from_manifest:
            path = (root / path).resolve()  # a relative path is under the landing root, as for files
            if path != root and root not in path.parents:
                raise self.input_error(where, f"SQLite file {path} is outside the landing root {root} "
                                       "(write sqlite:///{landing}/<file>)")
            url = url.set(database=str(path)) if database == url.database else url
        if not path.is_file():
            problem = "is a folder" if path.exists() else "does not exist"
            raise self.input_error(where, f"SQLite file {path} {problem}; a source is only read, never created")
        return url

    def engine(self) -> Any:
        if self._engine is None:
            import sqlalchemy as sa

            url = self._confined_url()
            try:
                self._engine = sa.create_engine(url)
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
            units = self._partition_units(window, state, base)
        else:
            watermark = state.get("cursor")
            label = "start" if watermark is None else _label(watermark)
            units = [Unit(name=f"{base}/after-{label}", origin=f"{self.where()}?{column}>{label}",
                          bounds=(watermark, None))]
        return units + self._unplaced_unit(base)

    def _unplaced_unit(self, base: str) -> list[Unit]:
        """The unit of the rows no partition or watermark reaches, when there are any."""
        import sqlalchemy as sa

        with self._connection() as conn:
            source = self._selectable(conn)
            column = self._column(source)
            count = self._execute(conn, sa.select(sa.func.count()).select_from(source)
                                  .where(~self._placed(conn, column))).scalar()
        if not count:
            return []
        name = self.spec.location.incremental_column
        return [Unit(name=f"{base}/{UNPLACED}", origin=f"{self.where()}?{name}={UNPLACED}")]

    def _partition_units(self, window: Window, state: Mapping[str, Any], base: str) -> list[Unit]:
        import sqlalchemy as sa

        loc = self.spec.location
        with self._connection() as conn:
            source = self._selectable(conn)
            column = self._column(source)
            when = self._utc_text(conn, column)
            statement = sa.select(sa.func.min(when), sa.func.max(when)).where(self._placed(conn, column))
            low_value, high_value = self._execute(conn, statement).one()
        if low_value is None:
            raise self.error(self.where(), f"no rows with a value in {loc.incremental_column!r} (empty source)")
        if not self._is_sqlite(conn):
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
                statement = sa.select(*self._as_delivered(conn, source))
            else:
                statement = sa.select(sa.literal_column("*")).select_from(source)
            column = self._column(source) if loc.incremental_column else None
            if column is not None and unit.name.endswith(f"/{UNPLACED}"):
                return self._read_unplaced(conn, statement.where(~self._placed(conn, column)), unit)
            if column is not None and unit.bounds is not None:
                low, high = unit.bounds
                if self.spec.columns[loc.incremental_column].type in _TIME_KINDS:
                    when = self._utc_text(conn, column)
                    statement = statement.where(self._placed(conn, column),
                                                when >= self._bind(conn, source, column, low),
                                                when < self._bind(conn, source, column, high))
                else:
                    statement = statement.where(self._placed(conn, column))
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

    def _read_unplaced(self, conn: Any, statement: Any, unit: Unit) -> ParsedUnit:
        """Every row the incremental column cannot place, as a quarantined row with its reason."""
        import pandas as pd
        import sqlalchemy as sa

        name = self.spec.location.incremental_column
        try:
            frame = pd.read_sql(statement, conn)
        except sa.exc.SQLAlchemyError as exc:
            problem = f"query failed: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
            raise self.error(unit.origin, problem) from None
        time_kind = self.spec.columns[name].type in _TIME_KINDS
        bad = []
        for number, record in enumerate(frame.to_dict(orient="records"), start=1):
            value = record.get(name)
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                place = "in any partition" if time_kind else "above or below the watermark"
                reason = f"{name}: null; the row has no place {place}"
            else:
                reason = (f"{name}: '{str(value)[:40]}' is not an ISO 8601 time (YYYY-MM-DD[ HH:MM[:SS]][Z|+HH:MM]); "
                          "the row has no partition")
            bad.append((number, json.dumps(record, default=str, sort_keys=True)[:1000], reason))
        return ParsedUnit(frame.iloc[0:0], bad, fingerprint=sha256_json(bad), cursor=None)

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

    def _execute(self, conn: Any, statement: Any) -> Any:
        import sqlalchemy as sa

        try:
            return conn.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            problem = f"query failed: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
            raise self.error(self.where(), problem) from None

    @staticmethod
    def _is_sqlite(conn: Any) -> bool:
        return bool(conn.dialect.name == "sqlite")

    def _placed(self, conn: Any, column: Any) -> Any:
        """The rows the incremental column places: not NULL and, for a SQLite time, ISO 8601 text."""
        import sqlalchemy as sa

        if self._is_sqlite(conn) and self.spec.columns[self.spec.location.incremental_column].type in _TIME_KINDS:
            text = sa.type_coerce(column, sa.Text)
            return sa.and_(sa.func.typeof(column) == "text", text.op("GLOB")(_ISO_GLOB),
                           sa.func.datetime(text).is_not(None))
        return column.is_not(None)

    def _utc_text(self, conn: Any, column: Any) -> Any:
        """The column as the database compares it; on SQLite, time text brought to UTC by datetime()."""
        import sqlalchemy as sa

        if self._is_sqlite(conn):
            return sa.func.datetime(sa.type_coerce(column, sa.Text), type_=sa.Text)
        return column

    def _as_delivered(self, conn: Any, table: Any) -> list[Any]:
        """A table's columns; on SQLite, time columns as their stored text (SQLAlchemy's parser would
        fail on a layout it does not know, and typing reports such a value with its row)."""
        import sqlalchemy as sa

        if not self._is_sqlite(conn):
            return list(table.c)
        times = (sa.DateTime, sa.Date, sa.Time)
        return [sa.type_coerce(c, sa.Text).label(c.name) if isinstance(c.type, times) else c for c in table.c]

    def _bind(self, conn: Any, source: Any, column: Any, when: datetime) -> Any:
        """A time bound in the column's own kind, so the database compares like with like."""
        import sqlalchemy as sa

        if self._is_sqlite(conn):
            return when.strftime("%Y-%m-%d %H:%M:%S")  # datetime()'s UTC layout
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
            raise self.input_error("location.url", "not a valid SQLAlchemy URL") from None


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
