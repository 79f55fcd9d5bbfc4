"""The artifact's tool catalog: which tools exist, what effect each has, what its arguments are.

The catalog (``tools:`` in the artifact) lists plain globs, entries, or both::

    tools:
      - "shell.*"                                   # known; effect unknown, no roles
      - name: email.send
        effect: side_effect             # read_only | side_effect | destructive | unknown
        arguments: {to: recipient, body: content}
      - {name: "crm.get_*", effect: read_only}

Rules of this module:

* Effects: ``read_only`` (changes nothing), ``side_effect`` (changes or sends something),
  ``destructive`` (a side effect that deletes or removes what exists: MCP's ``destructiveHint``),
  ``unknown``. A destructive tool is also side-effecting (:attr:`Effect.changes`).
* A tool is known when any plain glob or entry matches it (fnmatch syntax, case-sensitive);
  without a catalog every tool is known.
* A known tool's description (its :class:`Effect` and argument :class:`Role`\\ s) comes from the
  entry that names it exactly, else from the first entry, in document order, whose glob matches.
  Plain globs describe nothing: a tool only they match has effect ``unknown`` and no roles.
* Rules see the description as the CEL variables ``effect`` (a string) and ``roles`` (argument
  name to role); an undeclared argument has no role (``has(roles.x)`` is false).
* An entry that adds nothing to its glob (effect ``unknown``, no arguments) is stored as the
  plain glob, so that it does not change the artifact's digest; two entries may not share a name.

Roles, what an argument *is* to the tool (:class:`Role`): ``recipient`` (a person or address a
message goes to: e-mail, phone, handle), ``payee`` (who receives money: account, IBAN, wallet),
``amount`` (a quantity of money or of a resource), ``destination`` (where data or resources go,
other than a URL or a path: host, bucket, table, channel), ``url``, ``path`` (a file-system
path), ``content`` (free text or a body the tool sends or writes), ``command`` (code or a command
the tool runs: shell, SQL, script), ``identifier`` (the id of an existing record the call acts on)
and ``other``.

:func:`catalog_from_openai_tools` derives entries from OpenAI-style function tool schemas
(see its docstring): it never guesses an effect unless told how.

Argument roles ``recipient`` include whoever an invitation or an access grant goes to (the user
invited, the member added), as well as whoever a message goes to.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
)

ToolGlob = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.*?\[\]-]{1,200}$")]
ArgumentName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
GLOB_CHARS = frozenset("*?[")


class Effect(StrEnum):
    """What calling the tool does to the world."""

    READ_ONLY = "read_only"
    SIDE_EFFECT = "side_effect"
    DESTRUCTIVE = "destructive"
    UNKNOWN = "unknown"

    @property
    def changes(self) -> bool:
        """Whether calling the tool changes something (a side effect, destructive or not)."""
        return self in (Effect.SIDE_EFFECT, Effect.DESTRUCTIVE)


class Role(StrEnum):
    """What an argument is to its tool (see the module docstring)."""

    RECIPIENT = "recipient"
    PAYEE = "payee"
    AMOUNT = "amount"
    DESTINATION = "destination"
    URL = "url"
    PATH = "path"
    CONTENT = "content"
    COMMAND = "command"
    IDENTIFIER = "identifier"
    OTHER = "other"


class ToolEntry(BaseModel):
    """A catalog entry: a tool glob with its effect and its arguments' roles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ToolGlob
    effect: Effect = Effect.UNKNOWN
    arguments: dict[ArgumentName, Role] = Field(default_factory=dict)


def _kind(item: object) -> str:
    return "glob" if isinstance(item, str) else "entry"


CatalogItem = Annotated[
    Annotated[ToolGlob, Tag("glob")] | Annotated[ToolEntry, Tag("entry")], Discriminator(_kind)
]


def canonical_catalog(items: tuple[CatalogItem, ...] | None) -> tuple[CatalogItem, ...] | None:
    """Entries that add nothing stored as plain globs; ValueError when two entries share a name."""
    if items is None:
        return None
    names = [
        _name(item) for item in items if isinstance(item, ToolEntry) and not _adds_nothing(item)
    ]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"tool entries declared more than once: {', '.join(twice)}")
    return tuple(_name(item) if _adds_nothing(item) else item for item in items)


