"""Variant families of the red team: the same action, written so a rule may not recognise it.

Each family turns a tool call (tool name and arguments) into candidates that mean, or may mean,
the same thing to the system that runs it:

* ``case``: upper, lower, swapped, title and random case of a string argument;
* ``encoding``: percent-encoding (every byte, reserved characters, some letters, twice) and
  ``\\uXXXX`` escapes of the letters;
* ``path``: ``/./`` and ``//`` between path segments, a ``x/..`` detour, trailing slashes; for a URL
  also the scheme in capitals, another form of the host (an IPv4 address as one decimal, hex or
  octal number or as an IPv4-mapped IPv6 address; a name with a trailing dot or in capitals),
  user-info before the host and the default port;
* ``whitespace``: doubled spaces, tabs, no-break spaces, leading and trailing blanks;
* ``homoglyph``: Cyrillic look-alikes of Latin letters, one letter or all, and full-width forms;
* ``arguments``: an argument renamed to a plausible synonym (cmd/command, path/file...) and the
  arguments reordered;
* ``tool``: the same action through an equivalent tool (shell.exec, shell.run, os.system...);
* ``split``: a command chained with ``&&``, ``||``, ``;`` or a newline split into one call per part.

:func:`generate` is deterministic for a seed (one ``random.Random(seed)`` drives every choice),
returns at most ``budget`` variants, never the seed call itself and never the same call twice;
families take turns so a small budget still covers each of them, and what budget remains is
spent on pairs of transformations (a variant of a variant).
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Arguments = dict[str, Any]
Candidate = tuple[str, str, Arguments]
"""A transformation's name, the tool and the arguments it produced."""

SEPARATORS = re.compile(r"\s*(?:&&|\|\||;|\n)\s*")
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
PATH_SLASH = re.compile(r"/(?=[^/\s])")
PATH_END = re.compile(r"(/[^/\s]+)(?=\s|$)")
FIRST_SEGMENT = re.compile(r"(^|\s)/([^/\s]+)")
HOMOGLYPHS = str.maketrans(  # Latin letters to their Cyrillic look-alikes
    "aceopxyiAEOPCXHKMT",
    "\u0430\u0441\u0435\u043e\u0440\u0445\u0443\u0456\u0410"
    "\u0415\u041e\u0420\u0421\u0425\u041d\u041a\u041c\u0422",
)
SYNONYMS = [
    ("cmd", "command", "script", "commandline"),
    ("path", "file", "filepath", "filename", "target"),
    ("url", "uri", "href", "endpoint"),
    ("sql", "query", "statement"),
    ("to", "recipient", "recipients"),
    ("amount", "value", "sum"),
]
TOOL_CLASSES = [
    ("shell.exec", "shell.run", "shell.execute", "os.system", "subprocess.run", "bash.run"),
    ("http.get", "http.request", "http.fetch", "web.fetch", "http.post"),
    ("file.write", "file.save", "fs.write", "file.put"),
    ("file.delete", "fs.delete", "file.remove", "fs.unlink"),
    ("sql.execute", "sql.query", "db.execute", "db.query"),
    ("payments.transfer", "payments.send", "bank.transfer"),
    ("email.send", "mail.send", "email.compose"),
]


@dataclass(frozen=True, slots=True)
class Variant:
    """One generated call: its family (``a+b`` for a pair), what was done, tool and arguments."""

    family: str
    transform: str
    tool: str
    arguments: str
    """The arguments as JSON text, in the variant's key order."""

    def arguments_object(self) -> Arguments:
        value: Arguments = json.loads(self.arguments)
        return value


Family = Callable[[str, Arguments, random.Random], list[Candidate]]
ValueTransform = Callable[[str, random.Random], str]


def _per_string(transforms: dict[str, ValueTransform]) -> Family:
    """A family applying each value transformation to each string argument in turn."""

    def family(tool: str, args: Arguments, rng: random.Random) -> list[Candidate]:
        found = []
        for key, value in args.items():
            if not isinstance(value, str) or not value:
                continue
            for name, transform in transforms.items():
                changed = transform(value, rng)
                if changed != value:
                    found.append((f"{name}({key})", tool, {**args, key: changed}))
        return found

    return family


