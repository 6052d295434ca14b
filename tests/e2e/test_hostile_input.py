"""A corpus of hostile requests: none gets a 5xx, every refusal is a problem+json naming the
field at fault without echoing an identity number, and no refused request moves the ledger's
position. Requests a caseworker may legitimately send (odd but valid names) are recorded."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api.core.identities import Role
from api.core.settings import postgres_url_with_dbname
from tests.conftest import CONNECT_TIMEOUT_SECONDS, TEST_DATABASE_PREFIX
from tests.e2e.service import Service, running
from tests.support import QIBIN, identity_number

CW, FI, VI = Role.CASEWORKER, Role.FINANCE, Role.VIEWER
NUMBER = identity_number(date(1960, 1, 1), 5)
REFUSED = frozenset({400, 404, 409, 413, 415, 422})
RECORDED = frozenset({201})


def grant(**changes: Any) -> dict[str, Any]:
    body = {
        "programme": "disability-living",
        "region": QIBIN,
        "effective": "2020-01",
        "grade": 1,
        "persons": [{"identity_number": NUMBER, "name": "某人"}],
        "reason": "certificate",
    }
    return body | changes


def dibao(income: Any) -> dict[str, Any]:
    return grant(programme="dibao-urban", income=income, grade=None)


def someone(identity: str = NUMBER, name: str = "某人", **more: Any) -> dict[str, Any]:
    return grant(persons=[{"identity_number": identity, "name": name, **more}])


def fullwidth(digits: str) -> str:
    return digits.translate({ord("0") + n: 0xFF10 + n for n in range(10)})


def wrong_check_character(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str = "POST"
    path: str = "/cases"
    body: Any = None  # JSON-encoded unless ``raw`` is given
    raw: bytes | None = None
    role: Role = CW
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    answers: frozenset[int] = REFUSED
    names: str | None = None  # a word the refusal must name: the field at fault

    def identity_numbers(self) -> list[str]:
        text = self.raw.decode("utf-8", "replace") if self.raw else json.dumps(self.body)
        return re.findall(r"[0-9]{17}[0-9X]", text)

    def send(self, service: Service) -> Any:
        headers = {**service.as_(self.role), **self.headers}
        content = self.raw
        if content is None and self.body is not None:
            content = json.dumps(self.body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif content is not None:
            headers.setdefault("Content-Type", "application/json")
        return service.client.request(
            self.method, self.path, content=content, headers=headers, params=self.params
        )


CORPUS = [
    # Malformed JSON and wrong shapes.
    Hostile("truncated JSON", raw=b'{"programme": ', names="body"),
    Hostile("JSON with a trailing comma", raw=b'{"grade": 1,}', names="body"),
    Hostile("single quotes", raw=b"{'programme': 'tekun'}", names="body"),
    Hostile("a JSON array", raw=b"[1, 2, 3]", names="body"),
    Hostile("JSON null", raw=b"null", names="body"),
    Hostile("an empty body", raw=b"", names="body"),
    Hostile("NaN as income", raw=json.dumps(dibao("1")).replace('"1"', "NaN").encode()),
    Hostile("JSON nested 30000 deep", raw=b"[" * 30_000 + b"]" * 30_000),
    Hostile(
        "text/plain body",
        raw=b"programme=tekun",
        headers={"Content-Type": "text/plain"},
        answers=frozenset({415}),
        names="Content-Type",
    ),
    Hostile("latin-1 bytes", raw=b'{"reason": "caf\xe9"}', names="body"),
    # Wrong types.
    Hostile("grade as a word", body=grant(grade="one"), names="grade"),
    Hostile("grade as a float", body=grant(grade=1.5), names="grade"),
    Hostile("grade out of range", body=grant(grade=9), names="grade"),
    Hostile("persons as a string", body=grant(persons="张三"), names="persons"),
    Hostile("no persons", body=grant(persons=[]), names="persons"),
    Hostile("effective as a number", body=grant(effective=202001), names="effective"),
    Hostile("income as a JSON number", body=dibao(12.5), names="income"),
    Hostile("an unknown field", body=grant(admin=True), names="admin"),
    Hostile("a huge integer", raw=json.dumps(grant(grade=10**400)).encode(), names="grade"),
    # Money.
    Hostile("income with three decimals", body=dibao("12.345"), names="income"),
    Hostile("negative income", body=dibao("-1.00"), names="income"),
    Hostile("income in exponent form", body=dibao("1e3"), names="income"),
    Hostile("income with fullwidth digits", body=dibao(fullwidth("1200")), names="income"),
    Hostile(
        "a standard with three decimals",
        path=f"/standards/disability-living/{QIBIN}",
        role=FI,
        body={"effective": "2020-03", "parameters": {"standard": "500.001"}, "reason": "r"},
        names="standard",
    ),
    Hostile(
        "a negative standard",
        path=f"/standards/disability-living/{QIBIN}",
        role=FI,
        body={"effective": "2020-03", "parameters": {"standard": "-500"}, "reason": "r"},
        names="standard",
    ),
    Hostile(
        "relief of a billion",
        path="/reliefs",
        body={
            "region": QIBIN,
            "area": "urban",
            "kind": "emergency",
            "relief_date": "2020-03-01",
            "household_size": 2,
            "amount": "1000000000.00",
            "person": {"identity_number": NUMBER, "name": "某人"},
            "reason": "fire",
        },
        names="amount",
    ),
    # Huge bodies.
    Hostile("a 200 kB body", raw=b"x" * 200_000, names="bytes"),
    Hostile("a 200 kB reason", body=grant(reason="x" * 200_000), names="bytes"),
    Hostile("a lying Content-Length", raw=b"{}", headers={"Content-Length": "abc"}),
    # Unknown regions and programmes.
    Hostile("an unknown region", body=grant(region="999999"), names="region"),
    Hostile("a five-digit region", body=grant(region="41061"), names="region"),
    Hostile("a fullwidth region", body=grant(region=fullwidth(QIBIN)), names="region"),
    Hostile("an unknown programme", body=grant(programme="lottery"), names="programme"),
    Hostile("temporary relief as a case", body=grant(programme="temporary-relief")),
    Hostile(
        "a roll of an unknown region",
        method="GET",
        path="/rolls/dibao-urban/000000",
        role=VI,
        names="region",
    ),
    # Identity numbers.
    Hostile(
        "a wrong check character",
        body=someone(wrong_check_character(NUMBER)),
        names="identity_number",
    ),
    Hostile("17 digits", body=someone(NUMBER[:17]), names="identity_number"),
    Hostile("letters", body=someone("41061119600101ABCD"), names="identity_number"),
    Hostile("fullwidth digits", body=someone(fullwidth(NUMBER))),
    Hostile(
        "an impossible birth date",
        body=someone(identity_number(date(1960, 1, 1), 5)[:10] + "1332" + NUMBER[14:]),
        names="identity_number",
    ),
    Hostile(
        "a birth date that disagrees",
        body=someone(birth_date="1961-01-01"),
        names="birth_date",
    ),
    Hostile(
        "someone born in 2099",
        body=someone(identity_number(date(2099, 1, 1), 5)),
        names="persons[0].identity_number",
    ),
    Hostile(
        "someone born in 1800",
        body=someone(identity_number(date(1800, 1, 1), 5)),
        names="persons[0].identity_number",
    ),
    Hostile(
        "a division code of no province",
        body=someone(identity_number(date(1960, 1, 1), 5, region="990611")),
        names="identity_number",
    ),
    Hostile(
        "a bad number in a search",
        path="/entitlements/search",
        role=VI,
        body={"identity_number": wrong_check_character(NUMBER)},
        names="identity_number",
    ),
    # Effective months.
    Hostile("month 13", body=grant(effective="2020-13"), names="effective"),
    Hostile("month 00", body=grant(effective="2020-00"), names="effective"),
    Hostile("the year 1899", body=grant(effective="1899-12"), names="effective"),
    Hostile("far in the future", body=grant(effective="2099-01"), names="effective"),
    Hostile("a one-digit month", body=grant(effective="2020-1"), names="effective"),
    Hostile("a date, not a month", body=grant(effective="2020-01-01"), names="effective"),
    Hostile("before any standard", body=grant(effective="2018-01"), names="effective"),
    Hostile(
        "as_of out of range",
        method="GET",
        path=f"/rolls/disability-living/{QIBIN}",
        role=VI,
        params={"as_of": "2020-13"},
        names="as_of",
    ),
    # SQL injection.
    Hostile("SQL in the region", body=grant(region="410611' OR '1'='1"), names="region"),
    Hostile(
        "SQL in the programme",
        body=grant(programme="x'; DROP TABLE ledger_events; --"),
        names="programme",
    ),
    Hostile("SQL in a case id", method="GET", path="/cases/1' OR '1'='1", names="case_id"),
    Hostile(
        "SQL in a roll's programme",
        method="GET",
        path="/rolls/dibao-urban'--/410611",
        role=VI,
        names="programme",
    ),
    Hostile(
        "SQL in a query parameter",
        method="GET",
        path=f"/rolls/disability-living/{QIBIN}",
        role=VI,
        params={"known_at": "2020-01-01'; DELETE FROM segments; --"},
        names="known_at",
    ),
    Hostile(
        "SQL in a name (a legitimate string, stored as one)",
        body=someone(identity_number(date(1960, 1, 1), 11), "Robert'); DROP TABLE cases;--"),
        answers=RECORDED,
    ),
    # Header injection.
    Hostile(
        "CRLF in a query parameter",
        method="GET",
        path=f"/rolls/disability-living/{QIBIN}",
        role=VI,
        params={"as_of": "2020-01\r\nSet-Cookie: session=stolen"},
        names="as_of",
    ),
    Hostile(
        "CRLF in a reason (stored as text, never a header)",
        body=someone(identity_number(date(1960, 1, 1), 12))
        | {"reason": "x\r\nSet-Cookie: session=stolen\r\n\r\n<script>"},
        answers=RECORDED,
    ),
    Hostile(
        "an Idempotency-Key with spaces",
        body=grant(),
        headers={"Idempotency-Key": "a b"},
        names="Idempotency-Key",
    ),
    Hostile(
        "an Idempotency-Key of 201 characters",
        body=grant(),
        headers={"Idempotency-Key": "k" * 201},
        names="Idempotency-Key",
    ),
    # Unicode edge cases.
    Hostile("a NUL in a name", body=someone(name="张\x00三"), names="name"),
    Hostile("a NUL in a reason", body=grant(reason="ok\x00"), names="reason"),
    Hostile("a lone surrogate", raw=b'{"reason": "\\ud800"}', names="reason"),
    Hostile("an RTL override in a name", body=someone(name="\u202eevil"), names="name"),
    Hostile("a name of 101 characters", body=someone(name="张" * 101), names="name"),
    Hostile("a blank name", body=someone(name=" \t "), names="name"),
    Hostile(
        "combining characters in a name",
        body=someone(identity_number(date(1960, 1, 1), 13), "Zoe\u0308 Ame\u0301lie"),
        answers=RECORDED,
    ),
    Hostile(
        "an emoji in a name",
        body=someone(identity_number(date(1960, 1, 1), 14), "小明 😀"),
        answers=RECORDED,
    ),
    Hostile(
        "a zero-width joiner in a name",
        body=someone(name="小明 👨\u200d👩\u200d👧"),
        names="name",
    ),
    Hostile("a reason of 501 characters", body=grant(reason="理" * 501), names="reason"),
    Hostile("a reason of 60000 characters", body=grant(reason="理" * 60_000), names="bytes"),
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    if request.param == "sqlite":
        with running(f"sqlite:///{tmp_path_factory.mktemp('hostile')}/ledger.db") as service:
            yield prepared(service)
        return
    admin: str = request.getfixturevalue("postgres_admin_url")
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    dbname = sql.Identifier(name)
    with psycopg.connect(admin, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(dbname))
    try:
        with running(postgres_url_with_dbname(admin, name)) as service:
            yield prepared(service)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(dbname))


def prepared(service: Service) -> Service:
    ledger = service.runtime.ledger
    for programme, parameters in {
        "disability-living": {"standard": "500"},
        "dibao-urban": {"standard": "600"},
    }.items():
        ledger.set_standard(programme, QIBIN, "2019-01", parameters, actor="f", reason="n")
    return service


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.name for h in CORPUS])
def test_a_hostile_request_is_answered_without_5xx_and_refused_ones_store_nothing(
    service: Service, hostile: Hostile
) -> None:
    position = service.runtime.ledger.position
    answer = hostile.send(service)

    assert answer.status_code in hostile.answers, answer.text
    for header in answer.headers:
        assert header.lower() not in ("set-cookie", "x-injected")
    for number in hostile.identity_numbers():
        assert number not in answer.text
    if answer.status_code in RECORDED:
        return
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == answer.status_code
    assert problem["detail"].strip()
    if hostile.names is not None:
        assert hostile.names in json.dumps(problem, ensure_ascii=False), problem
    assert service.runtime.ledger.position == position
