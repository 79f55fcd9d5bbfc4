"""The console's release routes: promote, and roll back (signed in the browser when it must be).

Both act through :class:`~.desk.ConsoleDesk` in the logged-in operator's name; ``api`` (from
:mod:`.routes`) checks the session and the CSRF token and turns failures into error answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from alignment_flywheel.console.auth import Operators, Session
from alignment_flywheel.console.desk import ConsoleDesk
from alignment_flywheel.console.signing import BrowserSignature

MAX_SIGNATURES = 16


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    release_id: uuid.UUID | None = None
    stage: str | None = Field(default=None, max_length=16)


class RollbackRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str
    stable: bool = False


class SignatureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(max_length=128)
    signature: str = Field(max_length=256)


class RollbackBody(RollbackRequestBody):
    signatures: list[SignatureBody] = Field(default_factory=list, max_length=MAX_SIGNATURES)
    body_sha256: str | None = None


def release_routes(
    router: APIRouter, desk: ConsoleDesk, operators: Operators, api: Callable[..., Response]
) -> None:
    @router.post("/api/releases/promote")
    def promote(body: PromoteBody, request: Request) -> Response:
        def act(session: Session) -> dict[str, Any]:
            event = desk.promote(
                operator=session.operator, release_id=body.release_id, stage=body.stage
            )
            return {
                "version": event.version,
                "from_stage": event.from_stage.value,
                "to_stage": event.to_stage.value,
                "actor": event.actor,
            }

        return api(request, act)

    @router.post("/api/releases/rollback/signing-request")
    def rollback_to_sign(body: RollbackRequestBody, request: Request) -> Response:
        def act(session: Session) -> dict[str, Any]:
            return desk.rollback_request(
                operator=session.operator, reason=body.reason, stable=body.stable
            )

        return api(request, act)

    @router.post("/api/releases/rollback")
    def rollback(body: RollbackBody, request: Request) -> Response:
        def act(session: Session) -> dict[str, Any]:
            event = desk.rollback(
                operator=session.operator,
                reason=body.reason,
                stable=body.stable,
                signatures=[BrowserSignature(s.key_id, s.signature) for s in body.signatures],
                body_sha256=body.body_sha256,
                keys=operators.keys_of(session.operator),
            )
            return {
                "version": event.version,
                "restored_version": event.restored_version,
                "from_stage": event.from_stage.value,
                "signatures": len(event.signatures),
                "operator": event.operator,
            }

        return api(request, act)
