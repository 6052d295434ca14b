"""Personal data carried in events, encrypted field by field with the library's AES cipher.

Only the fields wrapped in ``PersonalData`` are encrypted, so the rest of an event stays
readable to an auditor and a projection never has to decrypt what it does not show.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from typing import Any

from eventsourcing.persistence import Cipher, Transcoding


class PersonalData:
    """A name or identity number; encrypted when stored, decrypted only when revealed."""

    __slots__ = ("_cipher", "_ciphertext", "_plaintext")

    def __init__(self, plaintext: str) -> None:
        self._plaintext: str | None = plaintext
        self._ciphertext: bytes | None = None
        self._cipher: Cipher | None = None

    @classmethod
    def sealed(cls, ciphertext: bytes, cipher: Cipher) -> PersonalData:
        data = cls.__new__(cls)
        data._plaintext = None
        data._ciphertext = ciphertext
        data._cipher = cipher
        return data

    def reveal(self) -> str:
        if self._plaintext is None:
            if self._cipher is None or self._ciphertext is None:
                raise RuntimeError("sealed personal data without its cipher")
            self._plaintext = self._cipher.decrypt(self._ciphertext).decode("utf-8")
        return self._plaintext

    def ciphertext(self, cipher: Cipher) -> bytes:
        if self._ciphertext is None:
            self._ciphertext = cipher.encrypt(self.reveal().encode("utf-8"))
            self._cipher = cipher
        return self._ciphertext

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PersonalData) and self.reveal() == other.reveal()

    def __hash__(self) -> int:
        return hash(self.reveal())

    def __repr__(self) -> str:
        return "PersonalData(***)"

    __str__ = __repr__


class PersonalDataAsCiphertext(Transcoding):
    """Stores ``PersonalData`` as base64 AES-GCM ciphertext."""

    type = PersonalData
    name = "personal"

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    def encode(self, obj: PersonalData) -> str:
        return b64encode(obj.ciphertext(self._cipher)).decode("ascii")

    def decode(self, data: Any) -> PersonalData:
        return PersonalData.sealed(b64decode(str(data)), self._cipher)
