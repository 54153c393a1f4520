"""Source plug-ins: one module and one reader class per kind of source, resolved by the manifest's `type`.

A reader lists the units a source offers for a window (files, objects, a table or one partition of it,
an API), each with an origin URI and a cheap identity, and parses one unit into rows plus the lines it
could not parse. See `datacentric.sources.base` for the interface and the type table.
"""

from __future__ import annotations

from datacentric.sources.base import EVERYTHING, READERS, ParsedUnit, SourceReader, Unit, Window, reader_for

__all__ = ["EVERYTHING", "READERS", "ParsedUnit", "SourceReader", "Unit", "Window", "reader_for"]
