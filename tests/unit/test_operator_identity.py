"""Issue 17: a human action carries the person's identity, and review expiry is state.

The sign-off events gained an ``operator`` field by schema evolution: records written with the
versions before it still read (operator None); reviews past their deadline are refused before
anything is published; the CLI's default reviewer is the OS user, never host/pid.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_writer
from typer.testing import CliRunner

from alignment_flywheel.cli.context import error_line, exit_code, os_user, person
from alignment_flywheel.cli.main import app
from alignment_flywheel.codec import EventCodec
from alignment_flywheel.codec.repository import make_version
from alignment_flywheel.errors import InvalidInputError, KafkaTransportError
from alignment_flywheel.events import (
    PatchApproved,
    ReleaseRolledBack,
    ReviewOutcome,
    new_envelope,
)
from alignment_flywheel.resources import SCHEMAS_DIR
from alignment_flywheel.review import (
    PendingReview,
    ReviewDesk,
    ReviewExpiredError,
    fold_reviews,
)
from tests.support.samples import review_request


def test_a_review_past_its_deadline_is_expired_and_one_without_never_is() -> None:
    now = datetime.now(UTC)
    assert PendingReview(review_request(now - timedelta(seconds=1))).expired(now)
    assert not PendingReview(review_request(now + timedelta(minutes=5))).expired(now)
    assert not PendingReview(review_request(None)).expired(now)


def test_a_late_decision_is_refused_before_anything_is_published(settings_factory) -> None:
    late = review_request(datetime.now(UTC) - timedelta(seconds=30))
    live = review_request(datetime.now(UTC) + timedelta(minutes=5))
    desk = ReviewDesk(settings_factory())
    desk.state = lambda: fold_reviews([late, live])  # type: ignore[method-assign]
    with pytest.raises(ReviewExpiredError, match=rf"review {late.review_id} expired at "):
        desk.decide_many(
            [live.review_id, late.review_id], ReviewOutcome.APPROVE, reviewer="ana", reason="ok"
        )
    # the refusal maps to the documented exit code 5 and one line without a class name
    refusal = ReviewExpiredError("review x expired at 12:00")
    assert exit_code(refusal) == 5
    assert error_line(refusal) == "error: review x expired at 12:00"


def test_exit_codes_are_those_documented() -> None:
    assert exit_code(InvalidInputError("no")) == 1
    assert exit_code(KafkaTransportError("down")) == 3
    assert exit_code(ConnectionRefusedError("refused")) == 3
    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |"):
        assert code in text, f"docs/operations.md lists exit code {code}"


def test_the_default_reviewer_is_the_os_user_never_host_or_pid(monkeypatch) -> None:
    monkeypatch.setenv("LOGNAME", "grace")
    assert os_user() == "grace" and person(None) == "grace"
    assert person("ana") == "ana"
    with pytest.raises(InvalidInputError, match="empty"):
        person("  ")


def _v1_encoded(event: str, version: int, record: dict[str, object]) -> bytes:
    schema = json.loads((SCHEMAS_DIR / "history" / event / f"v{version}.avsc").read_text())
    written = make_version(event, version, schema)
    stream = io.BytesIO()
    schemaless_writer(stream, parse_schema(schema), record)
    return b"\xc3\x01" + written.fingerprint + stream.getvalue()


def _envelope_record(key: str) -> dict[str, object]:
    envelope = new_envelope("vm/31615", key).model_dump(mode="python")
    envelope["event_id"] = str(envelope["event_id"])
    return envelope


def test_sign_off_events_written_before_the_operator_field_still_read(settings_factory) -> None:
    codec = EventCodec.from_settings(settings_factory())
    patch_id = str(uuid.uuid4())
    old_approval = {
        "envelope": _envelope_record(patch_id),
        "patch_id": patch_id,
        "key_id": "k" * 64,
        "role": "approver",
        "signature": b"\x01" * 64,
        "automatic": False,
    }
    decoded = codec.decode(_v1_encoded("PatchApproved", 1, old_approval))
    assert isinstance(decoded, PatchApproved) and decoded.operator is None
    release_id = str(uuid.uuid4())
    old_rollback = {
        "envelope": _envelope_record(release_id),
        "release_id": release_id,
        "version": 2,
        "digest": "a" * 64,
        "from_stage": "CANARY",
        "restored_version": 1,
        "restored_digest": "b" * 64,
        "reason": "canary error rate",
        "metrics": {},
        "automatic": False,
        "signatures": [],
    }
    rolled = codec.decode(_v1_encoded("ReleaseRolledBack", 2, old_rollback))
    assert isinstance(rolled, ReleaseRolledBack) and rolled.operator is None
    # and the current version carries the person
    again = codec.decode(codec.encode(rolled.model_copy(update={"operator": "ana"})))
    assert isinstance(again, ReleaseRolledBack) and again.operator == "ana"


def test_a_toml_syntax_error_is_one_line_with_exit_code_2(tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "flywheel.toml"
    bad.write_text('identity = "unterminated\n')
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(bad))
    result = CliRunner().invoke(app, ["review", "list"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {bad} is not valid TOML: ") and "line 1" in lines[0]
    assert "Traceback" not in result.output


def test_bad_input_is_one_line_without_a_class_name(settings_factory) -> None:
    settings_factory()
    result = CliRunner().invoke(app, ["review", "approve", "not-a-uuid", "--reason", "ok"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: 'not-a-uuid' is not a review id (a UUID)"
