"""The Digital Convergence Initiative (DCI) social registry interface, the parts that fit a
ledger of entitlements: search by identifier, subscribe to enrolments and exits with
notifications to a callback, and transaction status. See docs/dci.md.

Every message is the standard's envelope: a ``header`` (version, message id, timestamps,
sender and receiver ids, action, status) and a ``message`` (the transaction id and the
request or response items). An identity number travels only in a request body and is never
echoed: answers name a person by the ledger's person reference.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from api.core.bootstrap import Runtime
from api.core.identities import OutsideRegionsError, User, check_region
from api.services.delivery import Connections
from api.services.webhook_signatures import new_secret, signed_headers
from domain.errors import LedgerRefusal
from domain.months import Month, parse_month
from domain.people.identity import IdentityNumber
from projections.reads.feed import Change
from projections.reads.known_at import KnownAt
from projections.storage.subscriptions import Subscription

VERSION = "1.0.0"
RECEIVER_ID = "social-assistance-ledger"
REG_TYPE = "ns:org:RegistryType:SocialAssistanceLedger"
RECORD_TYPE = "ledger:PersonEntitlements"
ID_TYPES = ("UIN", "ID", "RESIDENT_ID")  # the resident identity number (GB 11643)
DCI = "dci"

# Registry event types a subscriber may ask for, and the feed types each stands for.
EVENT_TYPES: Mapping[str, tuple[str, ...]] = {
    "enrolment": ("case.granted",),
    "exit": ("case.exited", "case.rescinded", "case.gradual_exit_started"),
}


class DciRequestError(ValueError):
    """A message the interface cannot act on; ``code`` is the DCI status reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def response_header(request_header: Mapping[str, Any], action: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": VERSION,
        "message_id": uuid.uuid4().hex,
        "message_ts": now_text(),
        "action": action,
        "status": "succ",
        "status_reason_code": None,
        "status_reason_message": None,
        "total_count": 0,
        "completed_count": 0,
        "sender_id": RECEIVER_ID,
        "receiver_id": request_header.get("sender_id"),
        "is_msg_encrypted": False,
        "meta": {},
        **extra,
    }


def ack(request_header: Mapping[str, Any], correlation_id: str) -> dict[str, Any]:
    return {
        "message_id": request_header.get("message_id"),
        "ack_status": "ACK",
        "timestamp": now_text(),
        "error": None,
        "correlation_id": correlation_id,
    }


def nack(request_header: Mapping[str, Any], code: str, message: str) -> dict[str, Any]:
    return {
        "message_id": request_header.get("message_id"),
        "ack_status": "NACK",
        "timestamp": now_text(),
        "error": {"code": code, "message": message},
        "correlation_id": None,
    }


def _identity(criteria: Mapping[str, Any]) -> IdentityNumber:
    if criteria.get("query_type") != "idtype-value":
        raise DciRequestError("rjct.query_type.invalid", "only query_type idtype-value is served")
    query = criteria.get("query") or {}
    if query.get("type") not in ID_TYPES:
        raise DciRequestError(
            "rjct.query.invalid", f"query.type must be one of {', '.join(ID_TYPES)}"
        )
    try:
        return IdentityNumber.parse(str(query.get("value", "")))
    except (ValueError, LedgerRefusal):
        message = "query.value is not a valid identity number"
        raise DciRequestError("rjct.query.invalid", message) from None


def search_one(runtime: Runtime, item: Mapping[str, Any], user: User) -> dict[str, Any]:
    """One ``search_request`` item answered: the person's programmes and amounts, in the
    regions ``user`` serves, in the month ``as_of`` (default this month) as known at
    ``known_at`` (a date or timestamp; default now), or a rejection with its reason code."""
    reference_id = item.get("reference_id")
    answer: dict[str, Any] = {"reference_id": reference_id, "timestamp": now_text()}
    criteria = item.get("search_criteria") or {}
    try:
        number = _identity(criteria)
        month = (
            parse_month(str(criteria["as_of"]), "as_of")
            if criteria.get("as_of")
            else Month.at(datetime.now().astimezone())
        )
        read = runtime.read_side
        known = KnownAt.parse(criteria.get("known_at"), None)
        position = known.position_in(read, lambda: runtime.ledger.position)
    except DciRequestError as error:
        return {
            **answer,
            "status": "rjct",
            "status_reason_code": error.code,
            "status_reason_message": str(error),
        }
    except (ValueError, LedgerRefusal) as error:
        return {
            **answer,
            "status": "rjct",
            "status_reason_code": "rjct.search_criteria.invalid",
            "status_reason_message": str(error),
        }
    reference = runtime.ledger.references.reference(number)
    found = [e for e in read.entitlements(reference, month, position) if user.serves(e.region)]
    records = (
        [
            {
                "person_ref": reference,
                "as_of": str(month),
                "known_at_position": position,
                "programmes": [
                    {
                        "programme": e.programme,
                        "region": e.region,
                        "subject_id": e.subject_id,
                        "amount": str(e.amount),
                        "currency": "CNY",
                        "status": e.status,
                    }
                    for e in found
                ],
            }
        ]
        if found
        else []
    )
    return {
        **answer,
        "status": "succ",
        "status_reason_code": None,
        "status_reason_message": None,
        "data": {
            "version": VERSION,
            "reg_type": REG_TYPE,
            "reg_record_type": RECORD_TYPE,
            "reg_records": records,
        },
        "pagination": {"page_size": len(records), "page_number": 1, "total_count": len(records)},
        "locale": item.get("locale", "eng"),
    }


