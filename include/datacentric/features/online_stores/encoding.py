"""Feast's online-store byte formats (entity keys, values, timestamps), computed a column at a time
from Arrow with numpy; an encoder returns None for what it does not cover, and the caller falls back
to Feast. Design note: docs/explanation/features.md (Encoding)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_Encoded = TypeVar("_Encoded")

# feast.value_type.ValueType members (numbers fixed by Feast's Value.proto; a test checks them).
BYTES, STRING, INT32, INT64, DOUBLE, FLOAT, BOOL, UNIX_TIMESTAMP = 1, 2, 3, 4, 5, 6, 7, 8
# The Value message's oneof field numbers, wire types folded in: (field << 3) | wire type.
_TAG = {BYTES: 0x0A, STRING: 0x12, INT32: 0x18, INT64: 0x20, DOUBLE: 0x29, FLOAT: 0x35, BOOL: 0x38,
        UNIX_TIMESTAMP: 0x40}
# A null timestamp feature: Feast writes NaT's int64 value rather than an empty Value.
NULL_TIMESTAMP = np.iinfo(np.int64).min
ENTITY_KEY_TYPES = (BYTES, STRING, INT32, INT64)


# ---------------------------------------------------------------------------------------------
# entity keys
# ---------------------------------------------------------------------------------------------


def entity_keys(columns: Sequence[pa.Array], names: Sequence[str], value_types: Sequence[int],
                suffix: bytes = b"") -> pa.Array | None:
    """Serialized entity keys (entity_key_serialization_version 3), one per row, plus `suffix`
    (the Redis store appends the project name). None when a key type is not covered."""
    if any(t not in ENTITY_KEY_TYPES for t in value_types):
        return None
    order = sorted(range(len(names)), key=lambda i: names[i])  # Feast sorts keys by name
    n = len(columns[0]) if columns else 0
    head = [len(names).to_bytes(4, "little")]
    for i in order:
        encoded = names[i].encode("utf-8")
        head += [STRING.to_bytes(4, "little"), len(encoded).to_bytes(4, "little"), encoded]
    pieces: list[_Piece] = [_constant(b"".join(head), n)]
    for i in order:
        column, kind = columns[i], value_types[i]
        if column.null_count:
            raise ValueError(f"entity key column {names[i]!r} has {column.null_count} null value(s)")
        payload = _key_payload(column, kind)
        if payload is None:
            return None
        pieces.append(_constant(kind.to_bytes(4, "little"), n))
        pieces.append(_Piece.fixed(payload[1].astype("<u4").view(np.uint8).reshape(n, 4)))
        pieces.append(payload[0])
    if suffix:
        pieces.append(_constant(suffix, n))
    return _join(pieces, n)


def _key_payload(column: pa.Array, kind: int) -> tuple[_Piece, np.ndarray] | None:
    """(value bytes, their lengths) of one key column."""
    n = len(column)
    if kind in (INT64, INT32):
        if not supported(column.type, kind):
            return None
        width, dtype = (8, "<i8") if kind == INT64 else (4, "<i4")
        values = np.asarray(column.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)
        return _Piece.fixed(values.view(np.uint8).reshape(n, width)), np.full(n, width, np.int64)
    if not supported(column.type, kind):
        return None
    data = _binary_payload(column)
    return data, data.lengths


# ---------------------------------------------------------------------------------------------
# feature values
# ---------------------------------------------------------------------------------------------


def supported(arrow_type: pa.DataType, value_type: int) -> bool:
    """Whether the encoders cover a feature of `value_type` stored as `arrow_type` (else: Feast's path)."""
    types = pa.types
    if value_type == INT64:
        return types.is_signed_integer(arrow_type) or arrow_type in (pa.uint8(), pa.uint16(), pa.uint32())
    if value_type == INT32:
        return arrow_type in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16())
    if value_type in (DOUBLE, FLOAT):
        return types.is_floating(arrow_type)
    if value_type == BOOL:
        return types.is_boolean(arrow_type)
    if value_type == UNIX_TIMESTAMP:
        return types.is_timestamp(arrow_type)
    if value_type == STRING:
        return types.is_string(arrow_type) or types.is_large_string(arrow_type)
    if value_type == BYTES:
        return types.is_binary(arrow_type) or types.is_large_binary(arrow_type)
    return False


def covered(encoded: _Encoded | None, value_type: int) -> _Encoded:
    """The result of `values` or `value_texts` for a column that `supported` accepted, which is never None."""
    if encoded is None:
        raise TypeError(f"no encoder covers value type {value_type} for this column; check supported() first")
    return encoded


