"""The rule shapes the fast path's differential test runs: every rule of ``policies/`` and of the
conformance files, the benchmark's synthetic shapes, the shapes refinement synthesises
(:mod:`alignment_flywheel.governance.synthesis`, ``steered``), and edge shapes of CEL's meaning.
Also the strategies of generated proposals (hypothesis) and the pure-CEL judge of one rule."""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import cel
import yaml
from hypothesis import strategies as st

from alignment_flywheel.events import BlastRadius, Origin, Proposal, RiskContext
from alignment_flywheel.governance import steered, synthesis
from alignment_flywheel.oracle.expressions import FUNCTIONS, proposal_variables
from alignment_flywheel.oracle.provenance import SessionContext

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from synthetic import RULE_SHAPES  # noqa: E402

CONFORMANCE = ROOT / "tests" / "conformance"
EDGE_SHAPES = [
    "size(args.cmd) > 3",
    "args.count >= 10.5",
    "args.count == 3",
    "args.amount < args.count",
    "args.items == [1, 2]",
    'args == {"cmd": "ls"}',
    "type(args.count) == int || type(args.count) == double",
    "type(args.cmd) != string",
    'args.items.exists(i, i == "x")',
    "args.items.all(i, type(i) == int && i > 1)",
    'args.tags[0] == "x"',
    'args.cmd.matches("^ls\\\\s+-l$")',
    'args.cmd.matches("\\\\d+\\\\b")',
    'args.cmd.matches("(?i)rm")',
    'args.cmd.split(" ")[1] == "-rf"',
    'args.force ? args.count > 1 : args.cmd == "x"',
    "args.force",
    "!args.force || args.count > 0",
    'args.user.lowerAscii() in ["root", "admin"]',
    '"cmd" in args && args.cmd.contains("sudo")',
    'args.count in [1, 2.0, "3"]',
    "int(args.count) > 2",
    "string(args.cmd) == 'ls'",
    "args.count > 2 && args.count < 2",
    'tool == "shell.exec" && proposer.startsWith("agent") && session != ""',
    'reasoning.contains("urgent") || parent == ""',
    "args.items.size() > 1",
    "args.count + 1 > 2",
    "args.cmd.matches(args.user)",
    'args.nested.inner == "x"',
    "has(args.nested.inner)",
]
FRAGMENTS = [
    "rm -rf /",
    "sudo ",
    "ls",
    "-l",
    " ",
    "\n",
    "\x0b",
    "\x1c",
    "\u0663",
    "\u00c9",
    "\U0001f600",
    "http://",
    "https://",
    "169.254.169.254",
    "/workspace/",
    "..",
    "@example.com",
    " where ",
    "select ",
    "DELETE ",
    "drop ",
    "|sh",
    "curl x | bash",
    "user",
    "tool:",
    "text:",
    "x",
    "root",
    "ADMIN",
    "prod-1",
    "tail -n 5",
]
TOOLS = ["shell.exec", "sql.query", "http.fetch", "email.send", "payments.transfer", "svc1.call"]
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ARGS = re.compile(r"args\.([A-Za-z_]\w*)")


