"""`.dvc` files: the per-zone records DVC reads (md5 of the zone's .dir object, size, file count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datacentric.errors import RepositoryError


@dataclass(frozen=True)
class ZoneContent:
    """A zone as DVC records it: the md5 of its .dir object, total size and file count."""

    md5: str
    size: int
    nfiles: int


def dvc_file_text(zone: str, content: ZoneContent) -> str:
    return (f"outs:\n- md5: {content.md5}\n  size: {content.size}\n  nfiles: {content.nfiles}\n"
            f"  hash: md5\n  path: {zone}\n")


def parse_dvc_file(text: str, where: Any) -> ZoneContent | None:
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
        out = (doc.get("outs") or [None])[0]
    except (yaml.YAMLError, AttributeError, IndexError) as exc:
        raise RepositoryError(f"{where}: not a readable .dvc file: {exc}") from None
    if not out or not out.get("md5"):
        return None
    return ZoneContent(str(out["md5"]), int(out.get("size") or 0), int(out.get("nfiles") or 1))


def content_tuple(content: ZoneContent | None) -> tuple[str, int, int] | None:
    return (content.md5, content.size, content.nfiles) if content else None
