"""The ledger's settings, read once from the environment (prefix ``LEDGER_``).

``database_url`` chooses persistence: ``sqlite:///path`` (the default, an embedded file),
``postgresql://user:password@host:port/dbname`` for production (or a host list,
``postgresql://user@h1:p1,h2:p2/dbname?target_session_attrs=read-write``, to follow a
failover), or ``memory:`` for unit tests. Outside development every secret must be given.
Development needs no setup: the keys not given are random ones made at the first start and
kept in a file only its owner may read, beside the ledger (api.core.keys), never fixed ones
that anyone could derive.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from eventsourcing.utils import get_topic
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.core.identities import OidcProvider, OidcSignIn
from api.core.keys import KEYS_FILE_NAME, keep_keys, keys_for, process_keys
from domain.months import BUREAU_TIME_ZONE
from projections.storage.event_store import (
    POSTGRES_OPTIONS,
    LedgerPostgresFactory,
    LedgerPostgresRecorder,
    LedgerSQLiteRecorder,
)
from projections.storage.keys import DEVELOPMENT_KEY_ID
from projections.storage.replicas import split_urls
from projections.storage.signing import SignedMapper

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///var/ledger.db"
DEFAULT_KEYS_FOLDER = Path("var")
# Each key setting, and the name the keys file (and the environment) gives it.
KEY_SETTINGS = {
    "personal_data_key": "LEDGER_PERSONAL_DATA_KEY",
    "person_ref_key": "LEDGER_PERSON_REF_KEY",
    "jwt_secret": "LEDGER_JWT_SECRET",
}


def _development_signing_key() -> SecretStr:
    """The public development key events are signed with where no key is set: it lets a
    development ledger record and verify, and proves nothing to anyone."""
    digest = hashlib.sha256(b"social-assistance-ledger development event signing")
    return SecretStr(base64.b64encode(digest.digest()).decode("ascii"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # Development only: where the keys file is (default: the SQLite ledger's folder, var/
    # for PostgreSQL; a ledger in memory keeps its keys in memory).
    keys_folder: Path | None = None
    personal_data_key: SecretStr | None = None
    person_ref_key: SecretStr | None = None
    region_catalogue: str | None = None
    relief_cap_multiple: Decimal = Decimal(6)
    gradual_exit_max_months: int = 6
    max_age_years: int = Field(default=130, ge=1)  # older people named in a decision: refused
    database_timeout_seconds: int = 2
    # Hot standbys of the PostgreSQL database that queries may be answered from
    # (comma-separated URLs), and how many positions one may be behind the primary's views.
    replica_urls: str = ""
    replica_max_lag_positions: int = Field(default=100, ge=0)
    create_tables: bool = True  # false for a service role that may not create tables
    jwt_secret: SecretStr | None = None  # the ledger's own tokens (``ledger token``)
    token_minutes: int = 8 * 60
    # An OpenID Connect provider (a bureau's Keycloak) whose RS256/ES256 tokens are accepted;
    # the user, role and regions come from the claims named (dotted paths).
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_user_claim: str = "preferred_username"
    oidc_role_claim: str = "realm_access.roles"
    oidc_regions_claim: str = "regions"
    # Signing in to the pages through that provider (the authorization code flow, with
    # PKCE): its endpoints, and the ledger's client there (a confidential one has a secret).
    oidc_authorization_url: str | None = None
    oidc_token_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    max_body_bytes: int = 64 * 1024
    # The debtor of the bank payment files: the bureau's name, the account it pays from and
    # its bank's CNAPS code.
    payer_name: str = "Hebi Civil Affairs Bureau"
    payer_account: str = "410600000000000000"
    payer_bank: str = "102496000015"
    # Household economic verification (docs/verification.md).
    verification_validity_days: int = Field(default=90, ge=1)
    verification_margin: Decimal = Field(default=Decimal("0.05"), ge=0, le=1)
    review_months_dibao: int = Field(default=6, ge=1, le=120)
    review_months_dibao_stable: int = Field(default=12, ge=1, le=120)
    review_months_tekun: int = Field(default=12, ge=1, le=120)
    # Dibao and tekun decisions made before this day (imported history) need not cite a
    # verification; unset, every one does. Never later than today, so live decisions do.
    verification_required_from: date | None = None
    verification_platform_url: str | None = None
    verification_platform_timeout_seconds: float = Field(default=10, gt=0, le=300)
    _keys_source: str = PrivateAttr(default="the environment")
    _generated: list[str] = PrivateAttr(default_factory=list)  # key settings made here

    # Webhook deliveries (``ledger deliver``) and the broker stream.
    delivery_timeout_seconds: float = 10.0  # one POST to a subscriber
    delivery_max_attempts: int = 12  # failures in a row before a subscription is dead-lettered
    delivery_retry_base_seconds: float = 1.0  # first retry; doubles each time, with jitter
    delivery_retry_max_seconds: float = 600.0  # longest wait between two attempts
    nats_url: str | None = None  # e.g. nats://127.0.0.1:4222; none: no broker stream
    nats_stream: str = "LEDGER"
    nats_subject: str = "ledger.events"  # each event on <subject>.<type>
    nats_role: Literal["viewer", "auditor"] = "viewer"  # what the broker's readers may see
    # Event signatures (projections/storage/keys.py): the private key this installation
    # signs with, its id, and the public keys of earlier rotations (JSON: id -> key). A
    # verify-only installation (an auditor's) gives verify_keys and no signing key.
    signing_key: SecretStr | None = None
    signing_key_id: str | None = None
    verify_keys: dict[str, str] = {}
    checkpoint_every: int = 1000  # events between signed checkpoints of the audit chain

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str) -> str:
        persistence_env(url)  # refuses an unknown scheme, an empty path, a bad port
        return url

    @model_validator(mode="after")
    def _replicas_of_postgres(self) -> Settings:
        urls = split_urls(self.replica_urls)  # refuses a malformed URL, saying why
        if urls and urlsplit(self.database_url).scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "LEDGER_REPLICA_URLS are standbys of a PostgreSQL ledger; "
                f"LEDGER_DATABASE_URL is {database_label(self.database_url)}"
            )
        return self

    @property
    def replicas(self) -> list[str]:
        """The connection strings of the hot standbys queries may be answered from."""
        return split_urls(self.replica_urls)

    @field_validator("verification_required_from")
    @classmethod
    def _not_after_today(cls, day: date | None) -> date | None:
        if day is not None and day > datetime.now(BUREAU_TIME_ZONE).date():
            raise ValueError(
                "LEDGER_VERIFICATION_REQUIRED_FROM is a day already past: live decisions always "
                "cite a verification"
            )
        return day

    @property
    def database_label(self) -> str:
        """Which ledger the settings name, said without user or password: ``sqlite
        var/ledger.db``, ``postgresql 127.0.0.1:5432/ledger`` or ``memory``."""
        return database_label(self.database_url)

    def shown(self) -> list[tuple[str, str, str]]:
        """Each setting as an operator may see it: its variable, the value in effect with
        every secret masked (a key is "set", or generated for development; the database
        URL without its password), and whether it came from the environment or a default."""
        given = {name.upper() for name in os.environ}
        rows = []
        for name in type(self).model_fields:
            variable = f"LEDGER_{name.upper()}"
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                if variable in given:
                    text = "set (hidden)"
                elif name == "signing_key":
                    text = "the public development key: signatures prove nothing"
                else:
                    text = f"generated ({self._keys_source})"
            elif name == "database_url":
                text = masked_url(value)
            elif name == "replica_urls":
                text = ", ".join(masked_url(url) for url in self.replicas) or "none"
            elif value is None:
                text = "not set"
            else:
                text = str(value)
            rows.append((variable, text, "environment" if variable in given else "default"))
        return rows

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        unsigned = self.signing_key is None and not self.verify_keys
        if unsigned and self.environment == "development":
            # DEVELOPMENT FALLBACK: a fixed, public key: what it signs proves nothing.
            self.signing_key = _development_signing_key()
            self.signing_key_id = DEVELOPMENT_KEY_ID
            unsigned = False
        provider = self.oidc_provider()
        if provider is not None and self.environment != "development":
            url = urlsplit(provider.jwks_url)
            if url.scheme != "https" and not is_loopback(url.hostname or ""):
                raise ValueError(
                    "LEDGER_OIDC_JWKS_URL is fetched over https outside development: whoever "
                    "can change the keys on the way can sign any token"
                )
        self.oidc_sign_in()  # refuses a partial or unsafe setting now, not at sign-in
        missing = [field for field in KEY_SETTINGS if getattr(self, field) is None]
        if provider is not None and self.environment != "development":
            # The provider signs the tokens; without a secret the ledger mints none itself.
            missing = [field for field in missing if field != "jwt_secret"]
        if self.environment != "development" and (missing or unsigned):
            names = [KEY_SETTINGS[f] for f in missing] + ["LEDGER_SIGNING_KEY"] * unsigned
            raise ValueError(
                f"{', '.join(names)} must be set in {self.environment}: they protect personal "
                "data and sign the events (an auditor's installation may give "
                "LEDGER_VERIFY_KEYS instead of a signing key, to verify only; generate a key "
                'with: python -c "import os, base64; '
                'print(base64.b64encode(os.urandom(32)).decode())")'
            )
        if not missing:
            return self
        path = self.development_keys_file()
        keys = process_keys() if path is None else keys_for(path)
        self._generated = missing
        self._use_keys(keys)
        self._keys_source = "this process's memory" if path is None else str(path)
        return self

    def _use_keys(self, keys: dict[str, str]) -> None:
        for field in self._generated:
            setattr(self, field, SecretStr(keys[KEY_SETTINGS[field]]))

    def keep_development_keys(self) -> None:
        """Keep the generated development keys in their file, where a ledger is created or
        a token minted: from then on every process of this installation uses them."""
        path = self.development_keys_file()
        if self._generated and path is not None:
            self._use_keys(keep_keys(path))

    def oidc_provider(self) -> OidcProvider | None:
        """The OpenID Connect provider whose tokens are accepted, when one is set."""
        given = {
            "LEDGER_OIDC_ISSUER": self.oidc_issuer,
            "LEDGER_OIDC_AUDIENCE": self.oidc_audience,
            "LEDGER_OIDC_JWKS_URL": self.oidc_jwks_url,
        }
        if not any(given.values()):
            return None
        if not all(given.values()):
            unset = ", ".join(name for name, value in given.items() if not value)
            raise ValueError(f"an OpenID Connect provider also needs {unset}")
        return OidcProvider(
            issuer=str(self.oidc_issuer),
            audience=str(self.oidc_audience),
            jwks_url=str(self.oidc_jwks_url),
            user_claim=self.oidc_user_claim,
            role_claim=self.oidc_role_claim,
            regions_claim=self.oidc_regions_claim,
            timeout_seconds=self.database_timeout_seconds,
        )

    def oidc_sign_in(self) -> OidcSignIn | None:
        """How the pages send a person to the provider to sign in, when it is set."""
        given = {
            "LEDGER_OIDC_AUTHORIZATION_URL": self.oidc_authorization_url,
            "LEDGER_OIDC_TOKEN_URL": self.oidc_token_url,
            "LEDGER_OIDC_CLIENT_ID": self.oidc_client_id,
        }
        if not any(given.values()):
            return None
        if not all(given.values()) or self.oidc_provider() is None:
            unset = ", ".join(name for name, value in given.items() if not value)
            raise ValueError(
                "signing in through an OpenID Connect provider needs the provider "
                f"(LEDGER_OIDC_ISSUER, _AUDIENCE, _JWKS_URL){' and ' + unset if unset else ''}"
            )
        token_url = urlsplit(str(self.oidc_token_url))
        if (
            self.environment != "development"
            and token_url.scheme != "https"
            and not is_loopback(token_url.hostname or "")
        ):
            raise ValueError("LEDGER_OIDC_TOKEN_URL is called over https outside development")
        secret = self.oidc_client_secret
        return OidcSignIn(
            authorization_url=str(self.oidc_authorization_url),
            token_url=str(self.oidc_token_url),
            client_id=str(self.oidc_client_id),
            client_secret=secret.get_secret_value() if secret else None,
            timeout_seconds=self.database_timeout_seconds,
        )

    def development_keys_file(self) -> Path | None:
        """Where development keys are kept; None for a ledger in memory."""
        if self.keys_folder is not None:
            return self.keys_folder / KEYS_FILE_NAME
        url = urlsplit(self.database_url)
        if url.scheme == "memory":
            return None
        if url.scheme == "sqlite":
            return sqlite_path(self.database_url).parent / KEYS_FILE_NAME
        return DEFAULT_KEYS_FOLDER / KEYS_FILE_NAME

    def development_notice(self) -> str | None:
        """The line said at every start in development; None in production."""
        if self.environment != "development":
            return None
        return (
            f"development mode: keys from {self._keys_source}; not for personal data of real people"
        )

    def announce(self) -> None:
        """Warn at start that this is development, and whose keys it uses. With logging not
        configured (the command line, ``uvicorn``), the warning is one line on stderr."""
        notice = self.development_notice()
        if notice is not None:
            log.warning(notice)

    def ledger_env(self) -> dict[str, str]:
        """The environment the Ledger application is constructed with."""
        if self.personal_data_key is None or self.person_ref_key is None:
            raise ValueError("settings were built without keys")
        env = {
            "LEDGER_PERSONAL_DATA_KEY": self.personal_data_key.get_secret_value(),
            "LEDGER_PERSON_REF_KEY": self.person_ref_key.get_secret_value(),
            "LEDGER_RELIEF_CAP_MULTIPLE": str(self.relief_cap_multiple),
            "LEDGER_GRADUAL_EXIT_MAX_MONTHS": str(self.gradual_exit_max_months),
            "LEDGER_MAX_AGE_YEARS": str(self.max_age_years),
            "LEDGER_VERIFICATION_VALIDITY_DAYS": str(self.verification_validity_days),
            "LEDGER_VERIFICATION_MARGIN": str(self.verification_margin),
            "LEDGER_REVIEW_MONTHS_DIBAO": str(self.review_months_dibao),
            "LEDGER_REVIEW_MONTHS_DIBAO_STABLE": str(self.review_months_dibao_stable),
            "LEDGER_REVIEW_MONTHS_TEKUN": str(self.review_months_tekun),
        }
        if self.verification_required_from is not None:
            env["LEDGER_VERIFICATION_REQUIRED_FROM"] = self.verification_required_from.isoformat()
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


def masked_url(database_url: str) -> str:
    """The URL with its password, if it has one, replaced by ***."""
    url = urlsplit(database_url)
    if url.password is None:
        return database_url
    netloc = url.netloc.replace(f":{url.password}@", ":***@", 1)
    return urlunsplit(url._replace(netloc=netloc))


def database_label(database_url: str) -> str:
    """The kind and place of a database, never its user or password."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        return f"sqlite {sqlite_path(database_url)}"
    if url.scheme in ("postgresql", "postgres"):
        env = persistence_env(database_url)
        hosts = env["POSTGRES_HOST"].split(",")
        ports = env["POSTGRES_PORT"].split(",")
        places = ",".join(
            f"{host}:{ports[i] if len(ports) > 1 else ports[0]}" for i, host in enumerate(hosts)
        )
        return f"postgresql {places}/{env['POSTGRES_DBNAME']}"
    return url.scheme or "an unnamed database"