def _random_case(value: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in value)


def _percent_some(value: str, rng: random.Random) -> str:
    return "".join(f"%{ord(c):02X}" if c.isalpha() and rng.random() < 0.4 else c for c in value)


def _unicode_escapes(value: str, _rng: random.Random) -> str:
    return "".join(f"\\u{ord(c):04x}" if c.isalpha() else c for c in value)


def _percent_all(value: str, _rng: random.Random) -> str:
    return "".join(f"%{byte:02X}" for byte in value.encode())


CASE = _per_string(
    {
        "upper": lambda v, _: v.upper(),
        "lower": lambda v, _: v.lower(),
        "swapcase": lambda v, _: v.swapcase(),
        "title": lambda v, _: v.title(),
        "random-case": _random_case,
    }
)
ENCODING = _per_string(
    {
        "percent-all": _percent_all,
        "percent-reserved": lambda v, _: urllib.parse.quote(v, safe=""),
        "percent-some": _percent_some,
        "percent-twice": lambda v, _: urllib.parse.quote(urllib.parse.quote(v, safe=""), safe=""),
        "unicode-escapes": _unicode_escapes,
    }
)
WHITESPACE = _per_string(
    {
        "double-spaces": lambda v, _: v.replace(" ", "  "),
        "tabs": lambda v, _: v.replace(" ", "\t"),
        "no-break-spaces": lambda v, _: v.replace(" ", "\u00a0"),
        "padded": lambda v, _: f"  {v} ",
        "leading-newline": lambda v, _: f"\n{v}",
    }
)


def _one_homoglyph(value: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(value) if c.translate(HOMOGLYPHS) != c]
    if not positions:
        return value
    i = rng.choice(positions)
    return value[:i] + value[i].translate(HOMOGLYPHS) + value[i + 1 :]


def _fullwidth(value: str, _rng: random.Random) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in value)


HOMOGLYPH = _per_string(
    {
        "homoglyphs": lambda v, _: v.translate(HOMOGLYPHS),
        "one-homoglyph": _one_homoglyph,
        "fullwidth": _fullwidth,
    }
)


def _path_tricks(value: str, _rng: random.Random) -> dict[str, str]:
    if URL.match(value):
        return _url_tricks(value)
    if "/" not in value:
        return {}
    return {
        "dot-segments": PATH_SLASH.sub("/./", value),
        "double-slashes": PATH_SLASH.sub("//", value),
        "dot-dot": FIRST_SEGMENT.sub(r"\1/x/../\2", value, count=1),
        "trailing-slash": PATH_END.sub(r"\1/", value),
    }