def _adds_nothing(item: CatalogItem) -> bool:
    return isinstance(item, ToolEntry) and item.effect is Effect.UNKNOWN and not item.arguments


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """What the catalog says about one tool."""

    effect: Effect = Effect.UNKNOWN
    roles: Mapping[str, Role] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """The CEL values of ``effect`` and ``roles``."""
        return {"effect": self.effect.value, "roles": {k: v.value for k, v in self.roles.items()}}


UNDESCRIBED = ToolInfo()


class ToolCatalog:
    """The catalog of one artifact: which tools are known and how each is described."""

    def __init__(self, items: tuple[CatalogItem, ...] | None) -> None:
        self.items = items
        globs = None if items is None else [_name(item) for item in items]
        self.matcher = None if globs is None else tool_matcher(tuple(globs))
        entries = [item for item in items or () if isinstance(item, ToolEntry)]
        self._exact: dict[str, ToolEntry] = {}
        for entry in entries:
            if not GLOB_CHARS & set(entry.name):
                self._exact.setdefault(entry.name, entry)
        self._globbed = [(tool_matcher((e.name,)), e) for e in entries if e.name not in self._exact]

    def knows(self, tool: str) -> bool:
        return self.matcher is None or self.matcher.match(tool) is not None

    def describe(self, tool: str) -> ToolInfo:
        """The tool's effect and roles (unknown and none when no entry describes it)."""
        entry = self._exact.get(tool)
        if entry is None:
            entry = next((e for matcher, e in self._globbed if matcher.match(tool)), None)
        return UNDESCRIBED if entry is None else ToolInfo(entry.effect, dict(entry.arguments))


def _name(item: CatalogItem) -> str:
    return item.name if isinstance(item, ToolEntry) else item


