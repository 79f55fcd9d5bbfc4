"""Structural features of a proposal, shared by triage, drift novelty and refinement.

A proposal becomes a set of short strings. Two proposals that do "the same kind of thing" share
most of them, whatever the exact values; the set is what triage clusters on (MinHash over it) and
what drift watches for novelty. The vocabulary, ``K`` standing for an argument key (nested keys
are dotted, ``a.b``; list items add ``[]``, ``a[]``):

=====================  =========================================================================
feature                meaning
=====================  =========================================================================
``tool=T``             the tool, e.g. ``tool=shell.exec``
``tool.ns=N``          the tool's namespace (before the first dot), e.g. ``tool.ns=shell``
``key=K``              the argument key ``K`` is present
``K.type=X``           the JSON type of the value: ``str``, ``int``, ``float``, ``bool``, ``null``,
                       ``list``, ``object``
``K.len=B``            length bucket of a string or list: ``empty`` (0), ``short`` (up to 16),
                       ``medium`` (up to 128), ``long`` (up to 1024), ``huge`` (more)
``K.shape=S``          what a string looks like: ``url``, ``path``, ``number``, ``flag``, ``sql``,
                       ``command`` (several words, under a command-like key), ``email``, ``word``
                       (one token) or ``text``
``K.mag=M``            order of magnitude of a number: ``neg``, ``0``, ``1e0`` .. ``1e9+``
``K.value=V``          a boolean value, ``true`` or ``false``
``K.word=W``           the program of each command segment (split on ``;``, ``&&``, ``||``,
                       ``|``), by basename and lower-cased, e.g. ``cmd.word=rm``; only for
                       command-like values (key ``cmd``, ``command``, ``script``, ``shell``, or a
                       ``shell.*`` tool)
``K.flag=F``           each flag of such a command (``cmd.flag=-rf``), and each letter of a
                       bundle of short flags on its own (``cmd.flag=-r``, ``cmd.flag=-f``)
``path.prefix=P``      of every absolute or home path in any string: the first one and two
                       directories, e.g. ``path.prefix=/etc`` and ``path.prefix=/etc/ssh``
``url.scheme=S``       of every URL in any string, e.g. ``url.scheme=https``
``url.host=H``         of every URL in any string, lower-cased, e.g. ``url.host=example.com``
``sql.verb=V``         the leading verb of every SQL statement in any string, e.g. ``sql.verb=drop``
=====================  =========================================================================

Rules: features depend on the tool and the arguments only (not on ids, the proposer or the risk
context), are deterministic, and are bounded: nesting is followed :data:`MAX_DEPTH` levels, at
most :data:`MAX_TOKENS` token features are taken per string. The *shape* features (``type``,
``shape``, ``mag``) of a key are what drift calls a value shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.events import Proposal

MAX_DEPTH = 3
MAX_TOKENS = 24
COMMAND_KEYS = frozenset({"cmd", "command", "script", "shell"})
SQL_VERBS = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "drop",
        "truncate",
        "alter",
        "create",
        "grant",
        "revoke",
        "merge",
        "replace",
    }
)
SHAPE_KINDS = ("type", "shape", "mag")

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://([^\s/'\"?#]+)")
_PATH = re.compile(r"(?:^|[\s='\"(])((?:~|/)[^\s'\";|&)]*)")
_SEGMENT = re.compile(r"\|\||&&|[;|\n]")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_SQL_STATEMENT = re.compile(r"(?:^|;)\s*([a-zA-Z]+)")


@dataclass(frozen=True, slots=True)
class ProposalFeatures:
    """The features of one proposal, by kind; :attr:`all` is the set triage clusters on."""

    tool: str
    keys: frozenset[str]
    shapes: frozenset[str]
    tokens: frozenset[str]

    @property
    def all(self) -> frozenset[str]:
        return frozenset({f"tool={self.tool}", f"tool.ns={namespace(self.tool)}"}) | (
            self.keys | self.shapes | self.tokens
        )


def namespace(tool: str) -> str:
    return tool.split(".", 1)[0]


def proposal_features(proposal: Proposal) -> ProposalFeatures:
    """The features of a proposal (its arguments are a JSON object by the event's contract)."""
    return features_of(proposal.tool, json.loads(proposal.arguments))


def features_of(tool: str, arguments: Mapping[str, Any]) -> ProposalFeatures:
    """The features of a tool call given as a tool name and its decoded arguments."""
    keys: set[str] = set()
    shapes: set[str] = set()
    tokens: set[str] = set()
    for key, value in _walk(arguments, "", 0):
        keys.add(f"key={key}")
        shapes.update(_shape(key, value))
        if isinstance(value, str):
            tokens.update(_tokens(tool, key, value))
    return ProposalFeatures(tool, frozenset(keys), frozenset(shapes), frozenset(tokens))


def shape_features(features: ProposalFeatures) -> frozenset[str]:
    """The value shapes (``K.type``, ``K.shape``, ``K.mag``) of a proposal."""
    return frozenset(
        f for f in features.shapes if f.split("=", 1)[0].rsplit(".", 1)[-1] in SHAPE_KINDS
    )


def _walk(value: Mapping[str, Any], prefix: str, depth: int) -> Iterator[tuple[str, Any]]:
    for name, item in value.items():
        key = f"{prefix}{name}"
        yield key, item
        if depth + 1 >= MAX_DEPTH:
            continue
        if isinstance(item, Mapping):
            yield from _walk(item, f"{key}.", depth + 1)
        elif isinstance(item, list):
            for element in item[:MAX_TOKENS]:
                yield f"{key}[]", element
                if isinstance(element, Mapping):
                    yield from _walk(element, f"{key}[].", depth + 1)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else "object"


def _length_bucket(length: int) -> str:
    for limit, name in ((0, "empty"), (16, "short"), (128, "medium"), (1024, "long")):
        if length <= limit:
            return name
    return "huge"


def _magnitude(number: float) -> str:
    if number < 0:
        return "neg"
    if number < 1:
        return "0"
    digits = len(str(int(number))) - 1
    return "1e9+" if digits >= 9 else f"1e{digits}"


def _shape(key: str, value: Any) -> list[str]:
    kind = _json_type(value)
    found = [f"{key}.type={kind}"]
    if kind in ("str", "list"):
        found.append(f"{key}.len={_length_bucket(len(value))}")
    if kind == "str":
        found.append(f"{key}.shape={string_shape(key, value)}")
    elif kind in ("int", "float"):
        found.append(f"{key}.mag={_magnitude(float(value))}")
    elif kind == "bool":
        found.append(f"{key}.value={'true' if value else 'false'}")
    return found


def string_shape(key: str, text: str) -> str:
    stripped = text.strip()
    words = stripped.split()
    checks = (
        ("url", _URL.match(stripped) is not None),
        ("path", stripped.startswith(("/", "~", "./", "../")) and len(words) == 1),
        ("number", _NUMBER.match(stripped) is not None),
        ("flag", stripped.startswith("-") and len(words) == 1),
        ("email", _EMAIL.match(stripped) is not None),
        ("sql", bool(words) and words[0].lower() in SQL_VERBS and len(words) > 1),
        ("command", _last(key) in COMMAND_KEYS and len(words) > 1),
        ("word", len(words) == 1),
    )
    return next((name for name, hit in checks if hit), "text")


def _last(key: str) -> str:
    return key.rsplit(".", 1)[-1].removesuffix("[]")


def _tokens(tool: str, key: str, text: str) -> list[str]:
    found: list[str] = []
    if _last(key) in COMMAND_KEYS or namespace(tool) == "shell":
        found += _command_tokens(key, text)
    for match in _PATH.finditer(text):
        found += _path_prefixes(match.group(1))
    for scheme, host in _URL.findall(text):
        found += [f"url.scheme={scheme.lower()}", f"url.host={host.lower().split('@')[-1]}"]
    for verb in _SQL_STATEMENT.findall(text):
        if verb.lower() in SQL_VERBS:
            found.append(f"sql.verb={verb.lower()}")
    return found[:MAX_TOKENS]


def _command_tokens(key: str, text: str) -> list[str]:
    found: list[str] = []
    for segment in _SEGMENT.split(text):
        words = segment.split()
        if not words:
            continue
        found.append(f"{key}.word={words[0].rsplit('/', 1)[-1].lower()}")
        for word in words[1:]:
            if not word.startswith("-") or word == "-" or len(word) > 32:
                continue
            found.append(f"{key}.flag={word}")
            if not word.startswith("--") and len(word) > 2:
                found += [f"{key}.flag=-{letter}" for letter in word[1:] if letter.isalpha()]
    return found


def _path_prefixes(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    if path.startswith("~"):
        parts = ["~", *parts[1:]] if parts and parts[0] == "~" else ["~", *parts]
        return [f"path.prefix={'/'.join(parts[:n])}" for n in (1, 2) if len(parts) >= n]
    if not parts:
        return ["path.prefix=/"]
    return [f"path.prefix=/{'/'.join(parts[:n])}" for n in (1, 2) if len(parts) > n - 1]
