"""Compiling expressions: what the context must hold, and literal patterns run by Python's re."""

from __future__ import annotations

import cel
import pytest

from alignment_flywheel.oracle.expressions import (
    ContextPlan,
    compile_expression,
    evaluate_bool,
    proposal_context,
)
from tests.support.oracles import proposal


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ('args.cmd == "x"', {"cmd"}),
        ('has(args.force) && args["target"] == "prod"', {"force", "target"}),
        ('args.cmd.startsWith("ls") || args.path.endsWith(".key")', {"cmd", "path"}),
        ('"cmd" in args', None),
        ("size(args) > 2", None),
        ("args.exists(k, k == 'cmd')", None),
        ('risk.environment == "args.cmd"', set()),
        ('tool == "x"', set()),
    ],
)
def test_only_the_argument_fields_referenced_are_needed(
    source: str, fields: set[str] | None
) -> None:
    expression = compile_expression(source)
    assert expression.args_fields == (None if fields is None else frozenset(fields))


def test_a_plan_unites_fields_variables_and_functions() -> None:
    plan = ContextPlan.of(
        [
            compile_expression('args.a.matches("^x")'),
            compile_expression("args.b.lowerAscii() == 'y' && risk.environment == 'prod'"),
        ]
    )
    assert plan.args_fields == frozenset({"a", "b"})
    assert plan.variables == frozenset({"args", "risk"})
    assert "lowerAscii" in plan.functions
    assert len(plan.functions) == 2


@pytest.mark.parametrize(
    ("source", "cmd", "expected"),
    [
        (r'args.cmd.matches("rm\\s+-[a-z]*r")', "sudo rm -rf /", True),
        (r'args.cmd.matches("rm\\s+-[a-z]*r")', "rmdir x", False),
        (r"args.cmd.matches(r'^ls\s')", "ls -la", True),
        ('args.cmd.matches("(?i)^drop")', "DROP table", True),
        ("args.cmd.matches('a.matches(\"b\")')", 'a.matches("b")', False),
        ("args.cmd.matches('a.matches(\"b\")')", 'a-matches"b"', True),
        ('"x.matches(\\"y\\")" == args.cmd', 'x.matches("y")', True),
    ],
)
def test_literal_patterns_agree_with_cel(source: str, cmd: str, expected: bool) -> None:
    expression = compile_expression(source)
    context = proposal_context(
        proposal(arguments={"cmd": cmd}), {"cmd": cmd}, ContextPlan.of([expression])
    )
    assert evaluate_bool(expression.program, context) is expected
    assert cel.evaluate(source, {"args": {"cmd": cmd}}) is expected


def test_comprehension_variables_are_not_context_variables() -> None:
    expression = compile_expression("args.items.exists(item, item > 3) && [1].all(n, n > 0)")
    assert expression.variables == frozenset({"args"})
    with pytest.raises(ValueError, match="unknown variable"):
        compile_expression("args.items.exists(item, other > 3)")


def test_pruned_arguments_keep_missing_keys_missing() -> None:
    expression = compile_expression("has(args.force)")
    plan = ContextPlan.of([expression])
    arguments = {"cmd": "ls"}
    context = proposal_context(proposal(arguments=arguments), arguments, plan)
    assert evaluate_bool(expression.program, context) is False
