"""Strict JSON at every HTTP edge: RFC 8259 JSON, and nothing more that Python's parser lets in.

Rules:

* The body is UTF-8 (RFC 8259 section 8.1); other bytes (also UTF-8-encoded surrogates) are
  refused.
* An object never repeats a key, at any depth: ``{"cmd": "rm -rf /", "cmd": "ls"}`` is refused,
  never read as its last value (parsers disagree on which one wins, so what is checked and what
  runs could differ).
* No string (key or value) holds a lone surrogate (``"\\ud800"``): that is not Unicode text, and no
  event can carry it.
* Numbers are JSON numbers: ``NaN``, ``Infinity`` and ``-Infinity`` are refused, and so is a number
  a double cannot hold (``1e400``, which Python reads as infinity) or an integer longer than
  Python reads (4,300 digits).
* A violation is :class:`StrictJsonError`: ``field`` says where it is, in the notation of the
  other errors (``arguments.rows[2].when``; None for the body itself), ``problem`` what is wrong.
  Syntax errors stay :class:`json.JSONDecodeError` (with their position) and nesting too deep for
  the parser stays :class:`RecursionError`; the endpoint answers 400 to all three.
* One pass over the parsed value checks it all; the path of a violation is assembled on the way
  back up, only when there is one.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from alignment_flywheel.errors import InvalidInputError

_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN_DIGITS = 12


class StrictJsonError(InvalidInputError):
    """The body parses, but it is not strict JSON; ``field`` names where (None: the body)."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"{field or 'body'}: {problem}")
        self.field = field
        self.problem = problem


class _Pairs(list[tuple[str, Any]]):
    """An object as parsed: its members in order, repeated keys kept."""


class _BadNumber:
    """A number that is not a JSON number, kept until the walk knows where it is."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


class _Violation(Exception):
    """A problem found during the walk; each level adds its key on the way up."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.parts: list[str | int] = []

    def field(self) -> str | None:
        text = ""
        for part in reversed(self.parts):
            text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
        return text or None


def _constant(name: str) -> _BadNumber:
    return _BadNumber(f"{name} is not a JSON number")


def _float(text: str) -> float | _BadNumber:
    value = float(text)
    if math.isinf(value):
        return _BadNumber(f"{text} is out of range for a JSON number (a double)")
    return value


def _int(text: str) -> int | _BadNumber:
    try:
        return int(text)
    except ValueError:
        return _BadNumber(f"an integer of {len(text)} digits ({text[:_SHOWN_DIGITS]}...)")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_Pairs, parse_constant=_constant, parse_float=_float, parse_int=_int
)


def _text(value: str) -> None:
    if not value.isascii() and _SURROGATE.search(value):
        raise _Violation("a lone surrogate (\\ud800-\\udfff) is not Unicode text")


def _object(pairs: _Pairs) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in pairs:
        _text(key)
        try:
            if key in result:
                raise _Violation(f"duplicate key {key!r}: the keys of a JSON object are unique")
            result[key] = _strict(item)
        except _Violation as violation:
            violation.parts.append(key)
            raise
    return result


def _array(items: list[Any]) -> list[Any]:
    result = []
    for index, item in enumerate(items):
        try:
            result.append(_strict(item))
        except _Violation as violation:
            violation.parts.append(index)
            raise
    return result


def _strict(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return _object(value)
    if isinstance(value, list):
        return _array(value)
    if isinstance(value, str):
        _text(value)
    elif isinstance(value, _BadNumber):
        raise _Violation(value.problem)
    return value


def loads_strict(body: bytes) -> Any:
    """The JSON value of ``body``; StrictJsonError, JSONDecodeError or RecursionError if none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError(None, f"the body is not UTF-8 (at byte {exc.start})") from None
    parsed = _DECODER.decode(text)
    try:
        return _strict(parsed)
    except _Violation as violation:
        raise StrictJsonError(violation.field(), violation.problem) from None
