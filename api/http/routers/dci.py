"""The DCI social registry interface (``/dci/registry/...``): search by identifier, subscribe
and unsubscribe to enrolments and exits, transaction status; see docs/dci.md.

The asynchronous endpoints answer ``ACK`` at once, keep the answer as the transaction's
status, and POST it to the sender's ``header.sender_uri`` (``on-search``, ``on-subscribe``,
...) after the response; the ``sync`` ones answer it directly. Notifications of a
subscription are sent by ``ledger deliver`` like the webhooks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, ConfigDict, Field

from api.core.bootstrap import Runtime
from api.core.identities import User
from api.http.deps import Anyone, RuntimeDep
from api.http.problems import PROBLEM_RESPONSES
from api.services import dci
from api.services.delivery import DeliveryFailedError

router = APIRouter(prefix="/dci/registry", tags=["DCI registry"], responses=PROBLEM_RESPONSES)
log = logging.getLogger(__name__)

CALLBACK_TIMEOUT_SECONDS = 10.0


class DciHeader(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = Field(default=dci.VERSION, max_length=20)
    message_id: str = Field(min_length=1, max_length=100)
    message_ts: str = Field(max_length=40)
    action: str = Field(max_length=40)
    sender_id: str = Field(min_length=1, max_length=200)
    sender_uri: str | None = Field(default=None, max_length=2000)
    receiver_id: str | None = Field(default=None, max_length=200)
    total_count: int | None = None
    is_msg_encrypted: bool = False


class DciEnvelope(BaseModel):
    """The DCI message envelope: a signature (not checked: requests are authenticated by
    their bearer token), a header and the message."""

    model_config = ConfigDict(extra="forbid")

    signature: str | None = Field(default=None, max_length=10_000)
    header: DciHeader
    message: dict[str, Any]


EXAMPLE_SEARCH = {
    "signature": None,
    "header": {
        "version": "1.0.0",
        "message_id": "123",
        "message_ts": "2020-07-31T10:00:00+08:00",
        "action": "search",
        "sender_id": "province.example.org",
        "sender_uri": "https://province.example.org/dci/callback/on-search",
        "receiver_id": "social-assistance-ledger",
        "total_count": 1,
        "is_msg_encrypted": False,
    },
    "message": {
        "transaction_id": "T-1",
        "search_request": [
            {
                "reference_id": "R-1",
                "timestamp": "2020-07-31T10:00:00+08:00",
                "search_criteria": {
                    "version": "1.0.0",
                    "reg_type": dci.REG_TYPE,
                    "query_type": "idtype-value",
                    "query": {"type": "UIN", "value": "410611198001010011"},
                    "as_of": "2020-07",
                    "known_at": "2020-07-31",
                },
                "locale": "eng",
            }
        ],
    },
}


def _answer_later(
    runtime: Runtime,
    user: User,
    envelope: DciEnvelope,
    response: dict[str, Any],
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    """``ACK`` now; the response to the callback, and kept for ``txn/status`` without the
    subscriptions' secrets, which are shown once."""
    header = envelope.header
    transaction_id = str(envelope.message.get("transaction_id", ""))
    body = json.dumps(response, ensure_ascii=False)
    runtime.subscriptions.keep_transaction(
        user.name,
        header.sender_id,
        transaction_id,
        response["header"]["action"],
        response["header"]["status"],
        json.dumps(dci.without_secrets(response), ensure_ascii=False),
    )
    if header.sender_uri and header.sender_uri.startswith(("http://", "https://")):
        tasks.add_task(_callback, header.sender_uri, body.encode())
    return dci.ack(header.model_dump(), transaction_id)


def _callback(url: str, body: bytes) -> None:
    try:
        dci.post_json(url, body, {}, CALLBACK_TIMEOUT_SECONDS)
    except DeliveryFailedError as error:  # the answer stays available by txn/status
        log.warning("a DCI callback failed: %s", error)


def _envelope(envelope: DciEnvelope) -> dict[str, Any]:
    return {"header": envelope.header.model_dump(), "message": envelope.message}


@router.post(
    "/sync/search",
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE_SEARCH}}}},
)
def sync_search(envelope: DciEnvelope, runtime: RuntimeDep, user: Anyone) -> dict[str, Any]:
    """Search by identifier (`query_type` `idtype-value`, the identity number in
    `query.value`), answered at once with the `on-search` envelope: the person's programmes
    and amounts in `as_of` as known at `known_at` (ledger extensions of `search_criteria`)."""
    return dci.search(runtime, _envelope(envelope), user)


@router.post("/search")
def search(
    envelope: DciEnvelope, runtime: RuntimeDep, user: Anyone, tasks: BackgroundTasks
) -> dict[str, Any]:
    """The same search, asynchronous: `ACK` now, the `on-search` envelope POSTed to
    `header.sender_uri`, and kept for `txn/status`."""
    response = dci.search(runtime, _envelope(envelope), user)
    return _answer_later(runtime, user, envelope, response, tasks)


@router.post("/subscribe")
def subscribe(
    envelope: DciEnvelope, runtime: RuntimeDep, user: Anyone, tasks: BackgroundTasks
) -> dict[str, Any]:
    """Subscribe `header.sender_uri` to `enrolment` or `exit` events (`reg_event_type`,
    optionally `filter.programmes` and `filter.regions`): `ACK` now, `on-subscribe` (with
    each subscription's code and the secret that signs its notifications) to the callback."""
    response = dci.subscribe(runtime, _envelope(envelope), user)
    return _answer_later(runtime, user, envelope, response, tasks)


@router.post("/unsubscribe")
def unsubscribe(
    envelope: DciEnvelope, runtime: RuntimeDep, user: Anyone, tasks: BackgroundTasks
) -> dict[str, Any]:
    """Cancel your subscriptions by `message.subscription_codes`: `ACK` now,
    `on-unsubscribe` to the callback."""
    response = dci.unsubscribe(runtime, _envelope(envelope), user.name)
    return _answer_later(runtime, user, envelope, response, tasks)


@router.post("/sync/txn/status")
def sync_txn_status(envelope: DciEnvelope, runtime: RuntimeDep, user: Anyone) -> dict[str, Any]:
    """What each asynchronous request of a transaction (`txnstatus_request.attribute_value`,
    for `txn_type` `search`, `subscribe` or `unsubscribe`) was answered."""
    return dci.txn_status(runtime, _envelope(envelope), user)


@router.post("/txn/status")
def txn_status(
    envelope: DciEnvelope, runtime: RuntimeDep, user: Anyone, tasks: BackgroundTasks
) -> dict[str, Any]:
    """The same, asynchronous: `ACK` now, `on-txn-status` to the callback."""
    response = dci.txn_status(runtime, _envelope(envelope), user)
    header = envelope.header
    if header.sender_uri and header.sender_uri.startswith(("http://", "https://")):
        tasks.add_task(_callback, header.sender_uri, json.dumps(response).encode())
    return dci.ack(header.model_dump(), str(envelope.message.get("transaction_id", "")))
