"""Event signatures and signed checkpoints, on the in-memory store: what a signature binds,
how keys rotate, and when the service takes a checkpoint."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Notification, StoredEvent

from api.core.settings import Settings
from domain.application.ledger import Ledger
from projections.reads.checkpointing import Checkpointer
from projections.reads.signature_checks import check
from projections.storage.checkpoints import CHECKPOINT_CONTEXT, Checkpoint
from projections.storage.event_table import stored_row
from projections.storage.keys import (
    TWO_THREADS_FROM,
    Keyring,
    NoSigningKeyError,
    fingerprint,
    public_key_text,
)
from projections.storage.signing import (
    EVENT_CONTEXT,
    EventSignatures,
    UnverifiedEventError,
    event_message,
    open_envelope,
    seal,
    seal_all,
    signatures_of,
)
from tests.support import set_reference_standards


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def keyring(signing: str, key_id: str | None = None, **verify: str) -> Keyring:
    env = {"LEDGER_SIGNING_KEY": signing, "LEDGER_VERIFY_KEYS": json.dumps(verify)}
    if key_id:
        env["LEDGER_SIGNING_KEY_ID"] = key_id
    return Keyring.from_env(env)


def event(state: bytes = b'{"amount":"600.00"}', version: int = 3) -> StoredEvent:
    return StoredEvent(uuid4(), version, "domain.cases.case:Case.Granted", state)


def ledger_with(**settings: object) -> Ledger:
    return Ledger(Settings(database_url="memory:", **settings).ledger_env())  # type: ignore[arg-type]


def test_a_signature_binds_the_state_the_aggregate_the_version_and_the_class() -> None:
    ring = keyring(key(), "2024")
    checks = EventSignatures(ring)
    signed = seal(event(), ring)
    assert checks.inner_state(signed) == b'{"amount":"600.00"}'
    envelope = open_envelope(signed.state)
    assert envelope is not None and envelope.key_id == "2024"
    changed = (
        StoredEvent(signed.originator_id, 3, signed.topic, signed.state.replace(b"600", b"900")),
        StoredEvent(uuid4(), 3, signed.topic, signed.state),
        StoredEvent(signed.originator_id, 4, signed.topic, signed.state),
        StoredEvent(signed.originator_id, 3, "domain.cases.case:Case.Exited", signed.state),
    )
    for forged in changed:
        assert checks.problem(forged) == "its signature does not match key '2024'"
    assert checks.problem(event()) == "it is not signed"


# RFC 8032, section 7.1, tests 1 and 2: a seed, a message, its signature
RFC_8032 = (
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
        "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
)


def test_the_keyring_signs_byte_for_byte_what_cryptography_signs_with_the_same_key() -> None:
    for seed_hex, message_hex, signature_hex in RFC_8032:
        ring = keyring(base64.b64encode(bytes.fromhex(seed_hex)).decode(), "rfc8032")
        assert ring.sign(b"", bytes.fromhex(message_hex)).hex() == signature_hex
    seed = bytes.fromhex(RFC_8032[0][0])
    ring = keyring(base64.b64encode(seed).decode(), "2024")
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    stored = StoredEvent(
        UUID("6f1e8c1a-3b5d-4c47-9d1e-2a7b9c0d4e5f"),
        3,
        "domain.cases.case:Case.Granted",
        b'{"amount":"600.00","note":"' + b"x" * 340 + b'"}',
    )
    message = event_message(stored, "2024", stored.state)
    signature = reference.sign(EVENT_CONTEXT + message)
    assert seal(stored, ring).state == b"LSG\x01\x042024" + signature + stored.state
    checkpoint = Checkpoint.sign(
        ring, 1200, bytes(range(32)), 1199, taken_at=datetime(2024, 5, 1, 8, tzinfo=UTC)
    )
    assert checkpoint.signature == reference.sign(CHECKPOINT_CONTEXT + checkpoint.body())
    for length in (0, 1, 63, 64, 400, 10_000):
        message = bytes(i % 251 for i in range(length))
        assert ring.sign(EVENT_CONTEXT, message) == reference.sign(EVENT_CONTEXT + message)


def test_a_long_run_signed_on_two_threads_is_signed_as_one_event_at_a_time() -> None:
    ring = keyring(key(), "2024")
    for count in (TWO_THREADS_FROM - 1, TWO_THREADS_FROM, 2 * TWO_THREADS_FROM + 1):
        events = [event(b'{"n":%d}' % n, version=n + 1) for n in range(count)]
        sealed = seal_all(events, ring)
        assert [each.stored for each in sealed] == [seal(e, ring) for e in events]
        assert [each.signature for each in sealed] == [
            ring.sign(EVENT_CONTEXT, event_message(e, "2024", e.state)) for e in events
        ]


def test_a_long_run_checked_on_two_threads_stops_at_its_first_event_that_does_not_verify() -> None:
    ring = keyring(key(), "2024")
    count = 2 * TWO_THREADS_FROM
    events = [seal(event(b'{"n":%d}' % n, version=n + 1), ring) for n in range(count)]
    forged_at = TWO_THREADS_FROM + 7  # in the half the second thread checks
    signed = events[forged_at]
    events[forged_at] = StoredEvent(
        signed.originator_id, forged_at + 1, signed.topic, signed.state.replace(b'"n"', b'"m"')
    )
    for remember in (True, False):
        inner, refusal = EventSignatures(ring, remember=remember).inner_states(events)
        assert inner == [b'{"n":%d}' % n for n in range(forged_at)]
        assert refusal is not None
        assert (refusal.originator_version, refusal.reason) == (
            forged_at + 1,
            "its signature does not match key '2024'",
        )
    checks = EventSignatures(ring)
    others = events[:forged_at] + events[forged_at + 1 :]
    for _ in range(2):  # checked, then found among those checked
        inner, refusal = checks.inner_states(others)
        assert refusal is None
        assert len(inner) == count - 1
    inner, refusal = checks.inner_states([*others[:3], event(), *others[3:]])
    assert len(inner) == 3
    assert refusal is not None and refusal.reason == "it is not signed"


def test_keys_rotate_old_events_verify_with_the_old_public_key() -> None:
    old = keyring(key(), "2023")
    signed = seal(event(), old)
    assert old.public["2023"] is not None
    rotated = keyring(key(), "2024", **{"2023": public_key_text(old.public["2023"])})
    assert EventSignatures(rotated).problem(signed) is None
    forgotten = keyring(key(), "2024")
    assert EventSignatures(forgotten).problem(signed) == (
        "it is signed with key '2023', which is not among the verify keys"
    )


def test_a_key_id_names_one_key_and_defaults_to_its_fingerprint() -> None:
    signing = key()
    ring = keyring(signing)
    assert ring.key_id is not None and ring.private is not None
    assert ring.key_id == fingerprint(ring.private.public_key())
    with pytest.raises(ValueError, match="a key id names one key"):
        other = keyring(key(), "2024")
        keyring(signing, "2024", **{"2024": public_key_text(other.public["2024"])})
    with pytest.raises(ValueError, match="base64 of 32 raw bytes"):
        keyring("c2hvcnQ=")


def test_an_installation_without_a_signing_key_verifies_and_does_not_record() -> None:
    signer = keyring(key(), "2024")
    verifier = Keyring.from_env(
        {"LEDGER_VERIFY_KEYS": json.dumps({"2024": public_key_text(signer.public["2024"])})}
    )
    assert EventSignatures(verifier).problem(seal(event(), signer)) is None
    with pytest.raises(NoSigningKeyError, match="LEDGER_SIGNING_KEY"):
        seal(event(), verifier)


def test_a_checkpoint_line_round_trips_and_its_signature_covers_every_field() -> None:
    ring = keyring(key(), "2024")
    checkpoint = Checkpoint.sign(ring, 1200, bytes(range(32)), 1199)
    again = Checkpoint.parse(checkpoint.line())
    assert again == checkpoint
    assert again.problem(ring) is None
    fields = json.loads(checkpoint.line())
    for name, value in (("position", 1201), ("count", 1200), ("adoption", True)):
        forged = Checkpoint.parse(json.dumps({**fields, name: value}))
        assert forged.problem(ring) == "its signature does not match key '2024'"
    with pytest.raises(ValueError, match="needs 'head'"):
        Checkpoint.parse(json.dumps({k: v for k, v in fields.items() if k != "head"}))


def test_the_ledger_signs_what_it_stores_and_refuses_what_it_did_not_sign() -> None:
    ledger = ledger_with()
    set_reference_standards(ledger)
    (stored,) = ledger.recorder.select_notifications(start=1, limit=1)
    assert stored.state.startswith(b"LSG\x01\x0bdevelopment")
    stranger = ledger_with(signing_key=key(), signing_key_id="development")
    with pytest.raises(UnverifiedEventError, match="does not match key 'development'"):
        stranger.mapper.to_domain_event(stored)


def test_the_service_takes_a_checkpoint_every_so_many_events() -> None:
    ledger = ledger_with()
    signatures = signatures_of(ledger.mapper)
    assert signatures is not None
    checkpointer = Checkpointer(ledger.recorder, signatures, every_events=10, every_seconds=3600)
    assert checkpointer.take_if_due() is None  # nothing recorded
    set_reference_standards(ledger)  # 7 schedules, 14 events
    first = checkpointer.take_if_due()
    assert first is not None and first.position == ledger.position == 14
    set_reference_standards(ledger, region="410602")
    second = checkpointer.take_if_due()
    assert second is not None and (second.position, second.count) == (28, 28)
    assert checkpointer.take_if_due() is None
    assert checkpointer.take() == second  # nothing new: the latest one


def test_a_mangled_envelope_is_refused_not_decoded() -> None:
    ring = keyring(key(), "2024")
    checks = EventSignatures(ring)
    signed = seal(event(), ring)
    for state in (
        b"LSG\x01",
        signed.state[:30],
        b"LSG\x01\x04\xff\xfe\xfd\xfc" + signed.state[9:],
    ):
        forged = StoredEvent(signed.originator_id, 3, signed.topic, state)
        assert checks.problem(forged) is not None
        with pytest.raises(UnverifiedEventError):
            checks.inner_state(forged)


def test_a_signature_longer_than_64_bytes_is_refused_though_its_head_signs_its_tail() -> None:
    ring = keyring(key(), "2024")
    message = b"the event"
    tail = b"lent"
    signature = ring.sign(tail, EVENT_CONTEXT + message)  # over tail + context + message
    assert ring.problem("2024", EVENT_CONTEXT, message, signature + tail) == (
        "its signature does not match key '2024'"
    )
    assert ring.problem("2024", EVENT_CONTEXT, message, ring.sign(EVENT_CONTEXT, message)) is None


def test_a_verification_refuses_each_stored_row_in_the_words_of_the_mapper() -> None:
    ring = keyring(key(), "2024")
    stranger = keyring(key(), "2023")
    signed = seal(event(), ring)
    states = {
        "its signature does not match key '2024'": signed.state.replace(b"600", b"900"),
        "it is not signed, and only the events up to position 5 were adopted unsigned": (
            event().state
        ),
        "its signature envelope is cut short": signed.state[:30],
        "it is signed with key '2023', which is not among the verify keys": (
            seal(event(), stranger).state
        ),
        "it is signed with key '\xff\xfe', which is not among the verify keys": (
            b"LSG\x01\x02\xff\xfe" + signed.state[9:]
        ),
    }
    checks = EventSignatures(ring, unsigned_through=5)
    for reason, state in states.items():
        row = Notification(
            id=7,
            originator_id=signed.originator_id,
            originator_version=3,
            topic=signed.topic,
            state=state,
        )
        assert checks.problem(row) == reason
        found = check(checks, [stored_row(row)])
        assert found.problem == (7, f"the event at position 7: {reason}")
        assert found.checked == 0
    adopted = Notification(
        id=5, originator_id=uuid4(), originator_version=1, topic=signed.topic, state=b"{}"
    )
    as_stored = Notification(
        id=6,
        originator_id=str(signed.originator_id),
        originator_version=3,
        topic=signed.topic,
        state=signed.state,
    )
    found = check(checks, [stored_row(adopted), stored_row(as_stored)])
    assert (found.problem, found.checked, found.unsigned, found.keys) == (None, 2, 1, {"2024"})
