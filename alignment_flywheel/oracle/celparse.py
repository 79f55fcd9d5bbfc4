"""A parser for the subset of CEL the fast path translates (:mod:`.fastpath`).

The CEL binding exposes no syntax tree, so this module parses the expressions rules are written
in: literals (ints, doubles, strings, bools, null, lists, maps), identifiers, field selection,
indexing, calls and method calls, ``!``/unary ``-``, ``&&``, ``||``, ``?:``, the relations
(``== != < <= > >= in``). Anything else (bytes, uints, arithmetic, a token it does not know) raises
:class:`Unsupported`, and the rule is then evaluated by the CEL engine: the subset never guesses.
String literals are decoded by the CEL engine itself, so escapes mean exactly what CEL says.

Nodes are tuples whose first item names the kind: ``("lit", value)``, ``("id", name)``,
``("sel", target, field)``, ``("idx", target, key)``, ``("call", name, target | None, args)``,
``("list", items)``, ``("map", pairs)``, ``("not", x)``, ``("neg", x)``, ``("and", a, b)``,
``("or", a, b)``, ``("cond", test, a, b)``, ``("rel", op, a, b)``.
"""

from __future__ import annotations

import re
from typing import Any

import cel

from alignment_flywheel.errors import FlywheelError

Node = tuple[Any, ...]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>[rR]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
    | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||==|!=|<=|>=|[<>!?:.,()\[\]{}+\-*/%])
    )""",
    re.VERBOSE,
)
_RESERVED = frozenset({"true", "false", "null", "in"})
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
MAX_SAFE_INT = 2**53


class Unsupported(FlywheelError):
    """The expression uses something outside the translated subset (CEL evaluates it)."""


def tokens(source: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(source):
        if not source[position:].strip():
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise Unsupported(f"unknown token at {position}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        found.append(("name" if kind == "name" and text not in _RESERVED else kind, text))
        if kind == "name" and text in _RESERVED:
            found[-1] = ("op" if text == "in" else "word", text)
        position = match.end()
    found.append(("end", ""))
    return found


class Parser:
    """Recursive descent over CEL's grammar (precedence: ?:, ||, &&, relations, unary, member)."""

    def __init__(self, source: str) -> None:
        self.items = tokens(source)
        self.at = 0

    def parse(self) -> Node:
        node = self.conditional()
        if self.peek() != ("end", ""):
            raise Unsupported(f"unexpected {self.peek()[1]!r}")
        return node

    def peek(self) -> tuple[str, str]:
        return self.items[self.at]

    def take(self, text: str | None = None) -> tuple[str, str]:
        item = self.items[self.at]
        if text is not None and item[1] != text:
            raise Unsupported(f"expected {text!r}, found {item[1]!r}")
        self.at += 1
        return item

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text and self.peek()[0] in ("op", "word"):
            self.at += 1
            return True
        return False

    def conditional(self) -> Node:
        test = self.logical("||")
        if not self.accept("?"):
            return test
        chosen = self.logical("||")
        self.take(":")
        return ("cond", test, chosen, self.conditional())

    def logical(self, op: str) -> Node:
        lower = self.relation if op == "&&" else lambda: self.logical("&&")
        node = lower()
        while self.accept(op):
            node = ("and" if op == "&&" else "or", node, lower())
        return node

    def relation(self) -> Node:
        node = self.unary()
        while self.peek()[1] in _RELATIONS and self.peek()[0] == "op":
            op = self.take()[1]
            node = ("rel", op, node, self.unary())
        if self.peek()[1] in ("+", "-", "*", "/", "%"):
            raise Unsupported("arithmetic")
        return node

    def unary(self) -> Node:
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("-"):
            operand = self.unary()
            if operand[0] == "lit" and type(operand[1]) in (int, float):
                return ("lit", -operand[1])
            return ("neg", operand)
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                kind, name = self.take()
                if kind != "name":
                    raise Unsupported(f"field {name!r}")
                if self.accept("("):
                    node = ("call", name, node, self.arguments(")"))
                else:
                    node = ("sel", node, name)
            elif self.accept("["):
                node = ("idx", node, self.conditional())
                self.take("]")
            else:
                return node

    def arguments(self, closing: str) -> tuple[Node, ...]:
        found: list[Node] = []
        while not self.accept(closing):
            if found:
                self.take(",")
                if self.accept(closing):
                    break
            found.append(self.conditional())
        return tuple(found)

    def primary(self) -> Node:
        kind, text = self.take()
        if kind in _LITERALS:
            return ("lit", _LITERALS[kind](text))
        if kind == "name":
            if self.accept("("):
                return ("call", text, None, self.arguments(")"))
            return ("id", text)
        if text == "(":
            node = self.conditional()
            self.take(")")
            return node
        if text == "[":
            return ("list", self.arguments("]"))
        if text == "{":
            return ("map", self.pairs())
        raise Unsupported(f"unexpected {text!r}")

    def pairs(self) -> tuple[tuple[Node, Node], ...]:
        found: list[tuple[Node, Node]] = []
        while not self.accept("}"):
            if found:
                self.take(",")
                if self.accept("}"):
                    break
            key = self.conditional()
            self.take(":")
            found.append((key, self.conditional()))
        return tuple(found)


def _string(text: str) -> str:
    if text[:1] in "bB":
        raise Unsupported("bytes literal")
    value = cel.evaluate(text)
    if not isinstance(value, str):
        raise Unsupported("not a string literal")
    return value


def _number(text: str) -> int | float:
    if text[-1] in "uU":
        raise Unsupported("uint literal")
    if text[:2] in ("0x", "0X"):
        value: int | float = int(text, 16)
    elif any(c in text for c in ".eE"):
        value = float(text)
    else:
        value = int(text)
    if isinstance(value, int) and abs(value) >= MAX_SAFE_INT:
        raise Unsupported("int literal beyond 2**53")
    return value


_LITERALS: dict[str, Any] = {
    "string": _string,
    "number": _number,
    "word": {"true": True, "false": False, "null": None}.__getitem__,
}


def parse(source: str) -> Node:
    """The syntax tree of ``source``; Unsupported when it is outside the subset."""
    return Parser(source).parse()
