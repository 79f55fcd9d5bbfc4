"""The topic catalog (``infra/topics.yaml``) as validated, frozen data.

Rules, each enforced with a :class:`CatalogError` naming the entry at fault:

* a topic has a unique name (Kafka's characters, at most 249), a kind (``event``, ``state`` or
  ``deadletter``), at least one partition, and optionally its own replication factor (else the
  catalog's, else the cluster's default: :mod:`~alignment_flywheel.kafka.replication`), config
  and the event types it carries (documentation, and the route :meth:`Catalog.topic_for` uses);
* a topic's config is the defaults of its kind overlaid with its own ``config``; values are kept as
  the strings Kafka reports (YAML numbers and booleans are converted);
* ``state`` topics are compacted (``cleanup.policy`` contains ``compact``); ``event`` and
  ``deadletter`` topics are ``cleanup.policy=delete`` and set ``retention.ms``;
* an event type is carried by at most one topic;
* access control: ``roles`` are the principals of the platform (``principal`` turns a role into a
  Kafka principal, e.g. ``User:flywheel-gate``). A topic names the roles that write it
  (``writers``) and read it (``readers``), and every name there is a role. A role's ``app_id`` (a
  faust app id) is the prefix of its consumer groups and internal topics, ``groups`` lists further
  group prefixes, ``transactional_ids`` the prefixes of the transactional ids it produces with
  (with them, the role may also write idempotently on the cluster); no prefix covers another
  role's or a catalog topic, or the prefix of the reader groups every role may use
  (:data:`READER_GROUP_PREFIX`). ``admin``, ``broker`` and ``controller`` are reserved: the local
  broker's super users.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alignment_flywheel.errors import CatalogError
from alignment_flywheel.resources import INFRA_DIR

DEFAULT_CATALOG = INFRA_DIR / "topics.yaml"
_CONFIG_KEY = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")
_EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_ROLE = re.compile(r"^[a-z][a-z0-9-]*$")
RESERVED_ROLES = frozenset({"admin", "broker", "controller"})
READER_GROUP_PREFIX = "flywheel-reader-"
"""The consumer groups of readers that assign partitions themselves and commit nothing."""


class TopicKind(StrEnum):
    EVENT = "event"
    STATE = "state"
    DEADLETTER = "deadletter"


def config_value(value: object) -> str:
    """A YAML scalar as Kafka writes it: ``True`` → ``"true"``, ``7`` → ``"7"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError(f"config values must be scalars, not {type(value).__name__}")


def _config_map(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("config must be a mapping of Kafka topic settings")
    config = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _CONFIG_KEY.match(key):
            raise ValueError(f"{key!r} is not a Kafka config name (lower case, dotted)")
        config[key] = config_value(value)
    return config


class TopicSpec(BaseModel):
    """One topic as the catalog wants it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    kind: TopicKind
    partitions: int = Field(ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    config: dict[str, str] = Field(default_factory=dict)
    events: tuple[str, ...] = ()
    description: str = ""
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()

    @field_validator("config", mode="before")
    @classmethod
    def _convert_config(cls, raw: object) -> dict[str, str]:
        return _config_map(raw)

    @field_validator("events")
    @classmethod
    def _check_events(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        for event in events:
            if not _EVENT_TYPE.match(event):
                raise ValueError(f"{event!r} is not an event type name")
        if len(set(events)) != len(events):
            raise ValueError("an event type is listed twice")
        return events

    @model_validator(mode="after")
    def _check_kind_rules(self) -> TopicSpec:
        policy = self.config.get("cleanup.policy", "")
        policies = {p.strip() for p in policy.split(",") if p.strip()}
        if self.kind is TopicKind.STATE and "compact" not in policies:
            raise ValueError(
                f"state topic {self.name} must be compacted (cleanup.policy=compact), "
                f"not {policy or 'unset'}"
            )
        if self.kind is not TopicKind.STATE:
            if policies != {"delete"}:
                raise ValueError(
                    f"{self.kind} topic {self.name} must have cleanup.policy=delete, "
                    f"not {policy or 'unset'}"
                )
            if "retention.ms" not in self.config:
                raise ValueError(f"{self.kind} topic {self.name} must set retention.ms")
        return self


class RoleSpec(BaseModel):
    """A principal of the platform: its consumer groups and internal topics (by prefix)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    app_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,200}$")
    groups: tuple[str, ...] = ()
    transactional_ids: tuple[str, ...] = ()

    @property
    def group_prefixes(self) -> tuple[str, ...]:
        return ((self.app_id,) if self.app_id else ()) + self.groups