def values(column: pa.Array, value_type: int) -> pa.Array | None:
    """`Value.SerializeToString()` of each row as Feast builds it for `value_type`; None if not covered."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not supported(column.type, value_type):
        return None
    n = len(column)
    valid = _valid(column)
    if value_type in (INT64, INT32):
        numbers = _int64(column)
        if value_type == INT32:
            numbers = numbers.astype(np.int32).astype(np.int64)  # negative int32 is sign-extended
        return _tagged_varint(_TAG[value_type], numbers, valid)
    if value_type in (DOUBLE, FLOAT):
        numbers = column.to_numpy(zero_copy_only=False).astype(np.float64)
        valid = valid & ~np.isnan(numbers)  # Feast writes NaN as the empty Value, like a null
        width, dtype = (8, "<f8") if value_type == DOUBLE else (4, "<f4")
        matrix = np.empty((n, 1 + width), np.uint8)
        matrix[:, 0] = _TAG[value_type]
        matrix[:, 1:] = numbers.astype(dtype).view(np.uint8).reshape(n, width)
        return _single(matrix, valid)
    if value_type == BOOL:
        matrix = np.empty((n, 2), np.uint8)
        matrix[:, 0] = _TAG[BOOL]
        matrix[:, 1] = column.fill_null(False).to_numpy(zero_copy_only=False)
        return _single(matrix, valid)
    if value_type == UNIX_TIMESTAMP:
        seconds = _floor_seconds(column)
        seconds[~valid] = NULL_TIMESTAMP
        return _tagged_varint(_TAG[UNIX_TIMESTAMP], seconds, np.ones(n, bool))
    if value_type in (STRING, BYTES):
        payload = _binary_payload(column)
        lengths = np.where(valid, payload.lengths, 0)
        header = _varint_matrix(lengths, prefix=_TAG[value_type])
        header_piece = _Piece.masked(header[0], header[1] & valid[:, None])
        return _join([header_piece, _Piece(payload.data, lengths)], n)
    return None


def value_texts(column: pa.Array, value_type: int) -> list[str | None] | None:
    """The SQLite store's `value_text` column (feast.infra.online_stores.helpers.extract_text_and_num):
    str() of numbers and booleans, the string itself, None for nulls, NaN and other types."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not supported(column.type, value_type):
        return None
    valid = _valid(column)
    texts: list[str | None]
    if value_type in (INT64, INT32):
        texts = list(map(str, _int64(column).tolist()))
    elif value_type in (DOUBLE, FLOAT):
        numbers = column.to_numpy(zero_copy_only=False).astype(np.float64)
        valid = valid & ~np.isnan(numbers)
        if value_type == FLOAT:
            numbers = numbers.astype(np.float32).astype(np.float64)
        texts = list(map(repr, numbers.tolist()))
    elif value_type == BOOL:
        texts = list(map(str, column.fill_null(False).to_pylist()))
    elif value_type == STRING:
        texts = column.to_pylist()
    else:  # timestamps and bytes have no text form
        return [None] * len(column)
    for i in np.flatnonzero(~valid).tolist():
        texts[i] = None
    return texts


# ---------------------------------------------------------------------------------------------
# event timestamps
# ---------------------------------------------------------------------------------------------


