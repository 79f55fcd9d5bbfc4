"""CEL expressions over a proposal: compiled once, evaluated against one context per proposal.

Rules:

* Every expression (a rule's ``when``, a risk tier's ``when``) sees the same variables:
  ``tool`` (string), ``args`` (the arguments object), ``risk`` (``origin``, ``blast_radius``,
  ``proposer_confidence``, ``environment``), ``proposer``, ``session``, ``reasoning`` (``""`` when
  absent) and ``parent`` (the parent proposal id, ``""`` when absent).
* The functions are CEL's standard ones (``size``, ``matches``, ``startsWith``, ``contains``,
  ``int``, ``double``, ``timestamp``, the ``has``/``exists``/``all``/``map``/``filter`` macros ...)
  plus cel-go's ``strings`` and ``sets`` extensions (``lowerAscii``, ``trim``, ``split``,
  ``replace``, ``sets.intersects`` ...).
* Compiling refuses syntax errors, names that are not among those variables and functions that do
  not exist, with CEL's message or a list of what is known.
* Evaluating must give a bool. Anything else (a missing key, a type error, a non-bool result) is an
  :class:`ExpressionError` whose message says what failed; callers decide what it means (the rule
  oracle reports it as evidence, never as a silent non-match).
* A context is built once per proposal and shared by every expression evaluated on it (``cel``'s
  Context caches its converted variables; building it costs more than evaluating a rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cel
from cel.stdlib import EXTENSIONS

from alignment_flywheel.errors import FlywheelError
from alignment_flywheel.events import Proposal

VARIABLES = frozenset({"tool", "args", "risk", "proposer", "session", "reasoning", "parent"})
FUNCTIONS = {**EXTENSIONS["strings"], **EXTENSIONS["sets"]}
NATIVE_FUNCTIONS = frozenset(
    {
        "bytes",
        "contains",
        "double",
        "duration",
        "dyn",
        "endsWith",
        "int",
        "matches",
        "size",
        "startsWith",
        "string",
        "timestamp",
        "type",
        "uint",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getMonth",
        "getSeconds",
    }
)
KNOWN_FUNCTIONS = NATIVE_FUNCTIONS | frozenset(FUNCTIONS)


class ExpressionError(FlywheelError):
    """A compiled expression failed on one input, or did not give a bool."""


def compile_expression(source: str) -> cel.Program:
    """The compiled program; ValueError with CEL's message when it cannot be used."""
    if not source.strip():
        raise ValueError("empty expression")
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise ValueError(" ".join(str(exc).split())) from None
    unknown = sorted(set(program.variables()) - VARIABLES)
    if unknown:
        known = ", ".join(sorted(VARIABLES))
        raise ValueError(f"unknown variable(s) {', '.join(unknown)}; known: {known}")
    functions = program.references()["functions"]
    missing = sorted(f for f in functions if f[0] not in "_@!" and f not in KNOWN_FUNCTIONS)
    if missing:
        raise ValueError(f"unknown function(s) {', '.join(missing)}")
    return program


def make_context(variables: Mapping[str, Any]) -> cel.Context:
    """An evaluation context with these variables and the extension functions."""
    return cel.Context(variables=dict(variables), functions=FUNCTIONS)


def proposal_variables(proposal: Proposal, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The variables every expression sees for this proposal."""
    risk = proposal.risk
    return {
        "tool": proposal.tool,
        "args": arguments,
        "risk": {
            "origin": risk.origin.value,
            "blast_radius": risk.blast_radius.value,
            "proposer_confidence": risk.proposer_confidence,
            "environment": risk.environment,
        },
        "proposer": proposal.proposer_id,
        "session": proposal.session_id,
        "reasoning": proposal.reasoning or "",
        "parent": "" if proposal.parent_proposal_id is None else str(proposal.parent_proposal_id),
    }


def proposal_context(proposal: Proposal, arguments: Mapping[str, Any]) -> cel.Context:
    """One evaluation context for every expression evaluated on this proposal."""
    return make_context(proposal_variables(proposal, arguments))


def evaluate_bool(program: cel.Program, context: cel.Context) -> bool:
    """The expression's value; ExpressionError when it fails or is not a bool."""
    try:
        value = program.execute(context)
    except KeyError as exc:
        raise ExpressionError(f"no such key: {exc.args[0]!r}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ExpressionError(" ".join(str(exc).split())) from None
    if not isinstance(value, bool):
        raise ExpressionError(f"must give a bool, gave {type(value).__name__} {value!r:.60}")
    return value
