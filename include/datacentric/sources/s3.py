"""Objects under an S3 prefix (any S3-compatible endpoint). The boto3 client is handed in by the caller
(the Airflow hook builds it from a connection), so credentials never pass through the manifest."""

from __future__ import annotations

import fnmatch
import hashlib
from typing import Any

from datacentric.sources.base import ParsedUnit, SourceReader, Unit
from datacentric.sources.formats import parse


class S3Reader(SourceReader):
    @property
    def client(self) -> Any:
        client = self.clients.get("s3")
        if client is None:
            import boto3

            client = self.clients["s3"] = boto3.client("s3")
        return client

    def units(self) -> list[Unit]:
        loc = self.spec.location
        units = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=loc.bucket, Prefix=loc.prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                base = key.rsplit("/", 1)[-1]
                if not base or not fnmatch.fnmatch(base, loc.pattern):
                    continue
                stem = base.rsplit(".", 1)[0]
                units.append(Unit(name=stem, origin=f"s3://{loc.bucket}/{key}", fingerprint=obj["ETag"].strip('"')))
        return sorted(units, key=lambda u: u.origin)

    def read(self, unit: Unit) -> ParsedUnit:
        loc = self.spec.location
        key = unit.origin.removeprefix(f"s3://{loc.bucket}/")
        body = self.client.get_object(Bucket=loc.bucket, Key=key)["Body"].read()
        parsed = parse(body, loc.format, source=self.name, origin=unit.origin)
        parsed.fingerprint = unit.fingerprint or hashlib.md5(body).hexdigest()
        return parsed
