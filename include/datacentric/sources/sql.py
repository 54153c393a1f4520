"""A table or a query in a SQL database through SQLAlchemy.

The URL comes from the manifest (`url`, with `{landing}` for the landing root) or from a connection the
caller resolves (`conn_id`, passed in as clients["sql_url"]). Table names are quoted by SQLAlchemy, never
spliced into SQL text.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from datacentric.repository import frame_to_parquet_bytes
from datacentric.sources.base import ParsedUnit, SourceReader, Unit


class SqlReader(SourceReader):
    def url(self) -> str:
        loc = self.spec.location
        if loc.url is not None:
            return loc.url.replace("{landing}", str(self.landing_root.resolve()))
        url = self.clients.get("sql_url")
        if not url:
            raise self.error(f"conn_id {loc.conn_id!r}", "no SQLAlchemy URL was resolved for this connection")
        return str(url)

    def units(self) -> list[Unit]:
        # A table is one unit: its current contents. Its fingerprint is only known after reading.
        loc = self.spec.location
        what = f"table {loc.table}" if loc.table else "query"
        return [Unit(name=loc.table or "query", origin=f"{self._redacted_url()}#{what}", fingerprint=None)]

    def read(self, unit: Unit) -> ParsedUnit:
        import sqlalchemy as sa

        loc = self.spec.location
        engine = sa.create_engine(self.url())
        try:
            with engine.connect() as conn:
                if loc.table:
                    schema, _, table_name = loc.table.rpartition(".")
                    table = sa.Table(table_name, sa.MetaData(), schema=schema or None, autoload_with=conn)
                    frame = pd.read_sql(sa.select(table), conn)
                else:
                    frame = pd.read_sql(sa.text(loc.query), conn)
        except sa.exc.NoSuchTableError:
            raise self.error(unit.origin, f"table {loc.table!r} does not exist") from None
        except sa.exc.SQLAlchemyError as exc:
            raise self.error(unit.origin, f"query failed: {exc.__class__.__name__}: {exc.orig or exc}") from None
        finally:
            engine.dispose()
        return ParsedUnit(frame, fingerprint=hashlib.sha256(frame_to_parquet_bytes(frame)).hexdigest())

    def _redacted_url(self) -> str:
        import sqlalchemy as sa

        try:
            return sa.make_url(self.url()).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            raise self.error("location.url", "not a valid SQLAlchemy URL") from None