def search(runtime: Runtime, envelope: Mapping[str, Any], user: User) -> dict[str, Any]:
    """The ``on-search`` envelope answering a search envelope."""
    header, message = envelope["header"], envelope["message"]
    items = [search_one(runtime, item, user) for item in message.get("search_request", [])]
    done = sum(1 for item in items if item["status"] == "succ")
    status = "succ" if done == len(items) else ("part" if done else "rjct")
    return {
        "signature": None,
        "header": response_header(
            header, "on-search", status=status, total_count=len(items), completed_count=done
        ),
        "message": {
            "transaction_id": message.get("transaction_id"),
            "correlation_id": uuid.uuid4().hex,
            "search_response": items,
        },
    }


def subscription_filters(criteria: Mapping[str, Any]) -> dict[str, list[str]]:
    event = str(criteria.get("reg_event_type"))
    if event not in EVENT_TYPES:
        raise DciRequestError(
            "rjct.reg_event_type.invalid",
            f"reg_event_type must be one of {', '.join(EVENT_TYPES)}",
        )
    filters = criteria.get("filter") or {}
    return {
        "types": list(EVENT_TYPES[event]),
        "programmes": [str(p) for p in filters.get("programmes", [])],
        "regions": [str(r) for r in filters.get("regions", [])],
    }


def notify_envelope(subscription: Subscription, change: Change) -> dict[str, Any]:
    """A ``notify`` envelope carrying one enrolment or exit, by person reference."""
    event = next(k for k, types in EVENT_TYPES.items() if change.type in types)
    return {
        "signature": None,
        "header": {
            "version": VERSION,
            "message_id": f"{subscription.id}-{change.position}",
            "message_ts": now_text(),
            "action": "notify",
            "status": "succ",
            "total_count": 1,
            "completed_count": 1,
            "sender_id": RECEIVER_ID,
            "receiver_id": subscription.owner,
            "is_msg_encrypted": False,
            "meta": {"subscription_code": subscription.id, "ledger_position": change.position},
        },
        "message": {
            "transaction_id": subscription.id,
            "notify_event": [
                {
                    "reference_id": str(change.position),
                    "timestamp": change.recorded_at.isoformat().replace("+00:00", "Z"),
                    "data": {
                        "version": VERSION,
                        "reg_type": REG_TYPE,
                        "reg_event_type": event,
                        "reg_record_type": RECORD_TYPE,
                        "reg_records": [
                            {
                                "event": change.type,
                                "subject": change.subject,
                                "programme": change.programme,
                                "region": change.region,
                                **change.data,
                            }
                        ],
                    },
                    "locale": "eng",
                }
            ],
        },
    }


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """One POST of a JSON body (a callback); its 2xx status, or ``DeliveryFailedError``."""
    connections = Connections(timeout)
    try:
        return connections.post(url, url, body, {"Content-Type": "application/json", **headers})
    finally:
        connections.close()


class DciNotifyTransport:
    """Delivers a DCI subscription's events as ``notify`` envelopes to its callback, signed
    like the webhooks (Standard Webhooks headers, with the subscription's secret), on the
    subscription's kept-alive connection."""

    kind = DCI

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def send(self, subscription: Subscription, change: Change, body: bytes) -> int | None:
        envelope = json.dumps(notify_envelope(subscription, change), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            **signed_headers(subscription.secret, str(change.position), envelope),
        }
        return self.connections.post(subscription.id, subscription.target, envelope, headers)