def _rules_of(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules: list[dict[str, Any]] = document["rules"]
    return rules


def _synthesised() -> tuple[list[str], dict[str, list[str]]]:
    """The predicates synthesis derives for members of every argument kind, its exact condition
    and the steered shape; with the named sets they read."""
    calls = [
        {"cmd": "rm -rf /tmp/build now", "path": "/srv/data/a.json", "to": "eve@evil.test"},
        {"cmd": "rm -fr /tmp/cache now", "path": "/srv/data/b.json", "to": "eve@evil.test"},
    ]
    extra = [
        {"url": "https://evil.example.com/a", "mode": "fast", "tags": ["x", "y"], "amount": 5},
        {"url": "https://evil.example.com/b", "mode": "fast", "tags": ["x"], "amount": 7.5},
    ]
    members = [_proposal("shell.exec", {**a, **b}) for a, b in zip(calls, extra, strict=True)]
    benign = [_proposal("shell.exec", {"to": "alice@example.com", "tags": ["z"]})]
    known = synthesis.known_values("shell", benign)
    request = SessionContext("please tidy up")
    sessions = {
        m.proposal_id: SessionContext(request.request, (("web.fetch", "mail eve@evil.test"),))
        for m in members
    }
    predicates = synthesis.shared_predicates(members, sessions, known)
    data = {name: list(values) for p in predicates for name, values in p.data}
    sources = [p.expression for p in predicates]
    sources += [synthesis.exact_condition(members), steered.steered_expression()]
    sources.append(synthesis.conjunction(predicates[:3]))
    return sources, data


def shapes_document() -> dict[str, Any]:
    """One artifact holding every shape, each on every tool."""
    whens = [r["when"] for r in _rules_of(ROOT / "policies" / "oracle.yaml")]
    for name in ("provenance/cases.yaml", "sessions/cases.yaml"):
        whens += [r["when"] for r in _rules_of(CONFORMANCE / name)]
    whens += [shape.format(n=7, big=900) for shape in RULE_SHAPES]
    synthesised, data = _synthesised()
    whens += synthesised + EDGE_SHAPES
    rules = [
        {"id": f"shape{i}", "tools": ["*"], "when": when, "score": 0.1, "message": f"shape {i}"}
        for i, when in enumerate(dict.fromkeys(whens))
    ]
    return {"name": "shapes", "version": 1, "rules": rules, "data": data}


def vocabulary(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The argument keys the rules read and the string literals they hold."""
    whens = [r["when"] for r in document["rules"]]
    keys = sorted({k for w in whens for k in _ARGS.findall(w)} | {"other"})
    literals = sorted({_decoded(m) for w in whens for m in _LITERAL.findall(w)} - {None})
    return keys, [str(x) for x in literals][:200]


def _decoded(literal: str) -> str | None:
    try:
        value = cel.evaluate(f'"{literal}"')
    except (ValueError, RuntimeError):
        return None
    return value if isinstance(value, str) else None


def _proposal(tool: str, arguments: dict[str, Any], risk: RiskContext | None = None) -> Proposal:
    return Proposal(
        proposal_id=uuid.uuid4(),
        proposer_id="agent-1",
        session_id="s-1",
        tool=tool,
        arguments=json.dumps(arguments),
        risk=risk or RiskContext(proposer_confidence=0.5, environment="staging"),
    )


def proposals(keys: list[str], literals: list[str], tools: list[str]) -> st.SearchStrategy[Any]:
    """(proposal, session) pairs over these argument keys, near-miss strings and edge numbers."""
    text = st.lists(st.sampled_from(FRAGMENTS + literals) | st.text(max_size=3), max_size=3).map(
        "".join
    )
    integers = st.sampled_from([0, 1, 2, 3, 900, 901, 2**53, 2**63, 2**64 + 5, -(2**63)])
    small = st.integers(-1000, 1000)
    numbers = st.one_of(small, small, integers, st.floats(allow_nan=False, allow_infinity=False))
    scalars = st.one_of(text, text, text, numbers, numbers, st.booleans(), st.none())
    names = st.sampled_from(keys)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
        max_leaves=5,
    )
    arguments = st.dictionaries(names, values, min_size=2, max_size=8)
    risk = st.builds(
        RiskContext,
        origin=st.sampled_from(list(Origin)),
        proposer_confidence=st.sampled_from([0.0, 0.2, 0.3, 0.9, 1.0]),
        blast_radius=st.sampled_from(list(BlastRadius)),
        environment=st.sampled_from(["production", "staging", "dev"]),
    )
    session = st.none() | st.builds(
        SessionContext,
        text,
        st.lists(st.tuples(st.sampled_from(tools), text), max_size=2).map(tuple),
    )
    return st.tuples(st.sampled_from(tools), arguments, risk, session).map(
        lambda t: (_proposal(t[0], t[1], t[2]), t[3])
    )


def cel_context(proposal: Proposal, fixed: dict[str, Any], session: Any) -> cel.Context:
    """The CEL context of every variable, for the CEL engine alone (no rewriting)."""
    variables = proposal_variables(proposal, proposal.arguments_object(), None, session)
    return cel.Context(variables={**variables, **fixed}, functions=dict(FUNCTIONS))


def cel_status(program: cel.Program, context: cel.Context) -> bool | str:
    """What the CEL engine alone says of one rule: True, False or "error"."""
    try:
        value = program.execute(context)
    except Exception:
        return "error"
    return value if isinstance(value, bool) else "error"
