"""The demo's hasty hotfix: an over-broad patch that the staged release rolls back by itself.

Rules:

* An operator (the ``operator`` key, in the author role of the demo trust root) writes a patch on
  the current stable oracle that blocks every call to ``http.*``, ``sql.*``, ``email.*``,
  ``file.*`` and ``payments.*``, with no regression evidence; the demo approver signs it
  (``automatic``, labelled in the event), and all three events go to the patches topic.
* The release controller stages it at SHADOW; the proposers' shadow verdicts block most benign
  traffic, the block-rate gate of the rollout policy is breached once ``min_samples_for_rollback``
  pairs are counted, and the controller publishes ``ReleaseRolledBack``: the stable oracle never
  changed. :func:`submit_hotfix` only publishes; the scenario keeps the traffic flowing.
* The controller stages only a patch whose base is the stable digest: if the stable oracle moves
  before the hotfix is staged (another patch released first), the scenario submits it again on
  the new stable (:data:`MAX_SUBMISSIONS`).
"""

from __future__ import annotations

import uuid

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.kafka.catalog import load_catalog
from alignment_flywheel.kafka.producer import EventProducer
from alignment_flywheel.oracle.artifact import OracleArtifact
from alignment_flywheel.patches.approvals import approve
from alignment_flywheel.patches.keys import KeyStore
from alignment_flywheel.patches.model import propose_patch
from alignment_flywheel.patches.operations import parse_operations
from alignment_flywheel.stack.fleet import APPROVER_KEY, OPERATOR_KEY

MAX_SUBMISSIONS = 10
HOTFIX_RULE = {
    "id": "hotfix.freeze-external-effects",
    "tools": ["http.*", "sql.*", "email.*", "file.*", "payments.*"],
    "when": "true",
    "score": 0.0,
    "severity": "HIGH",
    "message": "hotfix: every external effect frozen",
}
RATIONALE = "hasty hotfix: freeze every external effect (no regression evidence)"


def submit_hotfix(settings: Settings, stable: OracleArtifact) -> uuid.UUID:
    """Publish the hotfix on ``stable`` with the operator's and the demo approver's signatures."""
    operations = parse_operations([{"op": "add_rule", "rule": HOTFIX_RULE}])
    patch, _target = propose_patch(stable, operations, author=OPERATOR_KEY, rationale=RATIONALE)
    keys = KeyStore(settings.effective_keys_dir)
    events = [
        patch.to_event(f"{settings.identity}/operator"),
        approve(patch, keys.private(OPERATOR_KEY), role="author", producer="operator"),
        approve(
            patch,
            keys.private(APPROVER_KEY),
            role="approver",
            producer="demo-approver/hotfix",
            automatic=True,
        ),
    ]
    topic = load_catalog().topic_for("PatchProposed")
    with EventProducer(settings, EventCodec.from_settings(settings)) as producer:
        for event in events:
            producer.send(topic, event)
    return patch.patch_id
