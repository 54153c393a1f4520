"""SHA-256 digests of files, bytes, text and JSON documents: the one checksum helper of the project."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """The hex SHA-256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """The hex SHA-256 of a text, encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(value: Any) -> str:
    """The hex SHA-256 of a JSON document with sorted keys: equal values give equal digests."""
    return sha256_text(json.dumps(value, sort_keys=True, default=str))
