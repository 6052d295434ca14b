"""A ledger with a history worth looking at, served by ``ledger serve``, for the pages'
browser tests and their screenshots.

The history is imported with its original times (2019), so that "the roll of August 2019 as
known on 31 August 2019" differs from the roll as known now in every way the pages mark:
a household's amount raised late, a household that joined late, one rescinded, one whose
exit was recorded late. A relief above its cap is then requested live over the API.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Page
from psycopg import sql

from api.core.settings import postgres_url_with_dbname
from tests.conftest import CONNECT_TIMEOUT_SECONDS, TEST_DATABASE_PREFIX
from tests.processes import Server, ledger_command
from tests.support import QIBIN, identity_number

ROLL_MONTH = "2019-08"
KNOWN_THEN = "2019-08-31"
CASEWORKER, REQUESTER = "wang.fang", "alice"


def household(members: int, serial: int) -> list[dict[str, str]]:
    return [
        {
            "identity_number": identity_number(date(1980, 1, 1), serial + n),
            "name": f"居民{serial + n}",
        }
        for n in range(members)
    ]


def verified(
    key: str, at: str, persons: list[dict[str, str]], income: str, case: str | None = None
) -> dict[str, Any]:
    """A verification of a household by the city's platform, made the day it is recorded,
    each member with the monthly income ``income`` (so ``income`` per capita)."""
    return {
        "decision": "verify_household",
        "at": at,
        "actor": CASEWORKER,
        "verification": key,
        "members": [{"identity_number": p["identity_number"], "income": income} for p in persons],
        "sources": ["wages", "pensions", "real-estate"],
        "made_on": at[:10],
        "level": "city",
        "report_id": f"HB-{key}",
        **({"case": case} if case else {}),
    }


def dibao_grant(
    case: str, at: str, effective: str, members: int, serial: int, income: str = "200"
) -> list[dict[str, Any]]:
    """An urban dibao grant in Qibin, with the household's verification it cites, as lines
    of the decisions file. Every dibao grant of these tests is made here."""
    persons = household(members, serial)
    return [
        verified(f"v-{case}", at, persons, income),
        {
            "decision": "grant",
            "at": at,
            "actor": CASEWORKER,
            "case": case,
            "programme": "dibao-urban",
            "region": QIBIN,
            "effective": effective,
            "persons": persons,
            "income": income,
            "verification": f"v-{case}",
            "reason": "application assessed",
        },
    ]


def history() -> list[dict[str, Any]]:
    """2019 in Qibin's urban dibao, standard 600: as known on 31 August, the roll of August
    holds households a (2 members, 800.00), c (800.00) and e (400.00); what was recorded in
    September raised a to 1000.00, added d from August, rescinded c and ended e in July."""

    def decided(decision: str, at: str, **fields: Any) -> dict[str, Any]:
        return {"decision": decision, "at": at, "actor": CASEWORKER, **fields}

    closes = [
        decided(
            "close_period",
            f"2019-{m:02d}-28T20:00:00+08:00",
            programme="dibao-urban",
            region=QIBIN,
            month=f"2019-{m:02d}",
        )
        for m in range(3, 9)
    ]
    return [
        {
            **decided(
                "set_standard",
                "2019-01-02T09:00:00+08:00",
                programme="dibao-urban",
                region=QIBIN,
                effective="2019-01",
                parameters={"standard": "600"},
                reason="municipal notice",
            ),
            "actor": "finance-office",
        },
        *dibao_grant("a", "2019-03-01T10:00:00+08:00", "2019-03", members=2, serial=10),
        *dibao_grant("c", "2019-03-01T11:00:00+08:00", "2019-03", members=2, serial=20),
        *dibao_grant("e", "2019-03-01T12:00:00+08:00", "2019-03", members=1, serial=30),
        *closes,
        *dibao_grant("d", "2019-09-05T10:00:00+08:00", "2019-08", members=1, serial=40),
        verified("v-a2", "2019-09-10T10:00:00+08:00", household(2, 10), "100", case="a"),
        decided(
            "reassess",
            "2019-09-10T10:00:00+08:00",
            case="a",
            effective="2019-08",
            changes={"income": "100"},
            verification="v-a2",
            reason="income fell",
        ),
        decided(
            "request_rescission", "2019-09-12T10:00:00+08:00", case="c", reason="income concealed"
        ),
        {
            **decided(
                "approve_rescission",
                "2019-09-13T10:00:00+08:00",
                case="c",
                reason="confirmed on review",
            ),
            "actor": "li.approver",
        },
        decided(
            "exit",
            "2019-09-15T10:00:00+08:00",
            case="e",
            effective="2019-08",
            reason="moved away in July",
        ),
        {
            **decided(
                "set_standard",
                "2019-09-20T09:00:00+08:00",
                programme="dibao-urban",
                region=QIBIN,
                effective="2019-10",
                parameters={"standard": "650"},
                reason="municipal notice of a raise",
            ),
            "actor": "finance-office",
        },
        {
            **decided(
                "close_period",
                "2019-09-28T20:00:00+08:00",
                programme="dibao-urban",
                region=QIBIN,
                month="2019-09",
            ),
            "actor": "finance-office",
        },
    ]


def relief_above_cap(serial: int) -> dict[str, Any]:
    """A relief of 8000.00 for a household of 2: above its cap of 6 x 600 x 2 = 7200.00."""
    return {
        "region": QIBIN,
        "area": "urban",
        "kind": "expenditure",
        "relief_date": "2020-05-01",
        "household_size": 2,
        "amount": "8000.00",
        "person": {"identity_number": identity_number(date(1970, 1, 1), serial), "name": "赵六"},
        "reason": "medical bills",
    }


@dataclass
class Served:
    server: Server
    database_url: str

    @property
    def on_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, user: str, role: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.server.token(user, role)}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def sign_in(self, page: Page, user: str, role: str) -> None:
        page.goto(f"{self.url}/")
        page.get_by_label("令牌").fill(self.server.token(user, role))
        page.get_by_role("button", name="登录").click()
        page.get_by_text(user).first.wait_for()


@contextmanager
def served_history(database_url: str, folder: Path) -> Iterator[Served]:
    """``ledger serve`` over the imported history, with one relief awaiting approval."""
    server = Server(database_url, folder / "server.log")
    decisions = folder / "decisions.jsonl"
    decisions.write_text("".join(json.dumps(line) + "\n" for line in history()))
    imported = ledger_command(server, "import", str(decisions))
    if imported.returncode != 0:
        raise RuntimeError(f"the import failed:\n{imported.stderr}")
    signed = ledger_command(server, "checkpoints", "take")
    if signed.returncode != 0:
        raise RuntimeError(f"no checkpoint was signed:\n{signed.stderr}")
    server.start()
    try:
        served = Served(server, database_url)
        served.api("POST", "/reliefs", REQUESTER, "caseworker", relief_above_cap(50))
        server.wait_ready()
        yield served
    finally:
        server.stop()


@contextmanager
def store(kind: str, folder: Path, admin_url: str | None) -> Iterator[str]:
    """A fresh ledger's URL: an SQLite file in ``folder``, or a PostgreSQL database of its
    own on the server of ``admin_url``, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder}/ledger.db"
        return
    if admin_url is None:
        raise ValueError("PostgreSQL needs the admin URL")
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(name)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield postgres_url_with_dbname(admin_url, name)
    finally:
        with psycopg.connect(
            admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
