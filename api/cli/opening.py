"""How every command opens the ledger: it says which one on stderr, and a ledger that is not
there, or a database that cannot be used, is one line naming the setting and the cause.

Only the commands that write a ledger's first events (``import``, ``demo``, ``serve``) may
create one; the others refuse where there is none, so that a read run from another folder,
or through a misspelt path, creates no empty ledger and folders, and answers nothing from
one. The line never holds the database's user or password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from api.core.bootstrap import (
    LedgerNotFoundError,
    Runtime,
    opened,
    refuse_views_of_another_ledger_at_start,
)
from api.core.settings import Settings, sqlite_path
from projections.reads.followed_ledger import ViewsOfAnotherLedgerError
from projections.storage.opening import prepare_ledger_place

SETTING = "LEDGER_DATABASE_URL"
UNUSABLE = (
    psycopg.Error,
    OperationalError,
    InterfaceError,
    PoolTimeout,
    sqlite3.OperationalError,
    sqlite3.DatabaseError,
)
CREATING = "`ledger import FILE` or `ledger demo` creates one"


def announce(settings: Settings) -> None:
    """Say on stderr which ledger the command works on."""
    click.echo(f"ledger: {settings.database_label}", err=True)


@contextmanager
def open_ledger(
    *, create: bool = False, project: bool = False, replacing_views: bool = False
) -> Iterator[Runtime]:
    """The ledger the settings name, and its views (kept current with ``project``; not
    refused for following another ledger with ``replacing_views``, see ``opened``); see the
    module's docstring."""
    settings = Settings()
    announce(settings)
    try:
        with opened(
            settings, create=create, project=project, replacing_views=replacing_views
        ) as runtime:
            yield runtime
    except ViewsOfAnotherLedgerError as refused:
        raise click.ClickException(str(refused)) from None
    except LedgerNotFoundError as missing:
        raise click.ClickException(
            f"{missing}{_folder(settings)} ({SETTING}); {CREATING}, or set {SETTING} to an "
            "existing ledger"
        ) from None
    except UNUSABLE as error:
        raise unusable(settings, error) from None


def _folder(settings: Settings) -> str:
    """Where a relative SQLite path was looked for: the folder the command was run in."""
    if urlsplit(settings.database_url).scheme != "sqlite":
        return ""
    return "" if sqlite_path(settings.database_url).is_absolute() else f" under {Path.cwd()}"


def check_database(settings: Settings) -> None:
    """For a command that hands the ledger to another process (``serve``): the database can
    be used and the views follow the ledger, or one line says why not."""
    try:
        prepare_ledger_place(settings.ledger_env())
        refuse_views_of_another_ledger_at_start(settings)
    except ViewsOfAnotherLedgerError as refused:
        raise click.ClickException(str(refused)) from None
    except UNUSABLE as error:
        raise unusable(settings, error) from None


def unusable(settings: Settings, error: BaseException) -> click.ClickException:
    return database_error(SETTING, settings.database_url, settings.database_label, error)


def postgres_url(option: str, conninfo: str) -> str:
    """A ``--...-url`` option's label (``postgresql host:port/dbname``), refusing text that
    is no PostgreSQL URL or key=value string without repeating it (it may hold a password)."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        raise click.BadParameter(
            "not a PostgreSQL URL: postgresql://user@host:port/dbname", param_hint=option
        ) from None
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"postgresql {host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


def database_error(
    setting: str, url: str, label: str, error: BaseException
) -> click.ClickException:
    """``setting: label cannot be used: cause``, on one line, with any password masked."""
    return click.ClickException(f"{setting}: {label} cannot be used: {cause(error, url)}")


def cause(error: BaseException, url: str) -> str:
    """What went wrong, on one line, without the password of ``url``."""
    text = " ".join(str(error).split()) or type(error).__name__
    password = _password(url)
    return text.replace(password, "***") if password else text


def _password(url: str) -> str | None:
    """The password in a URL or a libpq ``key=value`` string, if one is there to find."""
    try:
        if "://" in url:
            password = urlsplit(url).password
            return unquote(password) if password else None
        return str(conninfo_to_dict(url).get("password") or "") or None
    except (ValueError, psycopg.Error):
        return None
