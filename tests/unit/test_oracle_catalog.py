"""The tool catalog: plain globs and entries, effect classes and argument roles, OpenAI schemas."""

from __future__ import annotations

from typing import Any

import pytest

from alignment_flywheel.connectors.sdk import catalog_from_openai_tools as sdk_catalog
from alignment_flywheel.errors import PolicyDocumentError
from alignment_flywheel.oracle import UnknownToolError
from alignment_flywheel.oracle.artifact import build_artifact
from alignment_flywheel.oracle.catalog import (
    Effect,
    Role,
    ToolCatalog,
    ToolEntry,
    catalog_from_openai_tools,
)
from alignment_flywheel.oracle.rules import RuleOracle
from tests.support.oracles import artifact_doc, proposal, rule

SEND = {"name": "email.send", "effect": "side_effect", "arguments": {"to": "recipient"}}


def evidence(oracle: RuleOracle, tool: str, arguments: dict[str, Any]) -> list[str | None]:
    return [e.rule_id for e in oracle.evaluate(proposal(tool, arguments)).evidence]


def test_plain_globs_keep_working_and_describe_nothing() -> None:
    catalog = ToolCatalog(("shell.*", "sql.query"))
    assert catalog.knows("shell.exec") and not catalog.knows("http.get")
    assert catalog.describe("shell.exec").variables() == {"effect": "unknown", "roles": {}}
    assert ToolCatalog(None).knows("anything")
    assert not ToolCatalog(()).knows("anything")


def test_an_exact_entry_wins_then_the_first_matching_glob_entry() -> None:
    catalog = ToolCatalog(
        (
            "email.*",
            ToolEntry(name="email.*", effect=Effect.READ_ONLY),
            ToolEntry(name="email.s*", effect=Effect.UNKNOWN, arguments={"x": Role.OTHER}),
            ToolEntry.model_validate(SEND),
        )
    )
    assert catalog.describe("email.send").effect is Effect.SIDE_EFFECT
    assert catalog.describe("email.send").roles == {"to": Role.RECIPIENT}
    assert catalog.describe("email.sync").effect is Effect.READ_ONLY
    assert catalog.describe("web.get").effect is Effect.UNKNOWN


def test_an_entry_that_adds_nothing_is_stored_as_its_glob() -> None:
    plain = build_artifact(artifact_doc(tools=["shell.*", "email.send"]))
    spelled = build_artifact(
        artifact_doc(tools=[{"name": "shell.*"}, {"name": "email.send", "effect": "unknown"}])
    )
    assert spelled.spec.tools == ("shell.*", "email.send")
    assert spelled.digest == plain.digest
    assert build_artifact(artifact_doc(tools=["shell.*", SEND])).digest != plain.digest


@pytest.mark.parametrize(
    ("tools", "fragment"),
    [
        ([SEND, {**SEND, "effect": "read_only"}], "declared more than once: email.send"),
        ([{**SEND, "effect": "writes"}], "tool email.send: entry.effect"),
        ([{**SEND, "arguments": {"to": "victim"}}], "tool email.send: entry.arguments.to"),
        ([{**SEND, "colour": "red"}], "tool email.send: entry.colour"),
    ],
)
def test_bad_catalogs_are_refused(tools: list[Any], fragment: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        build_artifact(artifact_doc(tools=tools))
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_rules_see_the_tools_effect_and_roles() -> None:
    oracle = RuleOracle(
        build_artifact(
            artifact_doc(
                rule("side", 'effect == "side_effect"'),
                rule("unknown", 'effect == "unknown" && size(roles) == 0'),
                rule(
                    "stranger",
                    'roles.exists(a, roles[a] == "recipient" && !(args[a] in data.known))',
                ),
                tools=["shell.*", SEND],
                data={"known": ["alice@example.com"]},
            )
        )
    )
    assert evidence(oracle, "email.send", {"to": "eve@example.com"}) == ["side", "stranger"]
    assert evidence(oracle, "email.send", {"to": "alice@example.com"}) == ["side"]
    assert evidence(oracle, "shell.exec", {"cmd": "ls"}) == ["unknown"]
    with pytest.raises(UnknownToolError):
        oracle.evaluate(proposal("http.get", {}))


def test_without_a_catalog_every_tool_is_known_with_effect_unknown() -> None:
    oracle = RuleOracle(build_artifact(artifact_doc(rule("u", 'effect == "unknown"'))))
    assert evidence(oracle, "any.tool", {}) == ["u"]


OPENAI_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an e-mail.",
            "x-effect": "side_effect",
            "parameters": {
                "type": "object",
                "properties": {
                    "to": {"type": "string", "format": "email"},
                    "body": {"type": "string", "x-role": "content"},
                    "link": {"type": "string", "format": "uri"},
                    "cc": {"type": "array"},
                },
            },
        },
    },
    {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object"}},
    {"name": "lookup", "annotations": {"readOnlyHint": True}},
    {"name": "delete_row", "annotations": {"readOnlyHint": False}},
]


