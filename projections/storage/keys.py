"""The keys that sign the ledger's events and checkpoints, from the Ledger's environment.

``LEDGER_SIGNING_KEY`` is the base64 of the 32 raw bytes of an Ed25519 private key, the
one this installation signs with; ``LEDGER_SIGNING_KEY_ID`` names it (default: its public
key's fingerprint); ``LEDGER_VERIFY_KEYS`` is a JSON object of key id → base64 public key,
the keys of earlier rotations (or, on an auditor's machine, every key, and no private key
at all). None of them is ever stored in the database: whoever writes the database but
holds no private key cannot sign.

Keys are read with ``cryptography``; signatures are made and checked with PyNaCl
(libsodium), whose signing costs about half of ``cryptography``'s (every event is signed)
and whose check about two thirds (a full verification checks one per event). Ed25519
signatures are deterministic and the keys are the same 32 raw bytes in both, so libsodium
signs byte for byte what ``cryptography`` would, and each checks what the other signs;
libsodium is the stricter of the two (it also refuses small-order keys and signature
points, which an honest signer never makes), so nothing ``cryptography`` refuses verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

DEVELOPMENT_KEY_ID = "development"
SIGNATURE_BYTES = 64
# Signatures made or checked together from this many on are shared by two threads:
# libsodium works without holding the GIL, so a second core does half of them meanwhile.
TWO_THREADS_FROM = 256
T = TypeVar("T")
R = TypeVar("R")
SignatureCheck = tuple[str, bytes, bytes]  # key id, message (after the context), signature
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

SIGNING_KEY_ENV = "LEDGER_SIGNING_KEY"
SIGNING_KEY_ID_ENV = "LEDGER_SIGNING_KEY_ID"
VERIFY_KEYS_ENV = "LEDGER_VERIFY_KEYS"


class NoSigningKeyError(Exception):
    """This installation holds no signing key: it can read and verify, not record."""


def _in_two_halves(each: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``each`` of ``items``, in their order; from ``TWO_THREADS_FROM`` items on, the second
    half on another thread at the same time as the first (libsodium runs without the GIL)."""
    if len(items) < TWO_THREADS_FROM:
        return [each(item) for item in items]
    half = len(items) // 2
    with ThreadPoolExecutor(1, thread_name_prefix="signatures") as second:
        later = second.submit(lambda: [each(item) for item in items[half:]])
        return [each(item) for item in items[:half]] + later.result()


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _raw_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} must be the base64 of 32 raw bytes")
    return raw


def _key_id(text: str, what: str) -> str:
    if not KEY_ID_PATTERN.fullmatch(text):
        raise ValueError(f"{what} {text!r} must be 1 to 64 letters, digits or . _ : -")
    return text


@dataclass(frozen=True)
class Keyring:
    """The key this installation signs with (if any) and every key it accepts."""

    key_id: str | None
    private: Ed25519PrivateKey | None
    public: Mapping[str, Ed25519PublicKey]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Keyring:
        public: dict[str, Ed25519PublicKey] = {}
        verify_keys = env.get(VERIFY_KEYS_ENV) or "{}"
        try:
            given = json.loads(verify_keys)
        except json.JSONDecodeError:
            given = None
        if not isinstance(given, dict):
            raise ValueError(f"{VERIFY_KEYS_ENV} must be a JSON object: key id → public key")
        for key_id, text in given.items():
            public[_key_id(str(key_id), "a verify key id")] = Ed25519PublicKey.from_public_bytes(
                _raw_key(str(text), f"the verify key {key_id}")
            )
        private = None
        key_id = None
        signing_key = env.get(SIGNING_KEY_ENV)
        if signing_key:
            private = Ed25519PrivateKey.from_private_bytes(_raw_key(signing_key, SIGNING_KEY_ENV))
            own = private.public_key()
            key_id = _key_id(env.get(SIGNING_KEY_ID_ENV) or fingerprint(own), SIGNING_KEY_ID_ENV)
            if key_id in public and public[key_id] != own:
                raise ValueError(
                    f"{VERIFY_KEYS_ENV} gives key id {key_id} another key than "
                    f"{SIGNING_KEY_ENV}: a key id names one key"
                )
            public[key_id] = own
        return cls(key_id, private, public)

    def signing_key_id(self) -> str:
        """The id of the key this installation signs with."""
        return self._signing()[0]

    def sign(self, context: bytes, message: bytes) -> bytes:
        # libsodium returns the signature followed by the message it signs
        return nacl.bindings.crypto_sign(context + message, self._secret_key)[:SIGNATURE_BYTES]

    def sign_all(self, context: bytes, messages: Sequence[bytes]) -> list[bytes]:
        """The signatures of ``messages``, in their order (a long run on two threads)."""
        return _in_two_halves(lambda message: self.sign(context, message), messages)

    def problems(self, context: bytes, checks: Sequence[SignatureCheck]) -> list[str | None]:
        """``problem`` of each check, in their order (a long run on two threads)."""
        return _in_two_halves(lambda check: self.problem(check[0], context, *check[1:]), checks)

    @cached_property
    def _secret_key(self) -> bytes:
        """The signing key as libsodium takes it (its 32-byte seed, then its public key),
        derived once per keyring rather than once per signature."""
        seed = self._signing()[1].private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return nacl.bindings.crypto_sign_seed_keypair(seed)[1]

    def _signing(self) -> tuple[str, Ed25519PrivateKey]:
        if self.private is None or self.key_id is None:
            raise NoSigningKeyError(
                f"no signing key ({SIGNING_KEY_ENV}): this installation verifies, it does "
                "not record"
            )
        return self.key_id, self.private

    @cached_property
    def public_bytes(self) -> Mapping[str, bytes]:
        """Every key it accepts, as the 32 raw bytes of its public key."""
        return {
            key_id: key.public_bytes(Encoding.Raw, PublicFormat.Raw)
            for key_id, key in self.public.items()
        }

    def problem(self, key_id: str, context: bytes, message: bytes, signature: bytes) -> str | None:
        """Why ``signature`` is not ``key_id``'s over ``message`` (None: it is)."""
        public = self.public_bytes.get(key_id)
        if public is None:
            return f"it is signed with key {key_id!r}, which is not among the verify keys"
        # libsodium reads the signature off the front of what it is given: a longer one
        # would lend its tail to the message
        if len(signature) != SIGNATURE_BYTES:
            return f"its signature does not match key {key_id!r}"
        try:
            nacl.bindings.crypto_sign_open(b"".join((signature, context, message)), public)
        except nacl.exceptions.BadSignatureError:
            return f"its signature does not match key {key_id!r}"
        return None