def sqlite_path(database_url: str) -> Path:
    """The file of ``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    return Path(unquote(urlsplit(database_url).path)[1:])


def persistence_env(database_url: str, timeout_seconds: int = 5) -> dict[str, str]:
    """Translate a database URL into the eventsourcing library's persistence settings.

    Nothing is created here: the SQLite file's folder is made by whoever may create a
    ledger (``api.core.bootstrap.opened``)."""
    url = urlsplit(database_url)
    if url.scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if url.scheme == "sqlite":
        path = sqlite_path(database_url)
        if not path.name:
            raise ValueError("a sqlite URL names a file: sqlite:///var/ledger.db")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerSQLiteRecorder),
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": str(timeout_seconds),
        }
    if url.scheme in ("postgresql", "postgres"):
        return _postgres_env(database_url, timeout_seconds)
    raise ValueError(
        f"unsupported database URL scheme {url.scheme!r}: use sqlite:///path, "
        "postgresql://user@host:port/dbname or memory:"
    )


def _postgres_env(database_url: str, timeout_seconds: int) -> dict[str, str]:
    """The library's settings for a libpq URL. A host list (``h1:p1,h2:p2``) and the URL's
    other parameters (``target_session_attrs=read-write``, to write only to the primary)
    are kept: the ledger's connections try each host in turn, so the service follows a
    failover by reconnecting."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(database_url).items() if v is not None}
    except psycopg.ProgrammingError as error:
        raise ValueError(f"libpq cannot read the PostgreSQL URL: {error}") from None
    ports = params.pop("port", "5432")
    if not all(port.isdigit() and 0 < int(port) < 65536 for port in ports.split(",")):
        raise ValueError(f"the PostgreSQL URL's port {ports!r} is not a port number (1 to 65535)")
    env = {
        "PERSISTENCE_MODULE": get_topic(LedgerPostgresFactory),
        "APPLICATION_RECORDER_TOPIC": get_topic(LedgerPostgresRecorder),
        "POSTGRES_DBNAME": params.pop("dbname", "") or "postgres",
        "POSTGRES_HOST": params.pop("host", "") or "127.0.0.1",
        "POSTGRES_PORT": ports,
        "POSTGRES_USER": params.pop("user", ""),
        "POSTGRES_PASSWORD": params.pop("password", ""),
        "POSTGRES_CONNECT_TIMEOUT": str(timeout_seconds),
        "POSTGRES_LOCK_TIMEOUT": str(timeout_seconds),
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
    }
    if params:
        env[POSTGRES_OPTIONS] = make_conninfo("", **params)
    return env


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
