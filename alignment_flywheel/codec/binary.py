"""The runtime of compiled Avro codecs: zig-zag varints, strings, bytes, uuids and timestamps.

:mod:`alignment_flywheel.codec.compiler` generates code that calls these helpers by the names in
:data:`RUNTIME`. Encoding helpers raise any exception on a bad value (the generated code turns it
into a :class:`FieldError` naming the field); decoding helpers raise
:class:`~alignment_flywheel.errors.MalformedEventError` on bytes that are not valid Avro, or let an
``IndexError`` escape when the data ends early (the codec reports it as truncated).
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alignment_flywheel.errors import MalformedEventError, SchemaViolationError

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_MISSING = object()


def _zigzag_varint(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    if 1 << 49 <= n < 1 << 56:
        # Eight bytes: every timestamp-micros from 1978 to 3111, written without a loop.
        return bytes(
            (
                n & 0x7F | 0x80,
                n >> 7 & 0x7F | 0x80,
                n >> 14 & 0x7F | 0x80,
                n >> 21 & 0x7F | 0x80,
                n >> 28 & 0x7F | 0x80,
                n >> 35 & 0x7F | 0x80,
                n >> 42 & 0x7F | 0x80,
                n >> 49,
            )
        )
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = tuple(_zigzag_varint(i) for i in range(1024))


def small_long(value: int) -> bytes:
    """The Avro encoding of a long from 0 to 1023."""
    return _SMALL[value]


class FieldError(Exception):
    """A value that does not fit its schema, with the path of the field, innermost last."""

    def __init__(self, path: tuple[str, ...], problem: str) -> None:
        super().__init__(f"{'.'.join(path) or '<record>'}: {problem}")
        self.path = path
        self.problem = problem


def _fail(field: str, expected: str, value: object, exc: Exception) -> FieldError:
    if isinstance(exc, FieldError):
        return FieldError((field, *exc.path), exc.problem)
    if value is _MISSING:
        return FieldError((field,), "missing required field")
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return FieldError((field,), f"expected {expected}, got {type(value).__name__} {shown} ({exc})")


def _unknown_fields(record: dict[str, Any], known: frozenset[str]) -> FieldError:
    extra = ", ".join(sorted(str(k) for k in record if k not in known))
    return FieldError((), f"unknown field(s): {extra}")


def _long(v: int) -> bytes:
    if not isinstance(v, int):
        raise TypeError("not an integer")
    if 0 <= v < 1024:
        return _SMALL[v]
    if not _LONG_MIN <= v <= _LONG_MAX:
        raise OverflowError("out of the 64-bit range")
    return _zigzag_varint(v)


def _int(v: int) -> bytes:
    if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
        raise OverflowError("out of the 32-bit range")
    return _long(v)


def _bytes(a: Callable[[bytes], None], v: bytes) -> None:
    if not isinstance(v, bytes | bytearray):
        raise TypeError("not bytes")
    n = len(v)
    a(_SMALL[n] if n < 1024 else _zigzag_varint(n))
    a(bytes(v))


def _uuid(a: Callable[[bytes], None], v: uuid.UUID | str) -> None:
    if isinstance(v, uuid.UUID):
        v = str(v)
    elif not (isinstance(v, str) and _UUID_TEXT(v)):
        raise ValueError("not a uuid.UUID nor canonical lowercase UUID text")
    a(b"\x48")
    a(v.encode())


def _timestamp(v: datetime | int) -> bytes:
    if isinstance(v, datetime):
        d = v - _EPOCH
        v = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
        if _LONG_MIN <= v <= _LONG_MAX:
            return _zigzag_varint(v)
    return _long(v)


def _read_long(b: bytes, p: int) -> tuple[int, int]:
    n = shift = 0
    for c in b[p : p + 10]:
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            if n >> 64:
                raise MalformedEventError(f"varint at offset {p} exceeds 64 bits")
            return (n >> 1) ^ -(n & 1), p + shift // 7
    if len(b) - p < 10:
        raise MalformedEventError(f"truncated varint at offset {p}")
    raise MalformedEventError(f"varint at offset {p} is longer than 10 bytes")


def _read_int(b: bytes, p: int) -> tuple[int, int]:
    n, p = _read_long(b, p)
    if not _INT_MIN <= n <= _INT_MAX:
        raise MalformedEventError(f"int {n} exceeds 32 bits")
    return n, p


def _read_length(b: bytes, p: int) -> tuple[int, int]:
    n, p = _read_long(b, p)
    if n < 0 or p + n > len(b):
        raise MalformedEventError(f"length {n} at offset {p} does not fit the {len(b)} bytes")
    return n, p


def _read_str(b: bytes, p: int) -> tuple[str, int]:
    n = b[p]
    if n < 0x80 and not n & 1:
        p += 1
        e = p + (n >> 1)
        if e <= len(b):
            return b[p:e].decode(), e
    n, p = _read_length(b, p)
    return b[p : p + n].decode(), p + n


def _read_bytes(b: bytes, p: int) -> tuple[bytes, int]:
    n, p = _read_length(b, p)
    return b[p : p + n], p + n


def _read_count(b: bytes, p: int) -> tuple[int, int]:
    """A block count of an array or map; a negative count is followed by the block's byte size."""
    n, p = _read_long(b, p)
    if n < 0:
        n = -n
        _size, p = _read_long(b, p)
    if n > len(b) - p:
        raise MalformedEventError(f"block of {n} items at offset {p} exceeds the {len(b)} bytes")
    return n, p


_PACK_F = struct.Struct("<f")
_PACK_D = struct.Struct("<d")

RUNTIME: dict[str, Any] = {
    "FieldError": FieldError,
    "Malformed": MalformedEventError,
    "Violation": SchemaViolationError,
    "_fail": _fail,
    "_unknown_fields": _unknown_fields,
    "_MISSING": _MISSING,
    "_long": _long,
    "_int": _int,
    "_SMALL": _SMALL,
    "_bytes": _bytes,
    "_uuid": _uuid,
    "_timestamp": _timestamp,
    "_pf": _PACK_F.pack,
    "_pd": _PACK_D.pack,
    "_uf": _PACK_F.unpack_from,
    "_ud": _PACK_D.unpack_from,
    "_read_long": _read_long,
    "_read_int": _read_int,
    "_read_str": _read_str,
    "_read_bytes": _read_bytes,
    "_read_count": _read_count,
    "_EPOCH": _EPOCH,
    "_TD": timedelta,
}