def _url_tricks(value: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(value)
    host, rest = parts.hostname or "", parts._replace(scheme="", netloc="").geturl()
    port = {"http": ":80", "https": ":443"}.get(parts.scheme.lower(), "")
    found = {
        "scheme-case": parts.scheme.upper() + value[len(parts.scheme) :],
        "userinfo": f"{parts.scheme}://user@{parts.netloc}{rest}",
        "default-port": f"{parts.scheme}://{parts.netloc}{port}{rest}"
        if parts.port is None
        else "",
        "path-dot-segments": f"{parts.scheme}://{parts.netloc}{PATH_SLASH.sub('/./', rest)}",
        "path-trailing-slash": f"{parts.scheme}://{parts.netloc}{rest.rstrip('/')}/",
    }
    for name, form in _host_forms(host).items():
        found[name] = (
            f"{parts.scheme}://{form}{'' if parts.port is None else f':{parts.port}'}{rest}"
        )
    return {name: url for name, url in found.items() if url}


def _host_forms(host: str) -> dict[str, str]:
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return {"host-trailing-dot": f"{host}.", "host-case": host.upper()} if host else {}
    number = int(address)
    return {
        "ip-decimal": str(number),
        "ip-hex": hex(number),
        "ip-octal": ".".join(f"0{int(octet):o}" for octet in host.split(".")),
        "ip-mapped-v6": f"[::ffff:{host}]",
    }


def path_family(tool: str, args: Arguments, rng: random.Random) -> list[Candidate]:
    found = []
    for key, value in args.items():
        if isinstance(value, str):
            for name, changed in _path_tricks(value, rng).items():
                if changed != value:
                    found.append((f"{name}({key})", tool, {**args, key: changed}))
    return found


def arguments_family(tool: str, args: Arguments, rng: random.Random) -> list[Candidate]:
    found = []
    for key in args:
        for group in SYNONYMS:
            if key in group:
                for other in (name for name in group if name != key and name not in args):
                    renamed = {other if k == key else k: v for k, v in args.items()}
                    found.append((f"rename({key}->{other})", tool, renamed))
    if len(args) > 1:
        found.append(("reverse-order", tool, dict(reversed(list(args.items())))))
        items = list(args.items())
        rng.shuffle(items)
        found.append(("shuffle-order", tool, dict(items)))
    return found


def tool_family(tool: str, args: Arguments, _rng: random.Random) -> list[Candidate]:
    for group in TOOL_CLASSES:
        if tool in group:
            return [
                (f"tool({tool}->{other})", other, dict(args)) for other in group if other != tool
            ]
    return []


def split_family(tool: str, args: Arguments, _rng: random.Random) -> list[Candidate]:
    found = []
    for key, value in args.items():
        if not isinstance(value, str):
            continue
        parts = [part for part in SEPARATORS.split(value) if part.strip()]
        if len(parts) > 1:
            for n, part in enumerate(parts, start=1):
                found.append((f"split({key}) part {n}/{len(parts)}", tool, {**args, key: part}))
    return found


FAMILIES: dict[str, Family] = {
    "case": CASE,
    "encoding": ENCODING,
    "path": path_family,
    "whitespace": WHITESPACE,
    "homoglyph": HOMOGLYPH,
    "arguments": arguments_family,
    "tool": tool_family,
    "split": split_family,
}


def generate(
    tool: str,
    arguments: Arguments,
    *,
    seed: int,
    budget: int,
    families: tuple[str, ...] = tuple(FAMILIES),
) -> list[Variant]:
    """At most ``budget`` distinct variants of a call; the same seed gives the same list."""
    rng = random.Random(seed)
    seen = {_identity(tool, arguments)}
    chosen: list[Variant] = []
    for variant in _first_order(tool, arguments, rng, families):
        if len(chosen) >= budget:
            return chosen
        if _identity(variant.tool, variant.arguments_object()) not in seen:
            seen.add(_identity(variant.tool, variant.arguments_object()))
            chosen.append(variant)
    for variant in _pairs(list(chosen), rng, families, attempts=4 * max(budget - len(chosen), 0)):
        if len(chosen) >= budget:
            break
        if _identity(variant.tool, variant.arguments_object()) not in seen:
            seen.add(_identity(variant.tool, variant.arguments_object()))
            chosen.append(variant)
    return chosen


def _first_order(
    tool: str, args: Arguments, rng: random.Random, families: tuple[str, ...]
) -> Iterator[Variant]:
    """Each family's candidates, shuffled, the families taking turns."""
    queues = []
    for name in families:
        candidates = FAMILIES[name](tool, args, rng)
        rng.shuffle(candidates)
        queues.append([_variant(name, candidate) for candidate in candidates])
    while any(queues):
        for queue in queues:
            if queue:
                yield queue.pop(0)


def _pairs(
    base: list[Variant], rng: random.Random, families: tuple[str, ...], *, attempts: int
) -> Iterator[Variant]:
    """Random second transformations of first-order variants."""
    for _ in range(attempts if base else 0):
        first = rng.choice(base)
        name = rng.choice(families)
        candidates = FAMILIES[name](first.tool, first.arguments_object(), rng)
        if candidates:
            transform, tool, args = rng.choice(candidates)
            yield Variant(
                f"{first.family}+{name}", f"{first.transform}, {transform}", tool, _json(args)
            )


def _variant(family: str, candidate: Candidate) -> Variant:
    transform, tool, args = candidate
    return Variant(family, transform, tool, _json(args))


def _json(args: Arguments) -> str:
    return json.dumps(args, ensure_ascii=False)


def _identity(tool: str, args: Arguments) -> str:
    return tool + "\x00" + json.dumps(args, ensure_ascii=False)
