"""Where a value can come from in a session, and how a value is matched there.

A :class:`Source` is one place a proposal's argument value can come from: the user's request
(named ``"user"``) or one observed tool output (``"tool:<name>"``), with its normalised text, its
words and, for an output, its whole values (:func:`output_values`). A :class:`Matcher` finds the
sources of one proposal's values; :mod:`~alignment_flywheel.oracle.provenance` keeps the sources
of a session and gives each argument key its list of labels. Pure functions, no I/O.

* Matching: a string is normalised (Unicode NFKC, case-folded, runs of whitespace collapsed to one
  space, trimmed) and must occur in a source's normalised text as a whole: not inside a longer
  word, i.e. a match that starts (ends) with a word character (``\\w``: letters, digits,
  underscore) must not be preceded (followed) by one. So ``"100"`` does not match ``"1000"``, and
  ``"DE89 3704"`` matches ``"de89  3704"``, but not ``"DE893704"``.
* A number is matched by its canonical text: an integer (or an integral float under 2**53) as its
  decimal digits (``100.0`` is ``"100"``), another float as Python's ``repr`` (``12.5``). No
  thousands separators or currency forms are tried.
* ``null``, booleans and values whose normalised text is shorter than :data:`MIN_CHARS` characters
  (``""``, ``"ok"``, ``42``) are trivial: they would match almost anything.
* A list or an object is matched element by element (an object's values, not its keys), nested at
  any depth: the key's sources are the union of its non-trivial elements' sources, plus ``"none"``
  if any of them has no source; ``["trivial"]`` when it has no non-trivial element (empty, or only
  trivial ones).
* Links inside composed text: when a string has no source as a whole (the agent wrote it), each
  link it carries (:data:`LINK`: a URL with a scheme, a ``www.`` host, a host with a path, an
  e-mail address; other than the whole string) is matched as a value of its own, and the key's
  list gains, after its other sources, ``"link:"`` followed by each of the link's sources
  (``"link:user"``, ``"link:tool:<name>"``, ``"link:text:<name>"``), or ``"link:none"``. So a
  message the agent wrote that carries an address only a web page mentioned says so.
* Work is bounded: at most :data:`MAX_LEAVES` scalar values and links are examined per proposal;
  the ones beyond count as having no source (``"none"``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

MAX_LEAVES = 1_024
MAX_FOUND = 4_096
MIN_CHARS = 3
USER = "user"
NONE = "none"
TRIVIAL = "trivial"
TOOL_PREFIX = "tool:"
TEXT_PREFIX = "text:"
LINK_PREFIX = "link:"
MAX_FIELDS = 4_096

_WORDS = re.compile(r"\w+")
LINK = re.compile(
    r"[a-z][a-z0-9+.-]*://[^\s<>\"'`]+"
    r"|(?<![\w.-])www\.[^\s<>\"'`]+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?<![\w@.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}/[^\s<>\"'`]*",
    re.IGNORECASE,
)
"""What counts as a link inside composed text (the module rules)."""
_TRAILING = ".,;:!?)]}'\""
_EXACT_FLOAT = 2.0**53


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace runs collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Source:
    """One place a value can come from: its name, normalised text, set of words and whole values.

    The request (``name`` ``"user"``) has no whole values: a value occurs in it or not.
    """

    name: str
    text: str
    words: frozenset[str]
    fields: frozenset[str] = frozenset()

    @classmethod
    def of(cls, name: str, raw: str) -> Source:
        text = normalise(raw)
        return cls(name, text, frozenset(_WORDS.findall(text)))

    @classmethod
    def of_output(cls, tool: str, raw: str) -> Source:
        text, fields = output_values(raw)
        return cls(TOOL_PREFIX + tool, text, frozenset(_WORDS.findall(text)), fields)

    def label(self, text: str) -> str:
        """The source's name for a value found in it: ``text:<tool>`` when only mentioned."""
        if self.name == USER or text in self.fields:
            return self.name
        return TEXT_PREFIX + self.name.removeprefix(TOOL_PREFIX)


def output_values(raw: str) -> tuple[str, frozenset[str]]:
    """A tool output's normalised text and its whole values (the rules of the module docstring).

    A structured output's text is its keys and scalars, one per line, so that quoting and escapes
    of the format do not split a value; past :data:`MAX_FIELDS` nodes (an alias counts each time
    it is reached, so a document of nested aliases cannot make the walk explode) it is read as
    plain text.
    """
    document = _parse(raw)
    if isinstance(document, Mapping | list):
        texts, values = _scalars(document)
        if texts is not None:
            return normalise("\n".join(texts)), values
    text = normalise(raw)
    return text, frozenset((text,))


