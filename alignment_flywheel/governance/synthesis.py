"""Candidate predicates over what a cluster's members share, for refinement to choose from.

A predicate is a small CEL expression over one argument (or the tool) that holds for every member
of a cluster. Candidates, most specific last:

* ``word``: every member's string argument contains the word (letters, digits, ``_``), compared
  case-insensitively: ``args.cmd.lowerAscii().matches("(^|[^a-z0-9_])rm([^a-z0-9_]|$)")``.
* ``flag``: every member's argument has a short flag containing a letter (``-rf``, ``-Rf`` and
  ``-fr`` all contain ``r``): ``args.cmd.matches("(^|\\s)-[a-zA-Z]*r")``.
* ``prefix``: every member's path-like argument starts with the same directory prefix.
* ``host``: every member's URL-like argument names the same host.
* ``number``: every member's numeric argument is at least the smallest member value.

Predicates on arguments some member lacks are not candidates (a rule that fails on an input is an
evaluation error, not a match). The tools glob is the members' tool if they share one, else their
common dotted prefix with ``*``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alignment_flywheel.events import Proposal

WORD = re.compile(r"[a-z0-9_]+")
FLAG = re.compile(r"(?:^|\s)-([a-zA-Z]+)")
MIN_WORD = 2
MAX_WORDS_PER_KEY = 12


@dataclass(frozen=True, slots=True)
class Predicate:
    """A CEL expression every member satisfies, and what it is about (for the rationale)."""

    expression: str
    kind: str
    key: str
    value: str

    def describe(self) -> str:
        return f"{self.kind} {self.value!r} in {self.key}"


def tools_glob(tools: Sequence[str]) -> str:
    unique = sorted(set(tools))
    if len(unique) == 1:
        return unique[0]
    parts = [t.split(".") for t in unique]
    common = []
    for segments in zip(*parts, strict=False):
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    return ".".join(common) + ".*" if common else "*"


def shared_predicates(members: Sequence[Proposal]) -> list[Predicate]:
    """Every candidate predicate that holds for all members."""
    arguments = [m.arguments_object() for m in members]
    keys = set.intersection(*(set(a) for a in arguments)) if arguments else set()
    found: list[Predicate] = []
    for key in sorted(keys):
        values = [a[key] for a in arguments]
        if all(isinstance(v, str) for v in values):
            found += _string_predicates(key, [str(v) for v in values])
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            low = min(float(v) for v in values)
            found.append(Predicate(f"double(args.{key}) >= {low!r}", "number", key, str(low)))
    return found


def _string_predicates(key: str, values: list[str]) -> list[Predicate]:
    found = [_word(key, w) for w in _shared_words(values)]
    found += [_flag(key, f) for f in _shared_flag_letters(values)]
    prefix = _shared_prefix(values)
    if prefix:
        found.append(
            Predicate(f"args.{key}.startsWith({json.dumps(prefix)})", "prefix", key, prefix)
        )
    host = _shared_host(values)
    if host:
        quoted = json.dumps("^[a-z]+://" + re.escape(host) + "([:/]|$)")
        found.append(Predicate(f"args.{key}.lowerAscii().matches({quoted})", "host", key, host))
    return found


def _shared_words(values: list[str]) -> list[str]:
    sets = [set(WORD.findall(v.lower())) for v in values]
    shared = set.intersection(*sets)
    words = sorted(w for w in shared if len(w) >= MIN_WORD and not w.isdigit())
    return words[:MAX_WORDS_PER_KEY]


def _word(key: str, word: str) -> Predicate:
    pattern = json.dumps(f"(^|[^a-z0-9_]){re.escape(word)}([^a-z0-9_]|$)")
    return Predicate(f"args.{key}.lowerAscii().matches({pattern})", "word", key, word)


def _shared_flag_letters(values: list[str]) -> list[str]:
    sets = [set("".join(FLAG.findall(v)).lower()) for v in values]
    return sorted(set.intersection(*sets)) if sets else []


def _flag(key: str, letter: str) -> Predicate:
    pattern = json.dumps(f"(^|\\s)-[a-zA-Z]*[{letter}{letter.upper()}]")
    return Predicate(f"args.{key}.matches({pattern})", "flag", key, f"-{letter}")


def _shared_prefix(values: list[str]) -> str | None:
    if not all(v.startswith("/") for v in values):
        return None
    parts = [v.split("/")[1:-1] for v in values]
    common = []
    for segments in zip(*parts, strict=False):
        if len(set(segments)) != 1 or not segments[0]:
            break
        common.append(segments[0])
    return "/" + "/".join(common) + "/" if common else None


def _shared_host(values: list[str]) -> str | None:
    hosts = {urlsplit(v).hostname for v in values if "://" in v}
    if len(hosts) != 1 or not all("://" in v for v in values):
        return None
    host = hosts.pop()
    return host or None


def rule_document(
    rule_id: str,
    tools: str,
    predicates: Sequence[Predicate],
    *,
    message: str,
    severity: str,
    norms: Sequence[str],
) -> dict[str, Any]:
    """The oracle rule (add_rule operation payload) for a conjunction of predicates."""
    return {
        "id": rule_id,
        "tools": [tools],
        "when": " && ".join(f"({p.expression})" for p in predicates),
        "score": 0.0,
        "severity": severity,
        "message": message,
        "norms": list(norms),
    }
