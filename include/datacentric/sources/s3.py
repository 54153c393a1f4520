"""Objects under an S3 prefix (any S3-compatible endpoint). The boto3 client is handed in by the caller
(the Airflow hook builds it from a connection), so credentials never pass through the manifest.

An object's identity is its ETag: a run that finds nothing new downloads nothing. With
`date_in_name`, a run takes only the objects whose key is dated inside its window.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from datacentric.hashing import sha256_bytes
from datacentric.sources.base import (
    EVERYTHING,
    ParsedUnit,
    SourceReader,
    Unit,
    Window,
    date_in_name,
    date_pattern,
    safe_unit_name,
)
from datacentric.sources.formats import parse


class S3Reader(SourceReader):
    @property
    def client(self) -> Any:
        client = self.clients.get("s3")
        if client is None:
            import boto3

            client = self.clients["s3"] = boto3.client("s3")
        return client

    def where(self) -> str:
        loc = self.spec.location
        return f"s3://{loc.bucket}/{loc.prefix}{loc.pattern}"

    def units(self, window: Window = EVERYTHING, state: Mapping[str, Any] | None = None) -> list[Unit]:
        from botocore.exceptions import BotoCoreError, ClientError

        loc = self.spec.location
        pattern = date_pattern(loc.date_in_name) if loc.date_in_name else None
        units, matched = [], 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    relative = key[len(loc.prefix):].lstrip("/")
                    if not relative or key.endswith("/") or not fnmatch.fnmatch(relative, loc.pattern):
                        continue
                    matched += 1
                    origin = f"s3://{loc.bucket}/{key}"
                    date = None
                    if pattern is not None:
                        date = date_in_name(relative, pattern)
                        if date is None:
                            raise self.error(origin, f"no date matching date_in_name {loc.date_in_name!r} in its key")
                        if not window.contains(date):
                            continue
                    units.append(Unit(name=safe_unit_name(str(PurePosixPath(relative).with_suffix(""))),
                                      origin=origin, identity=obj["ETag"].strip('"'), date=date))
        except (ClientError, BotoCoreError) as exc:
            raise self.error(self.where(), f"cannot list objects ({exc})") from None
        if not matched:
            raise self.error(self.where(), "no data found (empty source)")
        return sorted(units, key=lambda u: u.origin)

    def read(self, unit: Unit) -> ParsedUnit:
        from botocore.exceptions import BotoCoreError, ClientError

        loc = self.spec.location
        key = unit.origin.removeprefix(f"s3://{loc.bucket}/")
        try:
            body = self.client.get_object(Bucket=loc.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise self.error(unit.origin, f"cannot download ({exc})") from None
        parsed = parse(body, loc.format, source=self.name, origin=unit.origin,
                       kinds={n: c.type for n, c in self.spec.columns.items()},
                       encoding=loc.encoding, delimiter=loc.delimiter)
        parsed.fingerprint = sha256_bytes(body)
        return parsed
