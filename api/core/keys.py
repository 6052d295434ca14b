"""Development keys: random per installation, kept in a file only its owner may read.

A ledger in development needs no setup, but its keys must not be public: a token signed with
a key anyone can derive reads as any role, and a personal-data key anyone can derive
decrypts every name and identity number in the database. So the first start makes random
keys and writes them to ``ledger.keys`` (mode 0600) beside the ledger; every later start,
and every other process on the same ledger (``ledger token``, the load test), reads the same
file, so what was encrypted stays readable. A ledger in memory lives as long as its process:
its keys are made once per process and never written.

Production never reads this file: its keys come from the environment (api.core.settings).
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import tempfile
from pathlib import Path

KEYS_FILE_NAME = "ledger.keys"
# The settings each key stands in for, as the environment names them.
KEY_NAMES = ("LEDGER_PERSONAL_DATA_KEY", "LEDGER_PERSON_REF_KEY", "LEDGER_JWT_SECRET")
_HEADER = (
    "# The development keys of this ledger, made at its first start. Only its owner may read\n"
    "# this file. Not for personal data of real people: in production the keys come from the\n"
    "# environment (LEDGER_ENVIRONMENT=production).\n"
)

_process_keys: dict[str, str] = {}


class KeysFileError(ValueError):
    """The keys file cannot be used: unreadable by its owner, readable by others, or broken."""


def new_key() -> str:
    """32 random bytes, base64: a personal-data (AES-256), reference (HMAC) or token key."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def process_keys() -> dict[str, str]:
    """Keys for a ledger that lives in this process's memory: made once, never written."""
    if not _process_keys:
        _process_keys.update({name: new_key() for name in KEY_NAMES})
    return dict(_process_keys)


_pending_keys: dict[Path, dict[str, str]] = {}


def keys_for(path: Path) -> dict[str, str]:
    """The keys in ``path`` if it exists; else keys made for this process, the same for every
    caller, kept in ``path`` by ``keep_keys`` once a ledger is created (reading creates
    nothing)."""
    if path.exists():
        return read_keys(path)
    return dict(_pending_keys.setdefault(path, {name: new_key() for name in KEY_NAMES}))


def keep_keys(path: Path) -> dict[str, str]:
    """Write this process's keys into ``path`` unless it exists; the keys ``path`` holds.

    Two processes keeping keys at once end with the same keys: each writes a complete file of
    its own and links it into place; the link fails for the second, which reads the first's."""
    if not path.exists():
        keys = _pending_keys.setdefault(path, {name: new_key() for name in KEY_NAMES})
        _write_once(path, "".join(f"{name}={keys[name]}\n" for name in KEY_NAMES))
    return read_keys(path)


def read_keys(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise KeysFileError(f"cannot read the keys file {path}: {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeysFileError(
            f"the keys file {path} may be read by others than its owner: run chmod 600 {path}"
        )
    keys: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            keys[name.strip()] = value.strip()
    missing = [name for name in KEY_NAMES if not keys.get(name)]
    if missing:
        raise KeysFileError(f"the keys file {path} lacks {', '.join(missing)}")
    return {name: keys[name] for name in KEY_NAMES}


def _write_once(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(_HEADER + body)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its keys
            os.link(scratch, path)
    finally:
        os.unlink(scratch)
