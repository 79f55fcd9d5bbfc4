"""Verification's pure core (:mod:`.step`): a finding or a review answer in, verdicts out.

The step takes a decoded ``FindingRaised`` (from the findings topic) or ``ReviewDecided`` (from
the reviews topic) and returns the events to send, in order: ``VerificationRecorded`` (to the
verifications topic) and ``ReviewRequested`` (to the reviews topic). It writes nothing: the role
keeps no state. Rules:

* **A finding** emits its ``VerificationRecorded`` (:func:`~.verification.verify`, judged by the
  norms), then, when the norms are inconclusive, its ``ReviewRequested``: the verdict is sent
  before the request that a person revise it.
* **A review answer** emits the finding's ``VerificationRecorded``
  (:func:`~.verification.review_verification`) when it answers a verification review and is not
  automatic; any other ``ReviewDecided`` (an answer to the gate's reviews, a timeout) emits
  nothing. The shell passes over the other events of the reviews topic (its own requests among
  them) without stepping.
* **Ids.** Every id, event ids included, follows from the finding id or the review id
  (:mod:`~alignment_flywheel.events.ids`): a redelivered input emits the same events with the
  same ids (a finding's events are stamped with the time of the step, a review answer's
  verification with the time of the decision, so that one is equal throughout). Consumers
  de-duplicate by id.
* **Restarts.** With no state, a crash loses only uncommitted offsets: every input after the
  committed offset is stepped again and its events sent again. A crash after the broker confirmed
  some of a record's events but before its offset was committed leaves them twice in the output,
  with the same ids; no finding is left without its verification. A finding whose verdict was
  confirmed but not its review request gets both again.
"""

from __future__ import annotations

from alignment_flywheel.events import (
    FindingRaised,
    ReviewDecided,
    ReviewRequested,
    VerificationRecorded,
)
from alignment_flywheel.governance.norms import Norms
from alignment_flywheel.governance.step import Stepped, Tables
from alignment_flywheel.governance.verification import review_verification, verify

Verified = VerificationRecorded | ReviewRequested
"""What a verification step emits."""


class VerificationCore:
    """Verification's step (see the module rules)."""

    def __init__(self, norms: Norms, producer: str) -> None:
        self.norms = norms
        self._producer = producer

    def __call__(self, tables: Tables, event: FindingRaised | ReviewDecided) -> Stepped[Verified]:
        if isinstance(event, FindingRaised):
            return self.finding(event)
        return self.decision(event)

    def finding(self, finding: FindingRaised) -> Stepped[Verified]:
        """The verification of a finding, then its review request if inconclusive."""
        output = verify(finding, self.norms, self._producer)
        if output.review is None:
            return Stepped(emitted=(output.verification,))
        return Stepped(emitted=(output.verification, output.review))

    def decision(self, decided: ReviewDecided) -> Stepped[Verified]:
        """The verification a person's answer gives, if it answers a verification review."""
        recorded = review_verification(decided, self.norms.version, self._producer)
        return Stepped() if recorded is None else Stepped(emitted=(recorded,))
