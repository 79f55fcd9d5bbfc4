"""Deterministic ids (alignment_flywheel.events.ids): one namespace per kind, and each id the
uuid5 its records have always carried."""

from __future__ import annotations

import uuid

from alignment_flywheel.events import ids

SOME = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_every_kind_of_id_has_its_own_namespace() -> None:
    namespaces = [v for k, v in vars(ids).items() if k.endswith("_NAMESPACE")]
    assert len(namespaces) == 10
    assert len(set(namespaces)) == len(namespaces)


def test_the_ids_are_the_uuid5_records_carry() -> None:
    assert ids.decision_id_for(SOME) == uuid.uuid5(ids.DECISION_NAMESPACE, str(SOME))
    assert ids.review_id_for(SOME) == uuid.uuid5(ids.REVIEW_NAMESPACE, str(SOME))
    assert ids.shadow_decision_id_for(SOME) == uuid.uuid5(ids.SHADOW_NAMESPACE, str(SOME))
    assert ids.decision_id_for(SOME) == uuid.UUID("6af80647-a174-56c5-a5c5-a1f962edfdbf")
    assert ids.review_id_for(SOME) == uuid.UUID("f7e46e6e-9f0e-54c1-bece-fbd618047c1a")
    assert ids.incident_finding_id(SOME) == uuid.UUID("5e7cb6f4-5ec7-5b29-9162-bb8c1eb60488")
    assert ids.cluster_id_for(SOME) == uuid.UUID("591780a4-673f-5dd8-9289-a1aa158d60e0")
    assert ids.verification_id_for(SOME) == uuid.UUID("3ad3a65d-31d1-50ae-8221-aee75387fb43")
    assert ids.cluster_update_id(SOME, 3) == uuid.uuid5(SOME, "size/3")
    assert ids.release_id_for(SOME) == uuid.uuid5(SOME, "release")
    assert ids.drift_finding_id(SOME, SOME) == uuid.uuid5(SOME, f"finding/{SOME}")
    assert ids.patch_id_for(SOME, 2, "ab") == uuid.uuid5(ids.PATCH_NAMESPACE, f"{SOME}/2/ab")
    emitted = uuid.uuid5(ids.EMITTED_NAMESPACE, f"verdict/{SOME}")
    assert (
        ids.emitted_event_id(SOME, "verdict")
        == emitted
        == ids.emitted_event_id(str(SOME), "verdict")
    )
    assert ids.emitted_event_id(SOME, "review") != emitted
