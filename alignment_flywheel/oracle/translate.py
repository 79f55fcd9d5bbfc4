"""One CEL expression (a :mod:`.celparse` tree) as Python source with CEL's meaning.

The contract: the Python expression either gives exactly the value CEL gives, or raises. It never
gives a value where CEL fails, nor a different value; where it cannot be sure (a type it does not
expect, a non-ASCII string for ``size`` or a Unicode regex class, mixed container types in
``==``) it raises, and the fast path (:mod:`.fastpath`) asks the CEL engine for that rule on that
input. So CEL's error absorption in ``&&``/``||``/``exists``/``all`` needs no translation: when a
side fails first, the CEL engine decides, and when Python short-circuits on false (``&&``) or true
(``||``) CEL gives the same value whatever the other side would have done.

What it relies on from the CEL binding (checked by ``tests/unit/test_fastpath_differential.py``):
``==`` between different scalar types is false, ints and doubles compare and equal by value,
``size`` of a string counts UTF-8 bytes, ``lowerAscii`` is the registered Python function, map
iteration (``exists``/``all``) visits keys, integers beyond 2**53 and NaN/infinities are left to
CEL by the caller (:data:`~alignment_flywheel.oracle.fastpath.EXOTIC`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alignment_flywheel.oracle.celparse import Node, Unsupported
from alignment_flywheel.oracle.regex import translate as translate_regex

TYPE_CLASSES = {
    "int": "int",
    "double": "float",
    "string": "str",
    "bool": "bool",
    "list": "list",
    "map": "dict",
    "null_type": "_NoneType",
}
RISK_FIELDS = {
    "origin": ("P.risk.origin._value_", "str"),
    "blast_radius": ("P.risk.blast_radius._value_", "str"),
    "proposer_confidence": ("P.risk.proposer_confidence", "float"),
    "environment": ("P.risk.environment", "str"),
}
PROPOSAL_VARIABLES = {
    "args": ("A", "dict"),
    "tool": ("P.tool", "str"),
    "proposer": ("P.proposer_id", "str"),
    "session": ("P.session_id", "str"),
    "reasoning": ('(P.reasoning or "")', "str"),
    "parent": ("_parent(P)", "str"),
    "risk": ("_risk(P)", "dict"),
    "provenance": ("_V_provenance", "dict"),
    "requested": ("_V_requested", "bool"),
}
STRING_TESTS = {"startsWith": "{r}.startswith({a})", "endsWith": "{r}.endswith({a})"}
STRING_TESTS["contains"] = "({a} in {r})"
COMPARISONS = frozenset({"<", "<=", ">", ">="})
Code = tuple[str, str]


class Translator:
    """Translates the rules of one tool; constants (sets, patterns, the artifact's variables)
    land in ``constants``, the namespace the tool's function is compiled in."""

    def __init__(
        self,
        constants: dict[str, Any],
        fixed: Mapping[str, Any],
        unbound: frozenset[str] = frozenset(),
    ) -> None:
        """``unbound``: artifact variables read at run time (``_V_<name>``) rather than folded
        in as constants (used to explain rules without a tool)."""
        self.constants = constants
        self.fixed = fixed
        self.unbound = unbound
        self.temps = 0
        self.bound: list[str] = []

    def rule(self, node: Node) -> str:
        """The Python expression of a rule's ``when`` (a bool, or it raises)."""
        self.bound = []
        return self.boolean(node)

    def const(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def boolean(self, node: Node) -> str:
        code, kind = self.expr(node)
        return code if kind == "bool" else f"_bool({code})"

    def expr(self, node: Node) -> Code:
        kind = node[0]
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise Unsupported(f"node {kind}")
        result: Code = handler(node)
        return result

    def _lit(self, node: Node) -> Code:
        value = node[1]
        kinds = {bool: "bool", str: "str", int: "int", float: "float", type(None): "null"}
        if isinstance(value, float):
            return self.const(value), "float"
        return repr(value), kinds[type(value)]

    def _list(self, node: Node) -> Code:
        return self.const(literal_value(node)), "list"

    def _map(self, node: Node) -> Code:
        return self.const(literal_value(node)), "dict"

    def _id(self, node: Node) -> Code:
        name = node[1]
        if name in self.bound:
            return f"_m_{name}", "dyn"
        if name in self.fixed:
            value = self.fixed[name]
            kind = "str" if isinstance(value, str) else "dict" if isinstance(value, dict) else "dyn"
            return self.const(value), kind
        if name in PROPOSAL_VARIABLES:
            return PROPOSAL_VARIABLES[name]
        if name in self.unbound:
            return f"_V_{name}", "dyn"
        raise Unsupported(f"variable {name}")

    def _sel(self, node: Node) -> Code:
        target, field = node[1], node[2]
        if target == ("id", "risk") and "risk" not in self.bound:
            if field not in RISK_FIELDS:
                raise Unsupported(f"risk.{field}")
            return RISK_FIELDS[field]
        if target[0] == "id" and target[1] in self.fixed and target[1] not in self.bound:
            value = self.fixed[target[1]]
            if not isinstance(value, dict) or field not in value:
                raise Unsupported(f"{target[1]}.{field}")
            return self.const(value[field]), "dyn"
        code, _ = self.expr(target)
        return f"{code}[{field!r}]", "dyn"

    def _idx(self, node: Node) -> Code:
        target, key = node[1], node[2]
        if key[0] == "lit" and isinstance(key[1], str):
            return self._sel(("sel", target, key[1]))
        code, _ = self.expr(target)
        if key[0] == "lit" and type(key[1]) is int and key[1] >= 0:
            t = self.temp()
            return f"({t}[{key[1]}] if ({t} := {code}).__class__ is list else _fail())", "dyn"
        index, _ = self.expr(key)
        return f"_at({code}, {index})", "dyn"

    def _not(self, node: Node) -> Code:
        return f"(not {self.boolean(node[1])})", "bool"

    def _and(self, node: Node) -> Code:
        return f"({self.boolean(node[1])} and {self.boolean(node[2])})", "bool"

    def _or(self, node: Node) -> Code:
        return f"({self.boolean(node[1])} or {self.boolean(node[2])})", "bool"

    def _cond(self, node: Node) -> Code:
        test = self.boolean(node[1])
        chosen, kind = self.expr(node[2])
        other, other_kind = self.expr(node[3])
        return f"({chosen} if {test} else {other})", kind if kind == other_kind else "dyn"

    def _rel(self, node: Node) -> Code:
        op, left, right = node[1], node[2], node[3]
        if op in ("==", "!="):
            return self._equality(op, left, right)
        if op == "in":
            return self._in(left, right)
        a, a_kind = self.expr(left)
        b, b_kind = self.expr(right)
        if a_kind == b_kind and a_kind in ("int", "float", "str"):
            return f"({a} {op} {b})", "bool"
        if a_kind == "dyn" and b_kind in ("int", "float", "str"):
            t = self.temp()
            guard = "is str" if b_kind == "str" else "in _NUMBERS"
            return f"({t} {op} {b} if ({t} := {a}).__class__ {guard} else _fail())", "bool"
        return f"_compare({a}, {b}, {op!r})", "bool"

    def _equality(self, op: str, left: Node, right: Node) -> Code:
        typed = _type_test(left, right) or _type_test(right, left)
        if typed is not None:
            code, _ = self.expr(typed[0])
            test = f"({code}).__class__ is {TYPE_CLASSES[typed[1]]}"
            return (test if op == "==" else f"(not {test})"), "bool"
        a, a_kind = self.expr(left)
        b, b_kind = self.expr(right)
        if a_kind == b_kind and a_kind in ("str", "bool", "int", "float"):
            return f"({a} {op} {b})", "bool"
        if b_kind in ("str", "bool") and a_kind == "dyn":
            t = self.temp()
            test = f"({t} == {b} if ({t} := {a}).__class__ is {b_kind} else _equal({t}, {b}))"
            return (test if op == "==" else f"(not {test})"), "bool"
        test = f"_equal({a}, {b})"
        return (test if op == "==" else f"(not {test})"), "bool"

    def _in(self, left: Node, right: Node) -> Code:
        element, _ = self.expr(left)
        values = self._constant_list(right)
        if values is not None and all(type(v) is str for v in values):
            t = self.temp()
            found = self.const(frozenset(values))
            return f"({t} in {found} if ({t} := {element}).__class__ is str else _fail())", "bool"
        container, _ = self.expr(right)
        return f"_in({element}, {container})", "bool"

    def _constant_list(self, node: Node) -> list[Any] | None:
        if node[0] == "list":
            value = literal_value(node)
            return value if isinstance(value, list) else None
        if node[0] in ("sel", "idx") and node[1][0] == "id" and node[1][1] in self.fixed:
            if node[1][1] in self.bound:
                return None
            key = node[2] if node[0] == "sel" else node[2][1] if node[2][0] == "lit" else None
            holder = self.fixed[node[1][1]]
            found = holder.get(key) if isinstance(holder, dict) and isinstance(key, str) else None
            return found if isinstance(found, list) else None
        return None

    def _call(self, node: Node) -> Code:
        name, target, arguments = node[1], node[2], node[3]
        if name in ("exists", "all") and target is not None:
            return self._macro(name, target, arguments)
        if target is None:
            if name == "has" and len(arguments) == 1 and arguments[0][0] == "sel":
                holder, _ = self.expr(arguments[0][1])
                return f"_has({holder}, {arguments[0][2]!r})", "bool"
            if len(arguments) != 1:
                raise Unsupported(f"call {name}")
            return self._function(name, arguments[0])
        receiver, _ = self.expr(target)
        return self._method(name, receiver, arguments)

    def _function(self, name: str, argument: Node) -> Code:
        code, kind = self.expr(argument)
        if name == "size":
            return f"_size({code})", "int"
        if name == "double":
            return (code, "float") if kind == "float" else (f"_double({code})", "float")
        if name in ("int", "string", "dyn"):
            if name == "dyn":
                return code, kind
            cls = "int" if name == "int" else "str"
            t = self.temp()
            return f"({t} if ({t} := {code}).__class__ is {cls} else _fail())", name[:3]
        raise Unsupported(f"function {name}")

    def _method(self, name: str, receiver: str, arguments: tuple[Node, ...]) -> Code:
        t = self.temp()
        guard = f"{t}.__class__ is str"
        if name == "matches" and len(arguments) == 1 and arguments[0][0] == "lit":
            if not isinstance(arguments[0][1], str):
                raise Unsupported("matches with a non-string pattern")
            translated = translate_regex(arguments[0][1])
            search = self.const(translated.pattern.search)
            if translated.ascii_only:
                guard += f" and {t}.isascii()"
            guard = guard.replace(f"{t}.__class__", f"({t} := {receiver}).__class__", 1)
            return f"({search}({t}) is not None if {guard} else _fail())", "bool"
        if name in STRING_TESTS and len(arguments) == 1:
            argument, kind = self.expr(arguments[0])
            if kind != "str":
                return f"_string_test({receiver}, {argument}, {name!r})", "bool"
            test = STRING_TESTS[name].format(r=t, a=argument)
            return f"({test} if ({t} := {receiver}).__class__ is str else _fail())", "bool"
        if name == "lowerAscii" and not arguments:
            value = f"({t}.lower() if {t}.isascii() else _lower_ascii({t}))"
            return f"({value} if ({t} := {receiver}).__class__ is str else _fail())", "str"
        if name == "size" and not arguments:
            return f"_size({receiver})", "int"
        if name == "split" and len(arguments) == 1:
            separator, _ = self.expr(arguments[0])
            return f"_split({receiver}, {separator})", "list"
        raise Unsupported(f"method {name}")

    def _macro(self, name: str, target: Node, arguments: tuple[Node, ...]) -> Code:
        if len(arguments) != 2 or arguments[0][0] != "id":
            raise Unsupported(f"macro {name}")
        variable = arguments[0][1]
        collection, _ = self.expr(target)
        self.bound.append(variable)
        try:
            body = self.boolean(arguments[1])
        finally:
            self.bound.pop()
        reducer = "any" if name == "exists" else "all"
        return f"{reducer}({body} for _m_{variable} in _items({collection}))", "bool"


def _type_test(typed: Node, other: Node) -> tuple[Node, str] | None:
    """``type(x) == T`` as (x, T), when ``typed`` is ``type(x)`` and ``other`` a type name."""
    if typed[0] != "call" or typed[1] != "type" or typed[2] is not None or len(typed[3]) != 1:
        return None
    if other[0] != "id" or other[1] not in TYPE_CLASSES:
        return None
    return typed[3][0], other[1]


def literal_value(node: Node) -> Any:
    """The Python value of a constant list or map; Unsupported for anything computed."""
    if node[0] == "lit":
        return node[1]
    if node[0] == "list":
        return [literal_value(item) for item in node[1]]
    if node[0] == "map":
        found: dict[str, Any] = {}
        for key, value in node[1]:
            name = literal_value(key)
            if not isinstance(name, str) or name in found:
                raise Unsupported("map key that is not a distinct string")
            found[name] = literal_value(value)
        return found
    raise Unsupported("computed list or map")