def _parse(raw: str) -> Any:
    stripped = raw.lstrip()
    if not stripped or (stripped[0] not in "{[-" and ":" not in raw):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.load(raw, Loader=_LOADER)
    except yaml.YAMLError:
        return raw


def _scalars(document: Any) -> tuple[list[str] | None, frozenset[str]]:
    texts: list[str] = []
    values: set[str] = set()
    stack = [document]
    nodes = 0
    while stack:
        item = stack.pop()
        nodes += 1 + (len(item) if isinstance(item, Mapping) else 0)
        if nodes > MAX_FIELDS:
            return None, frozenset()
        if isinstance(item, Mapping):
            texts.extend(str(key) for key in item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif item is not None and not isinstance(item, bool):
            text = leaf_text(item) if isinstance(item, int | float) else str(item)
            if text is not None:
                texts.append(text)
                values.add(normalise(text))
    return texts, frozenset(values)


def leaf_text(value: Any) -> str | None:
    """The normalised text a scalar is matched by; None when it is trivial."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        exact = math.isfinite(value) and value.is_integer() and abs(value) < _EXACT_FLOAT
        text = str(int(value)) if exact else repr(value)
    else:
        text = normalise(str(value))
    return text if len(text) >= MIN_CHARS else None


class Matcher:
    """Matches the scalars of one proposal against the sources, within :data:`MAX_LEAVES`."""

    def __init__(self, sources: tuple[Source, ...], seen: dict[str, tuple[str, ...]]) -> None:
        self.sources = sources
        self._rank: dict[str, int] | None = None
        self.left = MAX_LEAVES
        if len(seen) >= MAX_FOUND:
            seen.clear()
        self.seen = seen

    @property
    def rank(self) -> dict[str, int]:
        if self._rank is None:
            self._rank = {}
            for source in self.sources:
                self._rank.setdefault(source.name, len(self._rank))
        return self._rank

    def key_sources(self, value: Any) -> list[str]:
        names: set[str] = set()
        links: set[str] = set()
        plain, missing = True, False
        for leaf in _leaves(value):
            if self.left <= 0:
                plain, missing = False, True
                break
            self.left -= 1
            text = leaf_text(leaf)
            if text is None:
                continue
            plain = False
            found = self._sources_of(text)
            missing = missing or not found
            names.update(found)
            if not found and isinstance(leaf, str):
                links.update(self._link_sources(leaf, text))
        if plain:
            return [TRIVIAL]
        ordered = sorted(names, key=self._order)
        linked = [LINK_PREFIX + n for n in sorted(links, key=self._link_order)]
        return [*ordered, NONE, *linked] if missing else [*ordered, *linked]

    def _link_sources(self, leaf: str, whole: str) -> set[str]:
        found: set[str] = set()
        for match in LINK.finditer(leaf):
            link = leaf_text(match.group().rstrip(_TRAILING))
            if link is None or link == whole or self.left <= 0:
                continue
            self.left -= 1
            names = self._sources_of(link)
            found.update(names if names else (NONE,))
        return found

    def _link_order(self, label: str) -> tuple[int, bool]:
        return (len(self.rank), False) if label == NONE else self._order(label)

    def _order(self, label: str) -> tuple[int, bool]:
        mentioned = label.startswith(TEXT_PREFIX)
        name = TOOL_PREFIX + label.removeprefix(TEXT_PREFIX) if mentioned else label
        return self.rank[name], mentioned

    def _sources_of(self, text: str) -> tuple[str, ...]:
        found = self.seen.get(text)
        if found is None:
            words = frozenset(_WORDS.findall(text))
            whole_word = words == {text}
            labels: dict[str, str] = {}
            for s in self.sources:
                if words <= s.words and (whole_word or occurs(text, s.text)):
                    label = s.label(text)
                    if s.name not in labels or label == s.name:
                        labels[s.name] = label
            found = tuple(labels.values())
            self.seen[text] = found
        return found


def _leaves(value: Any) -> Iterable[Any]:
    """The scalars of a JSON value, depth first, in order (without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        else:
            yield item


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def occurs(needle: str, haystack: str) -> bool:
    """True when ``needle`` occurs in ``haystack`` and not inside a longer word."""
    start = haystack.find(needle)
    if start < 0:
        return False
    end = start + len(needle)
    left = _is_word(needle[0]) and start > 0 and _is_word(haystack[start - 1])
    right = _is_word(needle[-1]) and end < len(haystack) and _is_word(haystack[end])
    if not (left or right):
        return True
    head = r"(?<!\w)" if _is_word(needle[0]) else ""
    tail = r"(?!\w)" if _is_word(needle[-1]) else ""
    return re.search(head + re.escape(needle) + tail, haystack) is not None
