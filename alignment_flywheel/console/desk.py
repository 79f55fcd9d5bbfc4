"""What the review console reads from and writes to the topics, apart from HTTP.

Rules:

* Every page load reads the topics fresh (no consumer group, nothing committed): pending reviews
  through :class:`~alignment_flywheel.review.ReviewDesk`, patches through
  :class:`~alignment_flywheel.patches.ledger.PatchLedger`, releases through a
  :class:`~alignment_flywheel.release.follower.ReleaseFollower` caught up once (as
  ``flywheel release status`` does).
* A patch awaits sign-off while it has no rejection and fewer distinct ``approver`` keys than the
  trust root's approver threshold (1 when there is no trust root yet).
* An operator bound to keys (``flywheel console operator add --key``) can approve only with
  those keys.
* A rollback is built by :func:`~alignment_flywheel.release.commands.rollback` on the follower's
  current state. With a trust root, a rollback of the stable version is published only signed
  by the releaser threshold, in the operator's browser (:mod:`.signing`): the page asks
  :meth:`ConsoleDesk.rollback_request` what to sign, and :meth:`ConsoleDesk.rollback` rebuilds
  the same event, checks the posted signatures and publishes it (refused unsigned, since
  followers that verify would ignore it). When the page names the body SHA-256 it signed and
  the state has changed since, nothing is published. A candidate rollback needs no signature;
  without a trust root (development) rollbacks are unsigned. An operator bound to keys signs
  rollbacks only with those keys too.
* Every write is attributed to the logged-in operator, a person: ``ReviewDecided.reviewer``,
  ``PatchApproved.operator``, ``ReleasePromoted.actor``, ``ReleaseRolledBack.operator`` (the
  envelope's producer is ``console:<operator>``).
* A review past its deadline is refused (:class:`~alignment_flywheel.review.ReviewExpiredError`),
  like in the CLI; the page marks it expired and offers no buttons for it.
* Promote runs the CLI's command (:func:`~alignment_flywheel.release.commands.promote`) on the
  follower's current state: the same checks (a candidate must exist) and the same event. The
  page names the candidate it showed (``release_id`` and stage); when the state moved since,
  nothing is published.
* A Kafka client failure (a broker that does not answer, a missing topic) becomes
  :class:`KafkaTransportError` for every read and write here, so the page can say so.
* Trust root and release state are read from the settings' files; when one is missing the page
  says so instead of failing (:class:`Unavailable`).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from confluent_kafka import KafkaException

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.console.signing import (
    BrowserSignature,
    ConsoleSignatureError,
    browser_approval,
    rollback_signatures_needed,
    rollback_signing_request,
    signed_rollback,
)
from alignment_flywheel.errors import (
    FlywheelError,
    InvalidInputError,
    KafkaTransportError,
    PolicyDocumentError,
)
from alignment_flywheel.events import (
    PatchApproved,
    ReleasePromoted,
    ReleaseRolledBack,
    ReleaseStaged,
    ReviewDecided,
    ReviewOutcome,
)
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.kafka.reader import read_topic
from alignment_flywheel.oracle.artifact import ArtifactSpec, load_artifact
from alignment_flywheel.oracle.loader import oracle_path
from alignment_flywheel.patches.approvals import patch_from_event
from alignment_flywheel.patches.ledger import PATCHES_TOPIC, PatchLedger, PatchRecord
from alignment_flywheel.patches.model import Patch
from alignment_flywheel.patches.trust import TrustRoot, load_root_file
from alignment_flywheel.release import commands
from alignment_flywheel.release.follower import ReleaseFollower, ReleaseTopics
from alignment_flywheel.release.state import ReleaseState
from alignment_flywheel.release.trusted import ChainCheck, follower_check, rollback_body
from alignment_flywheel.review import REVIEWS_TOPIC, VERDICTS_TOPIC, PendingReview, ReviewDesk
from alignment_flywheel.roles import topic_for

RELEASES_TOPIC = topic_for("ReleaseStaged")
RECENT_RELEASE_EVENTS = 10

ReleaseEvent = ReleaseStaged | ReleasePromoted | ReleaseRolledBack
P = ParamSpec("P")
R = TypeVar("R")


def _kafka(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` with Kafka client failures raised as KafkaTransportError."""

    @functools.wraps(method)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except KafkaException as exc:
            raise KafkaTransportError(f"Kafka: {exc.args[0] if exc.args else exc}") from exc

    return wrapped