class Catalog(BaseModel):
    """Every topic of the platform, with the replication factor to create them with, and the roles
    that may read and write them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replication_factor: int | None = Field(default=None, ge=1)
    principal: str = Field(default="User:flywheel-{role}", pattern=r"^[A-Za-z]+:.*\{role\}")
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    kind_defaults: dict[TopicKind, dict[str, str]] = Field(default_factory=dict)
    topics: tuple[TopicSpec, ...]

    @field_validator("kind_defaults", mode="before")
    @classmethod
    def _convert_defaults(cls, raw: object) -> dict[str, dict[str, str]]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise ValueError("kind_defaults must map a kind to a config mapping")
        return {str(kind): _config_map(config) for kind, config in raw.items()}

    @model_validator(mode="before")
    @classmethod
    def _merge_kind_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("topics"), list):
            return data
        defaults = data.get("kind_defaults") or {}
        if not isinstance(defaults, Mapping):
            return data
        topics = [_with_defaults(topic, defaults) for topic in data["topics"]]
        return {**data, "topics": topics}

    @model_validator(mode="after")
    def _check_unique(self) -> Catalog:
        if not self.topics:
            raise ValueError("the catalog lists no topics")
        names = Counter(topic.name for topic in self.topics)
        twice = sorted(name for name, count in names.items() if count > 1)
        if twice:
            raise ValueError(f"topic names listed more than once: {', '.join(twice)}")
        carriers: dict[str, str] = {}
        for topic in self.topics:
            for event in topic.events:
                if event in carriers:
                    raise ValueError(
                        f"event type {event} is carried by both {carriers[event]} and {topic.name}"
                    )
                carriers[event] = topic.name
        return self

    @model_validator(mode="after")
    def _check_roles(self) -> Catalog:
        for role in self.roles:
            if not _ROLE.match(role) or role in RESERVED_ROLES:
                raise ValueError(f"{role!r} cannot name a role (lower case; not reserved)")
        for topic in self.topics:
            for field_name in ("writers", "readers"):
                names: tuple[str, ...] = getattr(topic, field_name)
                unknown = sorted(set(names) - set(self.roles))
                if unknown or len(set(names)) != len(names):
                    raise ValueError(
                        f"topic {topic.name} {field_name}: unknown or repeated roles "
                        f"{', '.join(unknown) or '(repeated)'}"
                    )
        _check_prefixes(self)
        return self

    def principal_of(self, role: str) -> str:
        """The Kafka principal of ``role``: ``User:flywheel-gate``."""
        if role not in self.roles:
            raise CatalogError(f"no role named {role} in the catalog")
        return self.principal.replace("{role}", role)

    @property
    def names(self) -> list[str]:
        return [topic.name for topic in self.topics]

    def topic(self, name: str) -> TopicSpec:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise CatalogError(f"no topic named {name} in the catalog")

    def topic_for(self, event_type: str) -> str:
        """The topic that carries ``event_type`` (a class name such as ``"VerdictIssued"``)."""
        for topic in self.topics:
            if event_type in topic.events:
                return topic.name
        raise CatalogError(f"no topic in the catalog carries {event_type}")

    def replication_for(self, topic: TopicSpec) -> int | None:
        """The topic's own replication factor, else the catalog's; None: the cluster's default."""
        return topic.replication_factor or self.replication_factor


def _check_prefixes(catalog: Catalog) -> None:
    """No group prefix covers another role's or the reader groups; no app id covers a topic."""
    owned = [(p, role) for role, spec in catalog.roles.items() for p in spec.group_prefixes]
    owned.append((READER_GROUP_PREFIX, "every role (reader groups)"))
    for index, (prefix, role) in enumerate(owned):
        for other, other_role in owned[index + 1 :]:
            if prefix.startswith(other) or other.startswith(prefix):
                raise ValueError(f"group prefix {prefix} ({role}) overlaps {other} ({other_role})")
    for role, spec in catalog.roles.items():
        covered = [t.name for t in catalog.topics if spec.app_id and t.name.startswith(spec.app_id)]
        if covered:
            raise ValueError(f"the app id of role {role} covers catalog topic {covered[0]}")


def _with_defaults(topic: object, defaults: Mapping[Any, Any]) -> object:
    if not isinstance(topic, Mapping):
        return topic
    base = defaults.get(topic.get("kind"))
    if not isinstance(base, Mapping):
        return topic
    own = topic.get("config") or {}
    if not isinstance(own, Mapping):
        return topic
    return {**topic, "config": {**base, **own}}


def parse_catalog(data: object, source: str = "catalog") -> Catalog:
    """Validate already-parsed catalog data; :class:`CatalogError` names each bad entry."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"{source}: expected a mapping with a `topics` list")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error, data) for error in exc.errors())
        raise CatalogError(f"{source} is invalid: {problems}") from exc


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate ``infra/topics.yaml`` (or ``path``)."""
    path = path or DEFAULT_CATALOG
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read the topic catalog {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}") from exc
    return parse_catalog(data, str(path))


@cache
def catalog() -> Catalog:
    """The packaged topic catalog, read once."""
    return load_catalog()


def topic_for(event_type: str) -> str:
    """The topic that carries ``event_type`` (e.g. ``"FindingRaised"``)."""
    return catalog().topic_for(event_type)


def partitions_for(event_type: str) -> int:
    """The partition count of the topic that carries ``event_type``."""
    return catalog().topic(topic_for(event_type)).partitions


def _describe(error: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    loc = list(error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    where = ".".join(str(part) for part in loc)
    if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
        topics = data.get("topics") or []
        entry = topics[loc[1]] if loc[1] < len(topics) else None
        name = entry.get("name") if isinstance(entry, Mapping) else None
        field = ".".join(str(part) for part in loc[2:]) or "entry"
        where = f"topic #{loc[1] + 1} ({name or 'unnamed'}) {field}"
    return f"{where or 'catalog'}: {message}"