def subscribe(runtime: Runtime, envelope: Mapping[str, Any], user: User) -> dict[str, Any]:
    """The ``on-subscribe`` envelope: one subscription per ``subscribe_request`` item, its
    notifications (of the regions ``user`` serves) sent to the sender's ``sender_uri`` from
    the next event on, each signed with the secret given here once."""
    header, message = envelope["header"], envelope["message"]
    callback = header.get("sender_uri")
    answers = []
    for item in message.get("subscribe_request", []):
        answer: dict[str, Any] = {"reference_id": item.get("reference_id"), "timestamp": now_text()}
        try:
            if not callback or not str(callback).startswith(("http://", "https://")):
                raise DciRequestError("rjct.sender_uri.invalid", "header.sender_uri is required")
            filters = subscription_filters(item.get("subscribe_criteria") or {})
            for region in filters["regions"]:
                runtime.ledger.regions.check(region)
                check_region(user, region)
        except (DciRequestError, LedgerRefusal, OutsideRegionsError) as error:
            code = getattr(error, "code", "rjct.subscribe_criteria.invalid")
            answers.append(
                {
                    **answer,
                    "status": "rjct",
                    "status_reason_code": code,
                    "status_reason_message": str(error),
                }
            )
            continue
        secret = new_secret()
        created = runtime.subscriptions.create(
            DCI,
            str(callback),
            secret,
            user.name,
            user.role.value,
            user.regions,
            filters,
            runtime.read_side.position,
        )
        answers.append(
            {
                **answer,
                "status": "succ",
                "subscriptions": [
                    {
                        "code": created.id,
                        "status": "subscribe",
                        "timestamp": now_text(),
                        "reg_event_type": item["subscribe_criteria"]["reg_event_type"],
                        "secret": secret,
                    }
                ],
            }
        )
    done = sum(1 for a in answers if a["status"] == "succ")
    return {
        "signature": None,
        "header": response_header(
            header,
            "on-subscribe",
            status="succ" if done == len(answers) else ("part" if done else "rjct"),
            total_count=len(answers),
            completed_count=done,
        ),
        "message": {
            "transaction_id": message.get("transaction_id"),
            "correlation_id": uuid.uuid4().hex,
            "subscribe_response": answers,
        },
    }


def unsubscribe(runtime: Runtime, envelope: Mapping[str, Any], owner: str) -> dict[str, Any]:
    header, message = envelope["header"], envelope["message"]
    codes = [str(code) for code in message.get("subscription_codes", [])]
    statuses = []
    for code in codes:
        found = runtime.subscriptions.get(code)
        mine = found is not None and found.kind == DCI and found.owner == owner
        if mine:
            runtime.subscriptions.cancel(code)
        statuses.append(
            {"code": code, "status": "unsubscribe" if mine else "rjct", "timestamp": now_text()}
        )
    done = sum(1 for s in statuses if s["status"] == "unsubscribe")
    return {
        "signature": None,
        "header": response_header(
            header,
            "on-unsubscribe",
            status="succ" if done == len(codes) else ("part" if done else "rjct"),
            total_count=len(codes),
            completed_count=done,
        ),
        "message": {
            "transaction_id": message.get("transaction_id"),
            "correlation_id": uuid.uuid4().hex,
            "timestamp": now_text(),
            "subscription_status": statuses,
        },
    }


def without_secrets(response: dict[str, Any]) -> dict[str, Any]:
    """An ``on-subscribe`` response as it is kept: each subscription without its secret."""
    answers = response.get("message", {}).get("subscribe_response")
    if not answers:
        return response
    kept = [
        {
            **answer,
            "subscriptions": [
                {k: v for k, v in made.items() if k != "secret"} for made in answer["subscriptions"]
            ],
        }
        if "subscriptions" in answer
        else answer
        for answer in answers
    ]
    return {**response, "message": {**response["message"], "subscribe_response": kept}}


def txn_status(runtime: Runtime, envelope: Mapping[str, Any], user: User) -> dict[str, Any]:
    """The ``on-txn-status`` envelope: what each request ``user`` made in a transaction
    was answered (subscriptions without their secrets)."""
    header, message = envelope["header"], envelope["message"]
    request = message.get("txnstatus_request") or {}
    transaction_id = str(request.get("attribute_value") or message.get("transaction_id") or "")
    kept = runtime.subscriptions.transaction(
        user.name, str(header.get("sender_id", "")), transaction_id
    )
    wanted = request.get("txn_type")
    found = [(a, s, r) for a, s, r in kept if not wanted or a == f"on-{wanted}"]
    return {
        "signature": None,
        "header": response_header(
            header,
            "on-txn-status",
            status="succ" if found else "rjct",
            status_reason_code=None if found else "rjct.transaction_id.invalid",
            total_count=len(found),
            completed_count=len(found),
        ),
        "message": {
            "transaction_id": message.get("transaction_id"),
            "correlation_id": uuid.uuid4().hex,
            "txnstatus_response": {
                "reference_id": request.get("reference_id"),
                "txn_type": wanted,
                "txn_status": [
                    {"action": a, "status": s, "response": json.loads(r)} for a, s, r in found
                ],
            },
        },
    }
