"""Valid events of a type their topic does not carry, on the real broker: triage and the release
controller dead-letter them with a reason naming the type, pass over the types the topic may carry
but they ignore, and go on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from alignment_flywheel.codec import EventCodec
from alignment_flywheel.config import Settings
from alignment_flywheel.events import ClusterUpdated, DeadLettered, Event
from alignment_flywheel.kafka.producer import EventProducer
from tests.support.governance import finding, verdict, verification
from tests.support.releases import controller_args
from tests.support.samples import sample_proposal_submitted, sample_runtime_events
from tests.support.signing import Keyring
from tests.support.workers import read_events, read_until, start_cli_worker, stop_worker

POLICY = {
    "name": "test",
    "canary_fraction": 0.5,
    "stages": {
        "SHADOW": {"min_samples": 10_000, "min_duration_s": 600},
        "CANARY": {"min_samples": 10_000, "min_duration_s": 600},
    },
    "gates": {"max_block_rate_delta": 0.05, "min_samples_for_rollback": 20},
}


def _letters(events: Sequence[Event]) -> dict[str, DeadLettered]:
    """The dead letters by source topic."""
    found = {e.source_topic: e for e in events if isinstance(e, DeadLettered)}
    assert len(found) == len(events), events
    return found


def test_triage_dead_letters_valid_events_of_another_type_and_goes_on(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topics = {
        name: make_topic(unique_name(name), partitions=3)
        for name in ("findings", "verifications", "clusters")
    }
    dead = make_topic(unique_name("dlq"))
    stray = finding("shell.exec", {"cmd": "ls"})
    wrong_verdict = verdict(stray.proposal)
    violation = finding("shell.exec", {"cmd": "rm -rf /srv/data"})
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(topics["findings"], wrong_verdict)
        producer.send(topics["verifications"], stray)
        producer.send(topics["findings"], violation)
        producer.send(topics["verifications"], verification(violation))
    app_id = unique_name("triage")
    command = ["triage", "run", "--app-id", app_id, "--dead-letter-topic", dead]
    for name, topic in topics.items():
        command += [f"--{name}-topic", topic]
    log = tmp_path / "triage.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log)
    try:
        clusters = read_until(
            kafka_settings, codec, topics["clusters"], lambda e: len(e) >= 1, timeout=60
        )
        letters = _letters(read_events(kafka_settings, codec, dead, 2, timeout=60))
    finally:
        stop_worker(worker)
    assert [type(c) for c in clusters] == [ClusterUpdated], log.read_text()[-3000:]
    assert set(letters) == {topics["findings"], topics["verifications"]}, log.read_text()[-3000:]
    on_findings, on_verifications = letters[topics["findings"]], letters[topics["verifications"]]
    assert "VerdictIssued" in on_findings.reason and "FindingRaised" in on_findings.reason
    assert on_findings.original_value == codec.encode(wrong_verdict)
    assert "FindingRaised" in on_verifications.reason
    assert "VerificationRecorded" in on_verifications.reason
    assert {x.consumer_group for x in letters.values()} == {app_id}
    assert {x.error_type for x in letters.values()} == {"UnexpectedEventError"}


def test_the_release_controller_dead_letters_valid_events_of_another_type(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    names = {
        "verdicts": make_topic(unique_name("verdicts"), partitions=3),
        "reviews": make_topic(unique_name("reviews")),
        "patches": make_topic(unique_name("patches"), partitions=3),
        "releases": make_topic(unique_name("releases")),
        "dead_letters": make_topic(unique_name("dlq")),
    }
    proposal = sample_proposal_submitted(1).proposal
    a_verdict, requested, decided = sample_runtime_events(proposal)[:3]
    stray = finding("shell.exec", {"cmd": "ls"})
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(names["verdicts"], a_verdict)
        producer.send(names["verdicts"], stray)
        producer.send(names["reviews"], requested)  # the reviews topic carries it: passed over
        producer.send(names["reviews"], decided)
        producer.send(names["reviews"], verification(stray))
    app_id = unique_name("release")
    state = tmp_path / "controller"
    args = controller_args(state, app_id, names, POLICY, Keyring())
    log = tmp_path / "controller.log"
    controller = start_cli_worker(kafka_settings, args, state, log)
    try:
        found = read_events(kafka_settings, codec, names["dead_letters"], 2, timeout=60)
        found += read_events(kafka_settings, codec, names["dead_letters"], 3, timeout=5)[2:]
        assert controller.poll() is None, log.read_text()[-3000:]
    finally:
        stop_worker(controller)
    letters = _letters(found)
    assert set(letters) == {names["verdicts"], names["reviews"]}, log.read_text()[-3000:]
    assert "FindingRaised" in letters[names["verdicts"]].reason
    assert "VerdictIssued" in letters[names["verdicts"]].reason
    assert "VerificationRecorded" in letters[names["reviews"]].reason
    assert {x.error_type for x in letters.values()} == {"UnexpectedEventError"}


def test_refinement_dead_letters_valid_events_of_another_type_on_its_clusters_input(
    kafka_settings: Settings,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    keys = ("proposals", "verdicts", "reviews", "findings", "clusters", "patches", "releases")
    names = {key: make_topic(unique_name(key)) for key in keys}
    names["dead-letter"] = make_topic(unique_name("dlq"))
    stray = finding("shell.exec", {"cmd": "ls"})
    codec = EventCodec.from_settings(kafka_settings)
    with EventProducer(kafka_settings, codec) as producer:
        producer.send(names["clusters"], stray)
    app_id = unique_name("refine")
    command = ["refine", "run", "--min-members", "1", "--app-id", app_id]
    for key, topic in names.items():
        command += [f"--{key}-topic", topic]
    log = tmp_path / "refine.log"
    worker = start_cli_worker(kafka_settings, command, tmp_path / "state", log)
    try:
        letters = _letters(read_events(kafka_settings, codec, names["dead-letter"], 1, timeout=90))
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        stop_worker(worker)
    letter = letters[names["clusters"]]
    assert "FindingRaised" in letter.reason and "ClusterUpdated" in letter.reason
    assert (letter.error_type, letter.consumer_group) == ("UnexpectedEventError", app_id)
    assert letter.original_value == codec.encode(stray)