def tool_matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression matching any of the tool globs (fnmatch syntax, case-sensitive);
    no glob matches no tool."""
    if not patterns:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


FORMAT_ROLES = {
    "email": Role.RECIPIENT,
    "idn-email": Role.RECIPIENT,
    "uri": Role.URL,
    "iri": Role.URL,
}


NAME_ROLES: tuple[tuple[re.Pattern[str], Role], ...] = tuple(
    (re.compile(pattern), role)
    for pattern, role in (
        (r"\b(id|ids|uuid)$", Role.IDENTIFIER),
        (r"\b(iban|payee|beneficiary|wallet|account)\b", Role.PAYEE),
        (r"\b(amount|price|total|sum|quantity)\b", Role.AMOUNT),
        (r"\b(url|urls|uri|link|links|website|webpage)\b", Role.URL),
        (
            r"\b(recipients?|to|cc|bcc|participants?|attendees?|invitees?|emails?|phone|addressee"
            r"|users?|username|members?|grantees?|assignees?)\b",
            Role.RECIPIENT,
        ),
        (r"\b(destination|host|bucket|channel|table|target)\b", Role.DESTINATION),
        (r"\b(path|paths|directory|dir|folder)\b", Role.PATH),
        (r"\b(command|cmd|script|code|sql|shell)\b", Role.COMMAND),
        (r"\b(body|content|text|message|subject|title|description|note|comment)\b", Role.CONTENT),
    )
)
"""Argument-name words and the role they say, first match first (``roles_from_names``)."""

DESTRUCTIVE_WORDS = frozenset({"delete", "remove", "drop", "destroy", "purge", "erase", "wipe"})
"""Action words that name a destructive tool (``destructive_from_names``)."""


def catalog_from_openai_tools(
    tools: Iterable[Mapping[str, Any]],
    *,
    read_only_prefixes: Sequence[str] = (),
    roles_from_names: bool = False,
    destructive_from_names: bool = False,
) -> tuple[ToolEntry, ...]:
    """Catalog entries for OpenAI-style function tools, in order; ValueError naming a bad tool.

    Each tool is ``{"type": "function", "function": {"name", "description", "parameters"}}`` or the
    bare ``{"name", "description", "parameters"}``. The effect is the tool's explicit ``x-effect``
    (on the function or its wrapper: ``read_only``, ``side_effect`` or ``unknown``), else its MCP
    annotation ``annotations.readOnlyHint`` (true: read_only; false: destructive when
    ``destructiveHint`` is explicitly true, else side_effect), else ``read_only`` when the name
    starts with one of ``read_only_prefixes`` (empty by default: a deployment opts in, as with
    ``("get_", "list_", "search_")``), else ``unknown``. With ``destructive_from_names`` (a
    deployment opts in), a side-effecting tool whose action word (the first word of its last
    name segment) is one of :data:`DESTRUCTIVE_WORDS` is destructive, unless its
    ``destructiveHint`` is explicitly false. Each
    top-level parameter gets its explicit ``x-role``, else a role from its JSON-schema ``format``
    (``email`` is a recipient, ``uri`` a url), else, when ``roles_from_names`` (a deployment opts
    in), the role its name says by the words of :data:`NAME_ROLES` (the first role whose pattern
    matches the name's words: ``recipients``, ``cc`` and ``user_email`` are recipients,
    ``channel`` a destination, ``file_id`` an identifier), else ``other``.
    """
    prefixes = tuple(read_only_prefixes)
    entries = []
    for number, tool in enumerate(tools, start=1):
        entry = _entry(tool, number, prefixes, roles_from_names)
        if destructive_from_names and _destroys_by_name(tool, entry):
            entry = entry.model_copy(update={"effect": Effect.DESTRUCTIVE})
        entries.append(entry)
    return tuple(entries)


def action_word(tool: str) -> str:
    """The tool's action word: the first word of the last dotted segment of its name, split at
    ``_``, ``-`` and lower-to-upper case changes, lower-cased (``send`` for ``mail.send_email``)."""
    last = tool.rsplit(".", 1)[-1]
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", last)
    return words[0].lower() if words else last.lower()


def _annotations(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    function = tool.get("function", tool)
    found = function.get("annotations", tool.get("annotations"))
    return found if isinstance(found, Mapping) else {}


def _destroys_by_name(tool: Mapping[str, Any], entry: ToolEntry) -> bool:
    if _annotations(tool).get("destructiveHint") is False:
        return False
    return entry.effect is Effect.SIDE_EFFECT and action_word(entry.name) in DESTRUCTIVE_WORDS


def _entry(
    tool: Mapping[str, Any], position: int, prefixes: tuple[str, ...], by_name: bool = False
) -> ToolEntry:
    kind = tool.get("type", "function")
    if kind != "function":
        raise ValueError(f"tool #{position}: type {kind!r} is not a function tool")
    function = tool.get("function", tool)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise ValueError(f"tool #{position}: has no function name")
    name: str = function["name"]
    try:
        return ToolEntry(
            name=name,
            effect=_effect(tool, function, name, prefixes),
            arguments=_roles(function.get("parameters"), by_name),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"tool {name!r}: {problems}") from None
    except ValueError as exc:
        raise ValueError(f"tool {name!r}: {exc}") from None


def _effect(
    tool: Mapping[str, Any], function: Mapping[str, Any], name: str, prefixes: tuple[str, ...]
) -> Effect:
    explicit = function.get("x-effect", tool.get("x-effect"))
    if explicit is not None:
        return Effect(explicit)
    annotations = _annotations(tool)
    hint = annotations.get("readOnlyHint")
    if isinstance(hint, bool):
        if hint:
            return Effect.READ_ONLY
        destroys = annotations.get("destructiveHint") is True
        return Effect.DESTRUCTIVE if destroys else Effect.SIDE_EFFECT
    if prefixes and name.startswith(prefixes):
        return Effect.READ_ONLY
    return Effect.UNKNOWN


def _roles(parameters: object, by_name: bool = False) -> dict[str, Role]:
    properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if not isinstance(properties, Mapping):
        return {}
    return {str(arg): _role(str(arg), schema, by_name) for arg, schema in properties.items()}


def _role(name: str, schema: object, by_name: bool) -> Role:
    explicit = schema.get("x-role") if isinstance(schema, Mapping) else None
    if explicit is not None:
        return Role(explicit)
    form = schema.get("format", "") if isinstance(schema, Mapping) else ""
    found = FORMAT_ROLES.get(str(form))
    if found is not None:
        return found
    return role_of_name(name) if by_name else Role.OTHER


def role_of_name(name: str) -> Role:
    """The role an argument's name says (:data:`NAME_ROLES`), or ``other``."""
    words = " ".join(re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()))
    for pattern, role in NAME_ROLES:
        if pattern.search(words):
            return role
    return Role.OTHER
