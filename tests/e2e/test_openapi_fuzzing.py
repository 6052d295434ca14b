"""Schemathesis against the service's own OpenAPI document: no 5xx, every answer documented
and matching its schema, and no refused request moving the ledger's position, whatever the
generated request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.core.identities import Role
from tests.e2e.service import Service, running
from tests.support import QIBIN


def role_for(method: str, path: str) -> Role:
    if "approvals" in path:
        return Role.APPROVER
    if path.startswith("/audit"):
        return Role.AUDITOR
    if path.startswith(("/standards", "/periods", "/totals", "/reconciliation")):
        return Role.FINANCE
    return Role.CASEWORKER if method == "POST" else Role.FINANCE


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder: Path = tmp_path_factory.mktemp("fuzzing")
    with running(f"sqlite:///{folder}/ledger.db") as service:
        ledger = service.runtime.ledger
        ledger.set_standard(
            "dibao-urban", QIBIN, "2019-01", {"standard": "600"}, actor="f", reason="n"
        )
        yield service


def test_every_operation_answers_as_documented_and_never_with_5xx(service: Service) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.client.app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20

    for operation in operations:
        if operation.path == "/events/stream":
            continue  # open-ended by design; tests/e2e/test_change_feed.py reads it
        answers_as_documented(service, operation, checks)


def answers_as_documented(service: Service, operation: Any, checks: list[Any]) -> None:
    headers = service.as_(role_for(operation.method.upper(), operation.path))

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def answers(case: Any) -> None:
        position = service.runtime.ledger.position
        response = case.call_and_validate(headers=headers, checks=checks)
        if response.status_code >= 400:
            assert service.runtime.ledger.position == position, response.text

    answers()
