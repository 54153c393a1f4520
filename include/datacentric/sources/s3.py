"""Objects under an S3 prefix (any S3-compatible endpoint). The boto3 client is handed in by the caller
(the Airflow hook builds it from a connection), so credentials never pass through the manifest.

An object's identity is its ETag: a run that finds nothing new downloads nothing. With
`date_in_name`, a run takes only the objects whose key is dated inside its window.

An S3 failure is an error naming the bucket and key, the service's code and what it means: a missing
bucket, refused or missing credentials and an invalid bucket name fail without retrying (the manifest
or the connection must change); an endpoint that cannot be reached, a throttled request or an object
that vanished between listing and download may be retried.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from datacentric.errors import SourceError
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
from datacentric.sources.formats import compression_of, decompress, parse


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
                                      origin=origin, identity=_identity(obj), date=date))
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - every client failure becomes an error naming the bucket
            raise self._failure(exc, "list objects", None) from None
        if not matched:
            raise self.error(self.where(), "no data found (empty source)")
        return sorted(units, key=lambda u: u.origin)

    def read(self, unit: Unit) -> ParsedUnit:
        loc = self.spec.location
        key = unit.origin.removeprefix(f"s3://{loc.bucket}/")
        try:
            body = self.client.get_object(Bucket=loc.bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001 - every client failure becomes an error naming the object
            raise self._failure(exc, "download", key) from None
        data = decompress(body, compression_of(key, loc.compression), source=self.name, origin=unit.origin)
        parsed = parse(data, loc.format, source=self.name, origin=unit.origin,
                       kinds={n: c.type for n, c in self.spec.columns.items()},
                       encoding=loc.encoding, delimiter=loc.delimiter)
        parsed.fingerprint = sha256_bytes(body)
        return parsed

    def _failure(self, exc: Exception, action: str, key: str | None) -> SourceError:
        """An S3 failure in words: bucket, key, the service's code and what to do about it."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            ParamValidationError,
        )

        loc = self.spec.location
        where = f"s3://{loc.bucket}/{key}" if key else self.where()
        conn = f"connection {loc.conn_id!r}"

        def problem(text: str) -> str:
            return f"cannot {action} ({text})"

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", "")) or "unknown"
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = exc.response.get("Error", {}).get("Message") or str(exc)
            if code == "NoSuchBucket":
                return self.input_error(where, problem(f"NoSuchBucket: bucket {loc.bucket!r} does not exist at the "
                                                       f"endpoint of {conn}; check location.bucket and the endpoint"))
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
                        "AccountProblem", "InvalidToken", "ExpiredToken") or status in (401, 403):
                return self.input_error(where, problem(f"{code}: {text}; the credentials of {conn} may not read "
                                                       f"bucket {loc.bucket!r}"))
            if code in ("NoSuchKey", "404"):
                return self.error(where, problem(f"{code}: the object was deleted or replaced after it was listed; "
                                                 "the next run lists again"))
            if code in ("InvalidBucketName", "PermanentRedirect", "AuthorizationHeaderMalformed",
                        "IllegalLocationConstraintException"):
                return self.input_error(where, problem(f"{code}: {text}; check location.bucket {loc.bucket!r} and "
                                                       f"the region or endpoint of {conn}"))
            return self.error(where, problem(f"{code}{f', HTTP {status}' if status else ''}: {text}"))
        if isinstance(exc, NoCredentialsError):
            return self.input_error(where, problem(f"no AWS credentials: {conn} has none, nor the environment"))
        if isinstance(exc, ParamValidationError):
            # botocore's text: "Parameter validation failed:\nInvalid bucket name "x": Bucket name must match..."
            detail = (" ".join(str(exc).splitlines()[1:]) or str(exc)).split(": ")[0]
            return self.input_error(where, problem(f"{detail}; check location.bucket {loc.bucket!r}"))
        if isinstance(exc, EndpointConnectionError):
            endpoint = "/".join(str(exc.kwargs.get("endpoint_url", "")).split("/")[:3])
            return self.error(where, problem(f"cannot reach the S3 endpoint {endpoint} of {conn}: is it running, "
                                             "is the endpoint right?"))
        kind = "BotoCoreError" if isinstance(exc, BotoCoreError) else "error"
        return self.error(where, problem(f"{exc.__class__.__name__}: {exc}".strip() or kind))


def _identity(obj: Mapping[str, Any]) -> str | None:
    """An object's change marker: its ETag, else size and modification time (some S3-compatible
    stores omit the ETag), else None (read to know)."""
    etag = obj.get("ETag")
    if etag:
        return str(etag).strip('"')
    if obj.get("Size") is not None and obj.get("LastModified") is not None:
        return f"{obj['Size']}-{obj['LastModified']}"
    return None
