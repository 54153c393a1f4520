"""Source plug-ins: one module and one reader class per kind of source, resolved by the manifest's `type`.

A reader lists the units a source currently offers (files, objects, a table snapshot), each with an
origin URI and a fingerprint, and parses one unit into rows plus the lines it could not parse.
"""

from __future__ import annotations

from datacentric.sources.base import ParsedUnit, SourceReader, Unit, reader_for

__all__ = ["ParsedUnit", "SourceReader", "Unit", "reader_for"]
