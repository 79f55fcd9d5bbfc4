"""How list and status commands print: a plain table that fits 80 columns, or JSON.

Rules:

* Every list and status command takes ``--output table|json`` (:data:`OutputOption`) and prints
  through :func:`emit`: the same rows either way.
* ``json`` prints one JSON document on stdout: ``{"title": ..., "rows": [{column: value}]}``
  with every value in full (ids, digests, times in ISO 8601), for scripts. Extra top-level keys
  (``extra``) carry what a status command says besides its rows.
* ``table`` prints plain text, never wider than :data:`WIDTH` columns: each column is as wide as
  its longest value, capped by its ``max_width``; when the row is still too wide the widest
  columns give way. A value cut short ends with ``~`` (ids keep their first characters, which
  is what a person types or greps). No borders, no colour. One line per row, except in the one
  column a status command names ``wrap`` (its last, a free-text detail): that one continues on
  the next lines, word by word, so no fact is cut.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

WIDTH = 80
GAP = 2
MIN_WIDTH = 4


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table: plain text within 80 columns; json: every value in full, for scripts.",
        case_sensitive=False,
    ),
]


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its heading, and the most characters it may take."""

    key: str
    heading: str = ""
    max_width: int = 40

    @property
    def title(self) -> str:
        return self.heading or self.key.replace("_", " ")


def plain(value: Any) -> str:
    """A value as a table cell shows it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return " ".join(str(value).split())


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def widths(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """The width of each column so that the row (with gaps) fits ``width`` characters."""
    sized = [
        min(max([len(c.title), *(len(row[i]) for row in cells)]), max(c.max_width, MIN_WIDTH))
        for i, c in enumerate(columns)
    ]
    budget = width - GAP * (len(columns) - 1)
    while sum(sized) > budget:
        widest = max(range(len(sized)), key=lambda i: sized[i])
        if sized[widest] <= MIN_WIDTH:
            break
        sized[widest] -= 1
    return sized


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def table_lines(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    width: int = WIDTH,
    *,
    wrap: str | None = None,
) -> list[str]:
    """The rows as plain lines, heading first, each at most ``width`` characters; the column
    keyed ``wrap`` (the last one) continues on further lines instead of being cut."""
    cells = [[plain(row.get(c.key)) for c in columns] for row in rows]
    sizes = widths(columns, cells, width)
    if wrap is not None and columns[-1].key == wrap:
        sizes[-1] = max(MIN_WIDTH, width - sum(sizes[:-1]) - GAP * (len(columns) - 1))
    lines = []
    for line in [[c.title for c in columns], *cells]:
        head = [_cut(text, size).ljust(size) for text, size in zip(line[:-1], sizes, strict=False)]
        last = line[-1]
        pieces = (
            textwrap.wrap(last, sizes[-1], break_on_hyphens=False) or [""]
            if wrap is not None and columns[-1].key == wrap
            else [_cut(last, sizes[-1])]
        )
        lines.append((" " * GAP).join([*head, pieces[0]]).rstrip())
        indent = sum(sizes[:-1]) + GAP * (len(columns) - 1)
        lines.extend(" " * indent + piece for piece in pieces[1:])
    return lines


def emit(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    output: OutputFormat,
    title: str,
    empty: str,
    extra: Mapping[str, Any] | None = None,
    wrap: str | None = None,
) -> None:
    """Print ``rows`` as ``output`` asks; ``empty`` is the table's text when there are none."""
    if output is OutputFormat.JSON:
        document: dict[str, Any] = {"title": title, "rows": [_json_value(r) for r in rows]}
        document.update({k: _json_value(v) for k, v in (extra or {}).items()})
        typer.echo(json.dumps(document, indent=2, sort_keys=False))
        return
    if not rows:
        typer.echo(empty)
    else:
        for piece in textwrap.wrap(title, WIDTH, subsequent_indent="  ") or [""]:
            typer.echo(piece)
        for line in table_lines(columns, rows, wrap=wrap):
            typer.echo(line)
    for key, value in (extra or {}).items():
        text = f"{key.replace('_', ' ')}: {plain(value)}"
        for piece in textwrap.wrap(text, WIDTH, subsequent_indent="  ") or [""]:
            typer.echo(piece)