def timestamp_protos(column: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(serialized google.protobuf.Timestamp, seconds, nanos) of each event time, as Feast's Redis
    store writes them (`Timestamp.FromDatetime`: seconds floored, nanos = microseconds * 1000)."""
    micros = _micros(column)
    seconds, rest = np.divmod(micros, 1_000_000)
    nanos = rest * 1000
    n = len(micros)
    sec_matrix, sec_mask = _varint_matrix(seconds, prefix=0x08)
    nano_matrix, nano_mask = _varint_matrix(nanos, prefix=0x10)
    sec_mask &= (seconds != 0)[:, None]  # proto3 leaves zero fields out
    nano_mask &= (nanos != 0)[:, None]
    matrix = np.concatenate([sec_matrix, nano_matrix], axis=1)
    mask = np.concatenate([sec_mask, nano_mask], axis=1)
    encoded = _join([_Piece.masked(matrix, mask)], n)
    return encoded, seconds, nanos


def sqlite_event_seconds(column: pa.Array) -> list[int]:
    """The SQLite store's `event_ts`: Feast stores `int(naive_utc_datetime.timestamp())` (its sqlite3
    datetime adapter), which reads the naive time in the machine's local zone; reproduced exactly."""
    micros = _micros(column)
    if _local_zone_is_utc():
        # int() of the float timestamp truncates toward zero
        return np.where(micros >= 0, micros // 1_000_000, -((-micros) // 1_000_000)).tolist()
    epoch = datetime(1970, 1, 1)
    return [int((epoch + timedelta(microseconds=m)).timestamp()) for m in micros.tolist()]


def _local_zone_is_utc() -> bool:
    return time.timezone == 0 and time.altzone == 0 and not time.daylight


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------


class _Piece:
    """One part of every output row: `data` holds the rows' bytes back to back, `lengths` per row."""

    __slots__ = ("data", "lengths", "width")

    def __init__(self, data: np.ndarray, lengths: np.ndarray, width: int | None = None) -> None:
        self.data = data
        self.lengths = lengths
        self.width = width  # set when every row has this many bytes and data is an (n, width) matrix

    @classmethod
    def fixed(cls, matrix: np.ndarray) -> _Piece:
        n, width = matrix.shape
        return cls(np.ascontiguousarray(matrix), np.full(n, width, np.int64), width)

    @classmethod
    def masked(cls, matrix: np.ndarray, mask: np.ndarray) -> _Piece:
        return cls(matrix[mask], mask.sum(axis=1, dtype=np.int64))


def _constant(value: bytes, n: int) -> _Piece:
    row = np.frombuffer(value, np.uint8)
    return _Piece.fixed(np.broadcast_to(row, (n, len(row))))


def _single(matrix: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Rows of `matrix`, empty where not valid."""
    if valid.all():
        return _join([_Piece.fixed(matrix)], len(matrix))
    return _join([_Piece.masked(matrix, np.repeat(valid[:, None], matrix.shape[1], axis=1))], len(matrix))


def _join(pieces: list[_Piece], n: int) -> pa.Array:
    """Concatenate the pieces row by row into one large_binary array."""
    widths = [p.width for p in pieces if p.width is not None]
    if len(widths) == len(pieces):
        matrix = np.concatenate([p.data.reshape(n, width) for p, width in zip(pieces, widths, strict=True)], axis=1)
        width = matrix.shape[1]
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
        data = np.ascontiguousarray(matrix).reshape(-1)
    else:
        lengths = np.zeros(n, np.int64)
        for piece in pieces:
            lengths += piece.lengths
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.empty(int(offsets[-1]), np.uint8)
        before = offsets[:-1].copy()
        for piece in pieces:
            flat = piece.data.reshape(-1)
            if flat.size:
                starts = np.zeros(n, np.int64)
                np.cumsum(piece.lengths[:-1], out=starts[1:])
                # byte k of row i goes to before[i] + (k - starts[i])
                data[np.repeat(before - starts, piece.lengths) + np.arange(flat.size)] = flat
            before += piece.lengths
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _varint_matrix(numbers: np.ndarray, prefix: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Protocol buffer varints of int64 values (negative ones as 10-byte two's complement), as an
    (n, 10 or 11) byte matrix and the mask of bytes in use; `prefix` adds a leading tag byte."""
    unsigned = numbers.astype(np.int64).view(np.uint64)
    shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)
    groups = ((unsigned[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    # bytes in use: 1 + index of the highest non-zero 7-bit group
    nonzero = (unsigned[:, None] >> shifts) != 0
    used = np.maximum(1, nonzero.sum(axis=1))
    index = np.arange(10)
    mask = index[None, :] < used[:, None]
    groups[index[None, :] < (used[:, None] - 1)] |= 0x80
    if prefix is None:
        return groups, mask
    head = np.full((len(numbers), 1), prefix, np.uint8)
    return np.concatenate([head, groups], axis=1), np.concatenate([np.ones((len(numbers), 1), bool), mask], axis=1)


def _tagged_varint(tag: int, numbers: np.ndarray, valid: np.ndarray) -> pa.Array:
    matrix, mask = _varint_matrix(numbers, prefix=tag)
    return _join([_Piece.masked(matrix, mask & valid[:, None])], len(numbers))


def _binary_payload(column: pa.Array) -> _Piece:
    """The UTF-8 / raw bytes of a string or binary column (nulls as empty)."""
    large = column.cast(pa.large_binary())
    n = len(large)
    buffers = large.buffers()
    offsets = np.frombuffer(buffers[1], np.int64, count=n + 1, offset=large.offset * 8)
    lengths = np.diff(offsets)
    if large.null_count:
        lengths = np.where(_valid(large), lengths, 0)
    raw = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    if large.null_count:
        keep = np.repeat(_valid(large), np.diff(offsets))
        data = raw[offsets[0]:offsets[-1]][keep]
    else:
        data = raw[offsets[0]:offsets[-1]]
    return _Piece(data, lengths)


def _valid(column: pa.Array) -> np.ndarray:
    if column.null_count == 0:
        return np.ones(len(column), bool)
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _int64(column: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), np.int64)


def _micros(column: pa.Array) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a timestamp column, floored like datetime conversion."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_timestamp(column.type):
        raise TypeError(f"expected a timestamp column, got {column.type}")
    raw = np.asarray(column.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    unit = column.type.unit
    if unit == "s":
        return raw * 1_000_000
    if unit == "ms":
        return raw * 1000
    if unit == "ns":
        return raw // 1000
    return raw


def _floor_seconds(column: pa.Array) -> np.ndarray:
    return _micros(column) // 1_000_000