@dataclass(frozen=True)
class ConsoleTopics:
    reviews: str = REVIEWS_TOPIC
    verdicts: str = VERDICTS_TOPIC
    patches: str = PATCHES_TOPIC
    releases: str = RELEASES_TOPIC


@dataclass(frozen=True)
class Unavailable:
    """A part of the page that cannot be shown, and why."""

    reason: str


@dataclass(frozen=True)
class PatchView:
    patch: Patch
    record: PatchRecord
    base: ArtifactSpec | None
    approvers: int
    needed: int


@dataclass(frozen=True)
class ReleaseView:
    state: ReleaseState
    genesis_version: int
    genesis_digest: str
    recent: list[ReleaseEvent] = field(default_factory=list)


class ConsoleDesk:
    """Reads the state the console shows and publishes the operators' decisions."""

    def __init__(self, settings: Settings, topics: ConsoleTopics | None = None) -> None:
        self.settings = settings
        self.topics = topics or ConsoleTopics()
        self.codec = EventCodec.from_settings(settings)
        self.reviews = ReviewDesk(
            settings,
            self.codec,
            reviews_topic=self.topics.reviews,
            verdicts_topic=self.topics.verdicts,
        )
        self.ledger = PatchLedger(settings, self.codec, topic=self.topics.patches)

    # reviews

    @_kafka
    def pending_reviews(self) -> list[PendingReview]:
        return self.reviews.pending()

    @_kafka
    def decide(
        self, review_id: uuid.UUID, outcome: ReviewOutcome, *, operator: str, reason: str
    ) -> ReviewDecided:
        return self.reviews.decide(review_id, outcome, reviewer=operator, reason=reason)

    # patches

    def trust_root(self) -> TrustRoot | Unavailable:
        path = self.settings.effective_trust_root_path
        if not path.is_file():
            return Unavailable(f"no trust root at {path} (flywheel trust init)")
        try:
            return load_root_file(path, datetime.now(UTC)).root
        except FlywheelError as exc:
            return Unavailable(f"trust root {path}: {exc}")

    @_kafka
    def awaiting_patches(self) -> list[PatchView]:
        root = self.trust_root()
        needed = root.roles["approver"].threshold if isinstance(root, TrustRoot) else 1
        base = self._base()
        views = []
        for record in self.ledger.records().values():
            if record.rejections:
                continue
            approvers = len({a.key_id for a in record.approvals if a.role == "approver"})
            if approvers >= needed:
                continue
            try:
                patch = patch_from_event(record.proposed)
            except FlywheelError:
                continue
            spec = base if base is not None and base[0] == patch.base_digest else None
            views.append(
                PatchView(patch, record, None if spec is None else spec[1], approvers, needed)
            )
        return sorted(views, key=lambda v: v.record.proposed.envelope.occurred_at)

    @_kafka
    def patch(self, patch_id: uuid.UUID) -> tuple[PatchRecord, Patch]:
        record = self.ledger.record(patch_id)
        if record.rejections:
            raise InvalidInputError(f"patch {patch_id} was rejected; it cannot be approved")
        return record, patch_from_event(record.proposed)

    @_kafka
    def approve_patch(
        self, patch_id: uuid.UUID, signature: str, *, operator: str, keys: tuple[str, ...] = ()
    ) -> PatchApproved:
        """Check and publish a browser signature; ``keys``, when not empty, are the only key ids
        ``operator`` may sign with."""
        root = self.trust_root()
        if isinstance(root, Unavailable):
            raise InvalidInputError(root.reason)
        record, patch = self.patch(patch_id)
        approval = browser_approval(
            root, patch, signature, operator=operator, now=datetime.now(UTC)
        )
        if keys and approval.key_id not in keys:
            raise ConsoleSignatureError(
                f"key {approval.key_id[:12]} is not one of operator {operator}'s keys"
            )
        if any(a.key_id == approval.key_id and a.role == "approver" for a in record.approvals):
            raise InvalidInputError(f"key {approval.key_id[:12]} already approved this patch")
        self.ledger.publish(approval)
        return approval

    def _base(self) -> tuple[str, ArtifactSpec] | None:
        try:
            artifact = load_artifact(oracle_path(self.settings))
        except PolicyDocumentError:
            return None
        return artifact.digest, artifact.spec

    # releases

    def _follower(self, check: ChainCheck | None) -> ReleaseFollower:
        genesis = load_artifact(oracle_path(self.settings))
        follower = ReleaseFollower(
            self.settings,
            genesis,
            topics=ReleaseTopics(self.topics.patches, self.topics.releases),
            check=check,
        )
        follower.start()
        follower.stop()
        return follower

    @_kafka
    def releases(self) -> ReleaseView | Unavailable:
        try:
            follower = self._follower(follower_check(self.settings))
        except FlywheelError as exc:
            return Unavailable(f"release state: {exc}")
        genesis = follower.builder.genesis
        recent = [
            e
            for e in read_topic(self.settings, self.codec, self.topics.releases)
            if isinstance(e, ReleaseStaged | ReleasePromoted | ReleaseRolledBack)
        ]
        recent.sort(key=lambda e: e.envelope.occurred_at, reverse=True)
        return ReleaseView(
            follower.state, genesis.version, genesis.digest, recent[:RECENT_RELEASE_EVENTS]
        )

    def _rollback_event(
        self, operator: str, reason: str, stable: bool
    ) -> tuple[ReleaseRolledBack, TrustRoot | None]:
        """The rollback the current state gives, unsigned, and the trust root (None without)."""
        if not reason.strip():
            raise InvalidInputError("a rollback needs a reason")
        check = follower_check(self.settings)
        follower = self._follower(check)
        event = commands.rollback(
            follower.state,
            follower.builder,
            actor=f"console:{operator}",
            reason=reason.strip(),
            stable=stable,
            operator=operator,
        )
        return event, None if check is None else check.root

    @_kafka
    def promote(
        self, *, operator: str, release_id: uuid.UUID | None = None, stage: str | None = None
    ) -> ReleasePromoted:
        """Publish the promotion of the candidate one stage on, in ``operator``'s name; when
        ``release_id``/``stage`` (what the page showed) no longer match, nothing is published."""
        follower = self._follower(follower_check(self.settings))
        candidate = follower.state.candidate
        if candidate is not None and (
            (release_id is not None and candidate.release_id != release_id)
            or (stage is not None and candidate.stage.value != stage)
        ):
            raise InvalidInputError("the candidate changed since the page showed it; reload")
        event = commands.promote(follower.state, actor=operator, metrics={})
        event = event.model_copy(
            update={
                "envelope": event.envelope.model_copy(update={"producer": f"console:{operator}"})
            }
        )
        with EventProducer(self.settings, self.codec) as producer:
            producer.send(self.topics.releases, event)
        return event

    @_kafka
    def rollback_request(self, *, operator: str, reason: str, stable: bool) -> dict[str, Any]:
        """What the page signs for this rollback (see :func:`.signing.rollback_signing_request`)."""
        event, root = self._rollback_event(operator, reason, stable)
        return rollback_signing_request(event, rollback_signatures_needed(root, event))

    @_kafka
    def rollback(
        self,
        *,
        operator: str,
        reason: str,
        stable: bool,
        signatures: Sequence[BrowserSignature] = (),
        body_sha256: str | None = None,
        keys: tuple[str, ...] = (),
    ) -> ReleaseRolledBack:
        """Check the browser signatures of the rollback and publish it; ``keys``, when not empty,
        are the only key ids ``operator`` may sign with."""
        event, root = self._rollback_event(operator, reason, stable)
        digest = hashlib.sha256(rollback_body(event)).hexdigest()
        if body_sha256 not in (None, digest):
            raise InvalidInputError("the release state changed since the page asked; reload")
        foreign = [s.key_id[:12] for s in signatures if keys and s.key_id not in keys]
        if foreign:
            raise ConsoleSignatureError(
                f"key {foreign[0]} is not one of operator {operator}'s keys"
            )
        event = signed_rollback(root, event, signatures)
        with EventProducer(self.settings, self.codec) as producer:
            producer.send(self.topics.releases, event)
        return event
