"""Validation of a proposal at the edge, before the oracle sees it.

Rules (each failure raises :class:`InvalidProposalError` naming the field):

* ``tool``: a non-empty dotted name, segments of letters, digits, ``_`` or ``-`` starting with a
  letter (``shell.exec``, ``crm.update_contact``), at most 200 characters.
* ``arguments``: a mapping with string keys whose values are JSON values only: ``None``, ``bool``,
  ``int``, finite ``float``, ``str``, lists/tuples and mappings with string keys. Sets, bytes,
  NaN/infinity and arbitrary objects are refused, naming the path (``arguments.rows[2].when``).
  Nesting deeper than :data:`MAX_DEPTH` levels is refused. The JSON text is built here.
* ``risk``: a :class:`RiskContext`, a mapping of its fields (merged over the guard's default) or
  ``None`` (the default). Pydantic's errors are turned into one message per bad field.
* Size: arguments whose JSON text, or a whole event, exceed ``settings.max_event_bytes`` raise
  :class:`OversizedProposalError` (an :class:`InvalidProposalError` on ``arguments``).

:func:`build_proposal` applies all of these and builds the :class:`Proposal`; the guard, the HTTP
endpoint and anything else that accepts proposals at the edge go through it.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from alignment_flywheel.connectors.sdk.errors import InvalidProposalError, OversizedProposalError
from alignment_flywheel.errors import CodecError, OversizedEventError
from alignment_flywheel.events import Proposal, RiskContext

T = TypeVar("T")

MAX_DEPTH = 32
MAX_TOOL_LENGTH = 200
TOOL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$")


def check_tool(tool: object) -> str:
    """The tool name, or InvalidProposalError saying what is wrong with it."""
    if not isinstance(tool, str):
        raise InvalidProposalError("tool", f"must be a string, got {type(tool).__name__}")
    if not tool:
        raise InvalidProposalError("tool", "must not be empty")
    if len(tool) > MAX_TOOL_LENGTH:
        raise InvalidProposalError("tool", f"longer than {MAX_TOOL_LENGTH} characters")
    if not TOOL_PATTERN.match(tool):
        raise InvalidProposalError(
            "tool",
            f"{tool!r} is not a dotted name of letters, digits, '_' or '-' (e.g. 'shell.exec')",
        )
    return tool


def arguments_json(arguments: object) -> tuple[dict[str, Any], str]:
    """A plain-dict copy of the arguments and their JSON text; InvalidProposalError if not JSON."""
    if not isinstance(arguments, Mapping):
        raise InvalidProposalError(
            "arguments", f"must be a mapping (a JSON object), got {type(arguments).__name__}"
        )
    plain = _plain(arguments, "arguments", 1)
    return plain, json.dumps(plain, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _plain(value: object, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InvalidProposalError(path, f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidProposalError(path, f"{value} is not a JSON number")
        return value
    if isinstance(value, Mapping):
        return _plain_object(value, path, depth)
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise InvalidProposalError(path, f"a {type(value).__name__} is not a JSON value")


def _plain_object(value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidProposalError(path, f"key {key!r} is not a string")
        plain[key] = _plain(item, f"{path}.{key}", depth + 1)
    return plain


def check_risk(risk: object, default: RiskContext) -> RiskContext:
    """The risk context of a proposal: ``risk`` itself, merged over ``default``, or ``default``."""
    if risk is None:
        return default
    if isinstance(risk, RiskContext):
        return risk
    if not isinstance(risk, Mapping):
        raise InvalidProposalError(
            "risk", f"must be a RiskContext or a mapping, got {type(risk).__name__}"
        )
    try:
        return RiskContext.model_validate({**default.model_dump(), **risk})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err['input']!r})"
            for err in exc.errors()
        )
        field = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise InvalidProposalError(f"risk.{field}", problems) from None


def build_proposal(
    *,
    proposer_id: str,
    session_id: str,
    tool: str,
    arguments: Mapping[str, Any],
    reasoning: str | None,
    risk: RiskContext | Mapping[str, Any] | None,
    parent_proposal_id: uuid.UUID | None,
    default_risk: RiskContext,
    max_bytes: int,
) -> tuple[Proposal, dict[str, Any]]:
    """A proposal (fresh id) and its plain arguments; InvalidProposalError if anything is off."""
    check_tool(tool)
    plain, text = arguments_json(arguments)
    if len(text.encode()) > max_bytes:
        raise OversizedProposalError("arguments", f"larger than max_event_bytes ({max_bytes})")
    try:
        proposal = Proposal(
            proposal_id=uuid.uuid4(),
            proposer_id=proposer_id,
            session_id=session_id,
            tool=tool,
            arguments=text,
            reasoning=reasoning,
            parent_proposal_id=parent_proposal_id,
            risk=check_risk(risk, default_risk),
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise InvalidProposalError(where, error["msg"]) from None
    return proposal, plain


def encoded(build: Callable[[], T]) -> T:
    """``build()`` (encoding a proposal's event); a CodecError becomes InvalidProposalError."""
    try:
        return build()
    except OversizedEventError as exc:
        problem = f"the proposal cannot be published, it is too large: {exc}"
        raise OversizedProposalError("arguments", problem) from None
    except CodecError as exc:
        problem = f"the proposal cannot be published: {exc}"
        raise InvalidProposalError("arguments", problem) from None
