"""Compiling one expanded Avro schema into a specialised encoder and decoder.

fastavro interprets a schema on every call; for the small records of this platform that costs more
than the encoding itself (about 90,000 ProposalSubmitted records/s per core, each way). Here each
record type becomes two generated Python functions, built once with ``exec`` from the schema alone
(identifiers in the generated source are generated; Avro names, checked against
``[A-Za-z_][A-Za-z0-9_]*``, only appear as ``repr`` string literals): no dispatch on types per
call, and no allocation beyond the output. The bytes are those of the Avro specification; the
tests compare them with fastavro's and the avro package's for every event type. Schema
*resolution* (reading an older writer version) is left to fastavro.

:func:`compile_spans` builds encoders of consecutive runs of a record's fields instead, so a run
that many records share can be encoded once (:mod:`~alignment_flywheel.codec.spans`).

Python values, both ways: ``string`` is ``str``; a ``uuid`` is written from :class:`uuid.UUID` or
its canonical lowercase text and read as text; ``long`` and ``int`` are ``int``;
``timestamp-micros`` is written from an aware :class:`~datetime.datetime` (or ``int``
microseconds) and read as an aware UTC ``datetime``; ``float`` and ``double`` are ``float``;
``bytes`` is ``bytes``; an enum value is its symbol; an array is a list (a tuple is accepted); a
map and a record are dicts; an optional value is ``None`` or the value. A record field left out
takes its schema default.

Errors: the encoder raises :class:`~alignment_flywheel.codec.binary.FieldError` naming the field
path; the decoder raises :class:`~alignment_flywheel.errors.MalformedEventError` or
:class:`~alignment_flywheel.errors.SchemaViolationError` naming the record and field, or lets an
``IndexError``/``struct.error``/``UnicodeDecodeError`` escape on truncated or corrupt data.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alignment_flywheel.codec.avrotypes import (
    SchemaNode,
    TypeInfo,
    min_encoded_size,
    named_types,
    type_info,
)
from alignment_flywheel.codec.binary import RUNTIME, small_long
from alignment_flywheel.errors import SchemaError

_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Encoder = Callable[[dict[str, Any], bytes], bytes]
"""``encode(record, header) -> header + Avro binary of record``."""
SpanEncoder = Callable[[dict[str, Any]], bytes]
"""``encode(record) -> Avro binary of one run of the record's fields`` (:func:`compile_spans`)."""
Decoder = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""``decode(data, offset) -> (record, offset after it)``."""

_FIXED_ENCODERS = {
    "int": "a(_int({v}))",
    "long": "a(_long({v}))",
    "float": "a(_pf({v}))",
    "double": "a(_pd({v}))",
    "bytes": "_bytes(a, {v})",
    "uuid": "_uuid(a, {v})",
    "timestamp": "a(_timestamp({v}))",
}
_BLOCK_ENCODERS = {
    "string": ["e = {v}.encode()", "n = len(e)", "a(_SMALL[n] if n < 1024 else _long(n))", "a(e)"],
    "null": ["if {v} is not None:", "    raise TypeError('not None')"],
    "boolean": [
        "if {v} is True:",
        "    a(b'\\x01')",
        "elif {v} is False:",
        "    a(b'\\x00')",
        "else:",
        "    raise TypeError('not a bool')",
    ],
}
_FIXED_DECODERS = {
    "float": ["{v} = _uf(b, p)[0]", "p += 4"],
    "double": ["{v} = _ud(b, p)[0]", "p += 8"],
    "string": [
        "{v} = b[p]",
        "if {v} < 128 and not {v} & 1:",
        "    e = p + 1 + ({v} >> 1)",
        "    {v} = b[p + 1 : e].decode()",
        "    p = e",
        "else:",
        "    {v}, p = _read_str(b, p)",
    ],
    "bytes": ["{v}, p = _read_bytes(b, p)"],
}


@dataclass(frozen=True)
class CompiledSchema:
    """The generated encoder and decoder of one schema, and their source."""

    encode: Encoder
    decode: Decoder
    source: str


def compile_schema(schema: dict[str, Any]) -> CompiledSchema:
    """Compile an expanded record schema. Raises SchemaError outside the supported subset."""
    return _Generator(schema).build()


def compile_spans(schema: dict[str, Any], starts: Sequence[str]) -> tuple[SpanEncoder, ...]:
    """Encoders of consecutive runs of an expanded record schema's fields: the first from its
    first field up to the field named ``starts[0]``, then from each name in ``starts`` up to the
    next, the last to the end. Each takes a dict holding (at least) its run's fields and returns
    their Avro binary; joined in order, after the framing header, they are the record's encoding
    (a run that is the same for many records can be encoded once and kept)."""
    return _Generator(schema).build_spans(starts)


def _indent(lines: list[str], spaces: int) -> list[str]:
    return [" " * spaces + line for line in lines]


def _describe(info: TypeInfo, named: dict[str, dict[str, Any]]) -> str:
    if info.kind == "enum" and info.definition is not None:
        return f"one of {', '.join(info.definition['symbols'])}"
    if info.kind in ("record", "enum"):
        return f"{info.kind} {info.name}"
    if info.kind == "timestamp":
        return "an aware datetime or int microseconds"
    if info.kind == "optional" and info.inner is not None:
        return f"null or {_describe(type_info(info.inner, named), named)}"
    return info.kind


class _Generator:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema
        self.named = named_types(schema)
        self.constants: dict[str, Any] = {}
        self.records: dict[str, int] = {}
        self.chunks: list[str] = []
        self.counter = 0

    def build(self) -> CompiledSchema:
        root = type_info(self.root, self.named)
        if root.kind != "record" or root.definition is None:
            raise SchemaError("the top-level schema must be a record")
        top = self.record(root.definition)
        self.chunks.append(
            "def encode(r, head):\n"
            "    parts = [head]\n"
            f"    _e{top}(r, parts.append)\n"
            "    return b''.join(parts)\n"
        )
        source = "\n".join(self.chunks)
        namespace = {**RUNTIME, **self.constants}
        exec(compile(source, f"<avro codec {root.name}>", "exec"), namespace)
        return CompiledSchema(namespace["encode"], namespace[f"_d{top}"], source)

    def const(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def var(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def record(self, definition: dict[str, Any]) -> int:
        name = str(definition["name"])
        if name in self.records:
            return self.records[name]
        for part in [*name.split("."), *(f["name"] for f in definition["fields"])]:
            if not _AVRO_NAME.fullmatch(part):
                raise SchemaError(f"{name}: {part!r} is not a valid Avro name")
        number = self.records[name] = len(self.records)
        self.chunks.append(self.record_encoder(number, definition))
        self.chunks.append(self.record_decoder(number, definition))
        return number

    # --- encoding --------------------------------------------------------------------------------

    def record_encoder(self, number: int, definition: dict[str, Any]) -> str:
        keys = self.const(frozenset(f["name"] for f in definition["fields"]))
        problem = f"expected record {definition['name']} (a dict), got "
        lines = [
            f"def _e{number}(r, a):",
            "    if not isinstance(r, dict):",
            f"        raise FieldError((), {problem!r} + type(r).__name__)",
            f"    if not {keys}.issuperset(r):",
            f"        raise _unknown_fields(r, {keys})",
        ]
        for field in definition["fields"]:
            lines += self.field_lines(field)
        return "\n".join(lines) + "\n"

    def field_lines(self, field: dict[str, Any]) -> list[str]:
        """The lines (inside a function of ``r`` and ``a``) that encode one field of ``r``."""
        name = field["name"]
        default = self.const(field["default"]) if "default" in field else "_MISSING"
        info = type_info(field["type"], self.named)
        return [
            f"    v = r.get({name!r}, {default})",
            "    try:",
            *_indent(self.encode_lines(field["type"], "v"), 8),
            "    except Exception as e:",
            f"        raise _fail({name!r}, {_describe(info, self.named)!r}, v, e) from None",
        ]

    def build_spans(self, starts: Sequence[str]) -> tuple[SpanEncoder, ...]:
        """The span encoders of :func:`compile_spans`."""
        definition = self.root
        if type_info(definition, self.named).kind != "record":
            raise SchemaError("the top-level schema must be a record")
        fields = list(definition["fields"])
        names = [f["name"] for f in fields]
        cuts = [0, *(names.index(s) if s in names else -1 for s in starts), len(fields)]
        if any(c <= 0 for c in cuts[1:-1]) or cuts != sorted(set(cuts)):
            raise SchemaError(f"spans {list(starts)} are not increasing field names of the record")
        for i, (begin, end) in enumerate(itertools.pairwise(cuts)):
            lines = [f"def _span{i}(r):", "    parts = []", "    a = parts.append"]
            for field in fields[begin:end]:
                lines += self.field_lines(field)
            self.chunks.append("\n".join([*lines, "    return b''.join(parts)"]) + "\n")
        namespace = {**RUNTIME, **self.constants}
        source = "\n".join(self.chunks)
        exec(compile(source, f"<avro spans {definition['name']}>", "exec"), namespace)
        return tuple(namespace[f"_span{i}"] for i in range(len(cuts) - 1))

    def encode_lines(self, node: SchemaNode, var: str) -> list[str]:
        info = type_info(node, self.named)
        kind = info.kind
        if kind in _FIXED_ENCODERS:
            return [_FIXED_ENCODERS[kind].format(v=var)]
        if kind in _BLOCK_ENCODERS:
            return [line.format(v=var) for line in _BLOCK_ENCODERS[kind]]
        if kind == "enum" and info.definition is not None:
            symbols = info.definition["symbols"]
            table = self.const({s: small_long(i) for i, s in enumerate(symbols)})
            return [f"a({table}[{var}])"]
        if kind == "record" and info.definition is not None:
            return [f"_e{self.record(info.definition)}({var}, a)"]
        assert info.inner is not None
        if kind == "optional":
            return [
                f"if {var} is None:",
                f"    a({small_long(info.null_index)!r})",
                "else:",
                f"    a({small_long(1 - info.null_index)!r})",
                *_indent(self.encode_lines(info.inner, var), 4),
            ]
        return self.encode_collection(kind, info.inner, var)

    def encode_collection(self, kind: str, inner: SchemaNode, var: str) -> list[str]:
        item = self.var()
        if kind == "array":
            check, loop, key_line = "list | tuple", f"for {item} in {var}:", []
        else:
            key = self.var()
            check, loop = "dict", f"for {key}, {item} in {var}.items():"
            key_line = self.encode_lines("string", key)
        return [
            f"if not isinstance({var}, {check}):",
            f"    raise TypeError('not a {kind}')",
            f"if {var}:",
            f"    a(_long(len({var})))",
            f"    {loop}",
            *_indent(key_line + self.encode_lines(inner, item), 8),
            "a(b'\\x00')",
        ]

    # --- decoding --------------------------------------------------------------------------------

    def record_decoder(self, number: int, definition: dict[str, Any]) -> str:
        short = str(definition["name"]).rpartition(".")[2]
        lines = [f"def _d{number}(b, p):"]
        names = []
        for field in definition["fields"]:
            var = self.var("f")
            names.append(f"{field['name']!r}: {var}")
            where = f"{short}.{field['name']}"
            lines += _indent(self.decode_lines(field["type"], var, where), 4)
        lines.append(f"    return {{{', '.join(names)}}}, p")
        return "\n".join(lines) + "\n"

    def decode_lines(self, node: SchemaNode, var: str, where: str) -> list[str]:
        info = type_info(node, self.named)
        kind = info.kind
        if kind in _FIXED_DECODERS or kind == "uuid":
            lines = _FIXED_DECODERS["string" if kind == "uuid" else kind]
            return [line.format(v=var) for line in lines]
        if kind in ("int", "long"):
            return self.decode_varint(var, "_read_int" if kind == "int" else "_read_long")
        if kind == "timestamp":
            return [
                *self.decode_varint(var, "_read_long"),
                "try:",
                f"    {var} = _EPOCH + _TD(0, 0, {var})",
                "except OverflowError:",
                f"    raise Violation({where + ': timestamp out of range'!r}) from None",
            ]
        if kind == "null":
            return [f"{var} = None"]
        if kind == "boolean":
            return [
                f"{var} = b[p]",
                "p += 1",
                f"if {var} > 1:",
                f"    raise Malformed({where + ': invalid boolean byte'!r})",
                f"{var} = {var} == 1",
            ]
        return self.decode_composite(info, var, where)

    def decode_varint(self, var: str, reader: str) -> list[str]:
        return [
            f"{var} = b[p]",
            f"if {var} < 128:",
            "    p += 1",
            f"    {var} = ({var} >> 1) ^ -({var} & 1)",
            "else:",
            f"    {var}, p = {reader}(b, p)",
        ]

    def decode_composite(self, info: TypeInfo, var: str, where: str) -> list[str]:
        if info.kind == "enum" and info.definition is not None:
            symbols = tuple(info.definition["symbols"])
            return [
                *self.decode_varint(var, "_read_long"),
                f"if not 0 <= {var} < {len(symbols)}:",
                f"    raise Malformed({where!r} + f': enum index {{{var}}} out of range')",
                f"{var} = {self.const(symbols)}[{var}]",
            ]
        if info.kind == "record" and info.definition is not None:
            return [f"{var}, p = _d{self.record(info.definition)}(b, p)"]
        assert info.inner is not None
        if info.kind == "optional":
            return [
                f"{var} = b[p]",
                "p += 1",
                f"if {var} == {info.null_index * 2}:",
                f"    {var} = None",
                f"elif {var} == {(1 - info.null_index) * 2}:",
                *_indent(self.decode_lines(info.inner, var, where), 4),
                "else:",
                f"    raise Malformed({where!r} + f': union index byte {{{var}}} out of range')",
            ]
        return self.decode_collection(info, var, where)

    def decode_collection(self, info: TypeInfo, var: str, where: str) -> list[str]:
        assert info.inner is not None
        count, item = self.var("n"), self.var()
        if info.kind == "array":
            if min_encoded_size(info.inner, self.named) == 0:
                raise SchemaError(f"{where}: arrays of zero-byte items are not supported")
            start, read_key, store = f"{var} = []", [], f"{var}.append({item})"
        else:
            key = self.var()
            start, read_key = f"{var} = {{}}", self.decode_lines("string", key, where)
            store = f"{var}[{key}] = {item}"
        return [
            start,
            f"{count}, p = _read_count(b, p)",
            f"while {count}:",
            f"    for _ in range({count}):",
            *_indent([*read_key, *self.decode_lines(info.inner, item, where), store], 8),
            f"    {count}, p = _read_count(b, p)",
        ]
