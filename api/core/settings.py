"""The ledger's settings, read once from the environment (prefix ``LEDGER_``).

``database_url`` chooses persistence: ``sqlite:///path`` (the default, an embedded file),
``postgresql://user:password@host:port/dbname`` for production, or ``memory:`` for unit
tests. Outside development every secret must be given; development falls back to fixed,
public keys so that a new user can run the ledger at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlencode, urlsplit

from eventsourcing.utils import get_topic
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.storage.event_store import LedgerPostgresRecorder, LedgerSQLiteRecorder
from projections.storage.keys import DEVELOPMENT_KEY_ID
from projections.storage.signing import SignedMapper

DEFAULT_DATABASE_URL = "sqlite:///var/ledger.db"


def _development_key(purpose: str) -> SecretStr:
    digest = hashlib.sha256(f"social-assistance-ledger development {purpose}".encode())
    return SecretStr(base64.b64encode(digest.digest()).decode("ascii"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    personal_data_key: SecretStr | None = None
    person_ref_key: SecretStr | None = None
    region_catalogue: str | None = None
    relief_cap_multiple: Decimal = Decimal(6)
    gradual_exit_max_months: int = 6
    database_timeout_seconds: int = 2
    create_tables: bool = True  # false for a service role that may not create tables
    jwt_secret: SecretStr | None = None
    token_minutes: int = 8 * 60
    max_body_bytes: int = 64 * 1024
    # Event signatures (projections/storage/keys.py): the private key this installation
    # signs with, its id, and the public keys of earlier rotations (JSON: id -> key). A
    # verify-only installation (an auditor's) gives verify_keys and no signing key.
    signing_key: SecretStr | None = None
    signing_key_id: str | None = None
    verify_keys: dict[str, str] = {}
    checkpoint_every: int = 1000  # events between signed checkpoints of the audit chain

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        missing = [
            f"LEDGER_{name.upper()}"
            for name in ("personal_data_key", "person_ref_key", "jwt_secret")
            if getattr(self, name) is None
        ]
        if self.signing_key is None and not self.verify_keys:
            missing.append("LEDGER_SIGNING_KEY")
        if missing and self.environment != "development":
            raise ValueError(
                f"{', '.join(missing)} must be set in {self.environment}: they protect "
                "personal data and sign the events (generate one with: "
                'python -c "import os, base64; '
                'print(base64.b64encode(os.urandom(32)).decode())")'
            )
        if self.personal_data_key is None:
            self.personal_data_key = _development_key("personal data")
        if self.person_ref_key is None:
            self.person_ref_key = _development_key("person references")
        if self.jwt_secret is None:
            self.jwt_secret = _development_key("token signing")
        if self.signing_key is None and self.environment == "development":
            # DEVELOPMENT FALLBACK: a fixed, public key: what it signs proves nothing.
            self.signing_key = _development_key("event signing")
            self.signing_key_id = DEVELOPMENT_KEY_ID
        return self

    def ledger_env(self) -> dict[str, str]:
        """The environment the Ledger application is constructed with."""
        if self.personal_data_key is None or self.person_ref_key is None:
            raise ValueError("settings were built without keys")
        env = {
            "LEDGER_PERSONAL_DATA_KEY": self.personal_data_key.get_secret_value(),
            "LEDGER_PERSON_REF_KEY": self.person_ref_key.get_secret_value(),
            "LEDGER_RELIEF_CAP_MULTIPLE": str(self.relief_cap_multiple),
            "LEDGER_GRADUAL_EXIT_MAX_MONTHS": str(self.gradual_exit_max_months),
        }
        if self.region_catalogue:
            env["LEDGER_REGION_CATALOGUE"] = self.region_catalogue
        env.update(persistence_env(self.database_url, self.database_timeout_seconds))
        env["CREATE_TABLE"] = "y" if self.create_tables else "n"
        env["MAPPER_TOPIC"] = get_topic(SignedMapper)
        if self.signing_key is not None:
            env["LEDGER_SIGNING_KEY"] = self.signing_key.get_secret_value()
        if self.signing_key_id:
            env["LEDGER_SIGNING_KEY_ID"] = self.signing_key_id
        env["LEDGER_VERIFY_KEYS"] = json.dumps(self.verify_keys)
        env["LEDGER_CHECKPOINT_EVERY"] = str(self.checkpoint_every)
        return env


def persistence_env(database_url: str, timeout_seconds: int = 5) -> dict[str, str]:
    """Translate a database URL into the eventsourcing library's persistence settings."""
    url = urlsplit(database_url)
    if url.scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if url.scheme == "sqlite":
        path = Path(unquote(url.path)[1:])  # sqlite:///relative or sqlite:////absolute
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerSQLiteRecorder),
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": str(timeout_seconds),
        }
    if url.scheme in ("postgresql", "postgres"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerPostgresRecorder),
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or ""),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": str(timeout_seconds),
            "POSTGRES_LOCK_TIMEOUT": str(timeout_seconds),
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
        }
    raise ValueError(
        f"unsupported database URL scheme {url.scheme!r}: use sqlite:///path, "
        "postgresql://user@host:port/dbname or memory:"
    )


def postgres_url_with_dbname(url: str, dbname: str) -> str:
    """Return ``url`` (a libpq URL or key=value string) pointing at ``dbname`` instead.

    User, password, host, port and every other parameter are kept. The result is always a
    ``postgresql://`` URL; hosts that do not fit in one (Unix socket directories, host
    lists) go into the query string, which libpq and psycopg understand.
    """
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    params["dbname"] = dbname
    user = params.pop("user", None)
    password = params.pop("password", None)
    host = params.get("host", "")
    port = params.get("port", "")
    netloc = ""
    if host and "," not in host and not host.startswith("/") and "," not in port:
        del params["host"]
        netloc = f"[{host}]" if ":" in host else quote(host, safe="")
        if port:
            del params["port"]
            netloc = f"{netloc}:{port}"
    if user is not None:
        userinfo = quote(user, safe="")
        if password is not None:
            userinfo = f"{userinfo}:{quote(password, safe='')}"
        netloc = f"{userinfo}@{netloc}"
    del params["dbname"]
    query = f"?{urlencode(params, quote_via=quote)}" if params else ""
    result = f"postgresql://{netloc}/{quote(dbname, safe='')}{query}"
    # make_conninfo() validates the URL with libpq's own parser.
    if conninfo_to_dict(result) != conninfo_to_dict(make_conninfo(url, dbname=dbname)):
        raise ValueError(f"{url!r} cannot be pointed at database {dbname!r}")
    return result
