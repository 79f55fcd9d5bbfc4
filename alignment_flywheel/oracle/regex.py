"""CEL's ``matches`` patterns (RE2 syntax, run by the binding's Rust ``regex`` engine) as Python
``re`` patterns that match exactly the same strings, or :class:`Unsupported`.

The translated subset: literal characters, ``.``, ``^``, ``$`` (end of text only, as in RE2:
Python's ``$`` also matches before a final newline, so it becomes ``\\Z``), groups ``(...)`` and
``(?:...)``, alternation, the quantifiers ``* + ? {n} {n,} {n,m}`` and their lazy forms,
character classes without POSIX names or set operations, the escapes ``\\d \\D \\w \\W \\s \\S
\\b \\B``, escaped punctuation and ``\\n \\r \\t \\f \\v``. Anything else (flags, named groups,
look-around, back-references, ``\\p``, ``\\A``, ``\\z``, ``\\Q``, possessive quantifiers)
is not translated and the CEL engine runs the rule.

``\\d``, ``\\w``, ``\\s`` and ``\\b`` are Unicode classes in both engines, but their tables differ
(Python's ``\\s`` holds U+001C-U+001F, Rust's does not); on ASCII text they are the same sets.
A pattern using them is marked ``ascii_only``: the fast path runs it on ASCII subjects only and
leaves any other subject to the CEL engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alignment_flywheel.oracle.celparse import Unsupported

_PERL = frozenset("dDwWsSbB")
_CONTROL = {"n": "\\n", "r": "\\r", "t": "\\t", "f": "\\f", "v": "\\v"}
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
MAX_REPEAT = 1000


@dataclass(frozen=True, slots=True)
class Translated:
    pattern: re.Pattern[str]
    ascii_only: bool


def translate(source: str) -> Translated:
    """The Python pattern of an RE2 pattern; Unsupported outside the subset."""
    out: list[str] = []
    ascii_only = False
    position = 0
    quantifiable = False
    while position < len(source):
        char = source[position]
        if char == "\\":
            piece, perl = _escape(source, position + 1)
            ascii_only |= perl
            out.append(piece)
            position += 2
            quantifiable = True
        elif char == "[":
            piece, perl, position = _class(source, position)
            ascii_only |= perl
            out.append(piece)
            quantifiable = True
        elif char in "*+?{":
            piece, position = _quantifier(source, position, quantifiable)
            out.append(piece)
            quantifiable = False
        else:
            out.append(_plain(source, position))
            position += 2 if source.startswith("(?:", position) else 1
            quantifiable = char not in "(|^"
    try:
        return Translated(re.compile("".join(out)), ascii_only)
    except (re.error, RecursionError, OverflowError):
        raise Unsupported("pattern Python does not compile") from None


def _plain(source: str, position: int) -> str:
    char = source[position]
    if char == "(":
        if source.startswith("(?:", position):
            return "(?:"
        if source.startswith("(?", position):
            raise Unsupported("group flags or names")
        return "("
    if char == "$":
        return "\\Z"
    if char in ".^)|":
        return char
    return re.escape(char)


def _escape(source: str, position: int) -> tuple[str, bool]:
    if position >= len(source):
        raise Unsupported("trailing backslash")
    char = source[position]
    if char in _PERL:
        return "\\" + char, True
    if char in _CONTROL:
        return _CONTROL[char], False
    if not char.isascii() or char.isalnum() or char == "_":
        raise Unsupported(f"escape \\{char}")
    return re.escape(char), False


def _quantifier(source: str, position: int, quantifiable: bool) -> tuple[str, int]:
    if not quantifiable:
        raise Unsupported("quantifier without an operand")
    if source[position] == "{":
        match = _REPEAT.match(source, position)
        if match is None:
            raise Unsupported("brace that is not a repetition")
        numbers = [int(n) for n in (match.group(1), match.group(3)) if n]
        if any(n > MAX_REPEAT for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
            raise Unsupported("repetition bounds")
        piece, position = match.group(0), match.end()
    else:
        piece, position = source[position], position + 1
    if position < len(source) and source[position] == "?":
        return piece + "?", position + 1
    if position < len(source) and source[position] in "*+{":
        raise Unsupported("possessive or stacked quantifier")
    return piece, position


def _class(source: str, start: int) -> tuple[str, bool, int]:
    """A bracket class from ``start`` (at ``[``): its Python text, ascii_only, the next position."""
    position = start + 1
    out = ["["]
    if source.startswith("^", position):
        out.append("^")
        position += 1
    perl = False
    first = True
    while True:
        if position >= len(source):
            raise Unsupported("unclosed class")
        char = source[position]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), perl, position + 1
        if char == "[" or source.startswith(("&&", "--", "~~", "||"), position):
            raise Unsupported("nested class or set operation")
        if char == "\\":
            piece, found = _escape(source, position + 1)
            perl |= found
            if found and piece[1] in "bB":
                raise Unsupported("\\b in a class")
            out.append(piece)
            position += 2
        else:
            plain = char == "-" or not char.isascii() or char.isalnum()
            out.append(char if plain else "\\" + char)
            position += 1
        first = False
