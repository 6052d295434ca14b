"""The verification helper consumers are given refuses forged, altered and replayed
deliveries and accepts the ledger's own."""

from __future__ import annotations

import pytest

from api.services.webhook_signatures import (
    TOLERANCE_SECONDS,
    WebhookVerificationError,
    new_secret,
    signed_headers,
    verify,
)

BODY = b'{"specversion":"1.0","id":"42"}'
NOW = 1_767_000_000.0


def test_a_delivery_signed_with_the_subscription_secret_is_accepted_and_names_its_id() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "42", BODY, now=NOW)
    assert verify(secret, headers, BODY, now=NOW + 10) == "42"
    upper = {name.upper(): value for name, value in headers.items()}
    assert verify(secret, upper, BODY, now=NOW) == "42"


def test_a_signature_made_with_another_secret_is_refused() -> None:
    forged = signed_headers(new_secret(), "42", BODY, now=NOW)
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify(new_secret(), forged, BODY, now=NOW)


def test_an_altered_body_or_id_is_refused() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "42", BODY, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(secret, headers, BODY.replace(b"42", b"43"), now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(secret, {**headers, "webhook-id": "43"}, BODY, now=NOW)


def test_a_replayed_delivery_outside_the_tolerance_is_refused_even_when_signed() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "42", BODY, now=NOW)
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify(secret, headers, BODY, now=NOW + TOLERANCE_SECONDS + 1)
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify(secret, headers, BODY, now=NOW - TOLERANCE_SECONDS - 1)


def test_missing_headers_and_a_malformed_timestamp_are_refused() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "42", BODY, now=NOW)
    for name in headers:
        with pytest.raises(WebhookVerificationError, match=name):
            verify(secret, {k: v for k, v in headers.items() if k != name}, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError, match="Unix seconds"):
        verify(secret, {**headers, "webhook-timestamp": "\uff11\uff17"}, BODY, now=NOW)


def test_the_signature_is_the_standard_webhooks_one() -> None:
    # The Standard Webhooks specification's example: secret, id, timestamp, body, signature.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert verify(secret, headers, body, now=1614265330) == "msg_p5jXN8AQM9LWM0D4loKWxJek"
