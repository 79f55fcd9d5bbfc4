"""Reading an expanded Avro schema: which kind each node is, within the subset the contract uses.

An *expanded* schema is standalone: every named type is defined at its first use, under its full
name, and referred to by full name afterwards (the form fastavro's ``parse_schema`` produces).
The subset: the primitives, ``record``, ``enum``, ``array``, ``map``, a union of ``"null"`` and one
other type (an optional value), and the logical types ``uuid`` (on ``string``) and
``timestamp-micros`` (on ``long``). Anything else raises
:class:`~alignment_flywheel.errors.SchemaError`, so a schema the codec could not handle never passes
``flywheel schemas check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignment_flywheel.errors import SchemaError

SchemaNode = str | dict[str, Any] | list[Any]
"""A schema, or a part of one, as parsed JSON."""

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
LOGICAL = {("string", "uuid"): "uuid", ("long", "timestamp-micros"): "timestamp"}


@dataclass(frozen=True)
class TypeInfo:
    """One schema node, classified.

    ``kind`` is a primitive name, ``"uuid"``, ``"timestamp"``, ``"enum"``, ``"record"``,
    ``"array"``, ``"map"`` or ``"optional"``. ``definition`` is the record or enum definition,
    ``inner`` the item, value or non-null branch type, and ``null_index`` the position of
    ``"null"`` in an optional's union.
    """

    kind: str
    definition: dict[str, Any] | None = None
    inner: SchemaNode | None = None
    null_index: int = 0

    @property
    def name(self) -> str:
        """The full name of a record or enum."""
        return str(self.definition["name"]) if self.definition else self.kind


def named_types(schema: SchemaNode) -> dict[str, dict[str, Any]]:
    """Every record and enum defined in ``schema``, by full name."""
    found: dict[str, dict[str, Any]] = {}
    _collect(schema, found)
    return found


def _collect(node: SchemaNode, found: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, list):
        for branch in node:
            _collect(branch, found)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed", "error"):
            found[str(node["name"])] = node
        for field in node.get("fields", ()):
            _collect(field["type"], found)
        for key in ("items", "values"):
            if key in node:
                _collect(node[key], found)


def type_info(node: SchemaNode, named: dict[str, dict[str, Any]]) -> TypeInfo:
    """Classify ``node``; named references are looked up in ``named``."""
    if isinstance(node, list):
        return _union(node)
    if isinstance(node, str):
        if node in PRIMITIVES:
            return TypeInfo(node)
        if node not in named:
            raise SchemaError(f"unknown named type {node!r}")
        return type_info(named[node], named)
    return _complex(node, named)


def _union(branches: list[Any]) -> TypeInfo:
    if len(branches) != 2 or "null" not in branches or branches[0] == branches[1]:
        raise SchemaError(f'unsupported union {branches!r}: only ["null", T] or [T, "null"]')
    null_index = branches.index("null")
    return TypeInfo("optional", inner=branches[1 - null_index], null_index=null_index)


def _complex(node: dict[str, Any], named: dict[str, dict[str, Any]]) -> TypeInfo:
    kind = node.get("type")
    logical = node.get("logicalType")
    if logical is not None:
        pair = (str(kind), str(logical))
        if pair not in LOGICAL:
            raise SchemaError(f"unsupported logical type {logical!r} on {kind!r}")
        return TypeInfo(LOGICAL[pair])
    if kind in ("record", "enum"):
        return TypeInfo(str(kind), definition=node)
    if kind == "array":
        return TypeInfo("array", inner=node["items"])
    if kind == "map":
        return TypeInfo("map", inner=node["values"])
    if isinstance(kind, str) and kind in PRIMITIVES:
        return TypeInfo(kind)
    if isinstance(kind, str) and kind in named:
        return type_info(kind, named)
    raise SchemaError(f"unsupported schema type {kind!r}")


def min_encoded_size(
    node: SchemaNode, named: dict[str, dict[str, Any]], _open: frozenset[str] = frozenset()
) -> int:
    """The fewest bytes a value of ``node`` takes: 0 for null or records of nulls, else >= 1."""
    info = type_info(node, named)
    if info.kind == "null":
        return 0
    if info.kind == "record" and info.definition is not None and info.name not in _open:
        inside = _open | {info.name}
        return sum(min_encoded_size(f["type"], named, inside) for f in info.definition["fields"])
    return 1