def test_openai_tools_become_entries_without_guessing_effects() -> None:
    entries = catalog_from_openai_tools(OPENAI_TOOLS)
    assert [(e.name, e.effect) for e in entries] == [
        ("send_email", Effect.SIDE_EFFECT),
        ("get_weather", Effect.UNKNOWN),
        ("lookup", Effect.READ_ONLY),
        ("delete_row", Effect.SIDE_EFFECT),
    ]
    assert entries[0].arguments == {
        "to": Role.RECIPIENT,
        "body": Role.CONTENT,
        "link": Role.URL,
        "cc": Role.OTHER,
    }
    assert entries[1].arguments == {}


def test_read_only_prefixes_are_an_explicit_opt_in_below_explicit_annotations() -> None:
    tools = [*OPENAI_TOOLS, {"name": "get_secret", "x-effect": "side_effect"}]
    entries = catalog_from_openai_tools(tools, read_only_prefixes=("get_", "send_"))
    effects = {e.name: e.effect for e in entries}
    assert effects["get_weather"] is Effect.READ_ONLY
    assert effects["send_email"] is Effect.SIDE_EFFECT
    assert effects["get_secret"] is Effect.SIDE_EFFECT


def test_roles_from_argument_names_are_an_explicit_opt_in_below_schema_hints() -> None:
    tool = {
        "name": "share",
        "parameters": {
            "properties": {
                "recipients": {"type": "array"},
                "user_email": {"type": "string"},
                "channel": {"type": "string"},
                "file_id": {"type": "string"},
                "webpage": {"type": "string"},
                "iban": {"type": "string"},
                "subject": {"type": "string"},
                "user": {"type": "string"},
                "mode": {"type": "string"},
                "to": {"type": "string", "x-role": "destination"},
                "link": {"type": "string", "format": "email"},
            }
        },
    }
    (plain,) = catalog_from_openai_tools([tool])
    assert set(plain.arguments.values()) == {Role.OTHER, Role.DESTINATION, Role.RECIPIENT}
    (named,) = catalog_from_openai_tools([tool], roles_from_names=True)
    assert named.arguments == {
        "recipients": Role.RECIPIENT,
        "user_email": Role.RECIPIENT,
        "channel": Role.DESTINATION,
        "file_id": Role.IDENTIFIER,
        "webpage": Role.URL,
        "iban": Role.PAYEE,
        "subject": Role.CONTENT,
        "user": Role.RECIPIENT,
        "mode": Role.OTHER,
        "to": Role.DESTINATION,
        "link": Role.RECIPIENT,
    }


def test_destructive_tools_come_from_mcp_hints_or_an_explicit_opt_in_to_action_words() -> None:
    def tool(name: str, **annotations: bool) -> dict[str, object]:
        found: dict[str, object] = {"name": name, "parameters": {}}
        if annotations:
            found["annotations"] = annotations
        return found

    tools = [
        tool("delete_file", readOnlyHint=False),
        tool("purge_cache", readOnlyHint=False, destructiveHint=True),
        tool("archive_mail", readOnlyHint=False, destructiveHint=True),
        tool("remove_user", readOnlyHint=False, destructiveHint=False),
        tool("removeUser", readOnlyHint=False),
        tool("deleted_items", readOnlyHint=True),
        tool("delete_thing"),
        tool("send_email", readOnlyHint=False),
    ]
    plain = {e.name: e.effect for e in catalog_from_openai_tools(tools)}
    assert plain == {
        "delete_file": Effect.SIDE_EFFECT,
        "purge_cache": Effect.DESTRUCTIVE,
        "archive_mail": Effect.DESTRUCTIVE,
        "remove_user": Effect.SIDE_EFFECT,
        "removeUser": Effect.SIDE_EFFECT,
        "deleted_items": Effect.READ_ONLY,
        "delete_thing": Effect.UNKNOWN,
        "send_email": Effect.SIDE_EFFECT,
    }
    named = {
        e.name: e.effect for e in catalog_from_openai_tools(tools, destructive_from_names=True)
    }
    assert named == plain | {"delete_file": Effect.DESTRUCTIVE, "removeUser": Effect.DESTRUCTIVE}
    assert Effect.DESTRUCTIVE.changes and Effect.SIDE_EFFECT.changes
    assert not Effect.READ_ONLY.changes and not Effect.UNKNOWN.changes


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"type": "web_search"}, "tool #1: type 'web_search' is not a function tool"),
        ({"type": "function", "function": {}}, "tool #1: has no function name"),
        ({"name": "x", "x-effect": "maybe"}, "tool 'x': 'maybe' is not a valid Effect"),
        (
            {"name": "x", "parameters": {"properties": {"a": {"x-role": "victim"}}}},
            "tool 'x': 'victim' is not a valid Role",
        ),
        ({"name": "has space"}, "tool 'has space': name: String should match pattern"),
    ],
)
def test_tools_that_cannot_be_read_are_named(tool: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        catalog_from_openai_tools([tool])
    assert str(caught.value).startswith(message)


def test_the_entries_go_straight_into_an_artifact_and_the_sdk_exposes_them() -> None:
    assert sdk_catalog is catalog_from_openai_tools
    entries = [e.model_dump(mode="json") for e in sdk_catalog(OPENAI_TOOLS)]
    artifact = build_artifact(artifact_doc(rule("r", 'roles.to == "recipient"'), tools=entries))
    oracle = RuleOracle(artifact)
    assert evidence(oracle, "send_email", {"to": "a@example.com"}) == ["r"]
    assert artifact.spec.tools is not None and artifact.spec.tools[1] == "get_weather"
