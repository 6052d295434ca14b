"""Webhook subscriptions to the change feed: create one (its secret is shown once), see how
far it is delivered and every attempt, redeliver, cancel.

Deliveries are made by ``ledger deliver`` (``api.services.delivery``), never by the request
that records a decision. A subscription sees what its creator saw in the feed when creating
it: the types of their role, in the regions they served.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AnyHttpUrl, Field

from api.core.identities import Role, User
from api.http.deps import Anyone, RuntimeDep, refuse_outside
from api.http.problems import INVALID_REQUEST, NOT_FOUND, PROBLEM_RESPONSES, HTTPProblem
from api.services.cloudevents import short_type
from api.services.fields import Body, RegionCode
from api.services.webhook_signatures import new_secret
from domain.cases.programmes import Programme
from projections.reads.feed import TYPES
from projections.storage.subscriptions import (
    CursorPastLedgerEndError,
    Subscription,
    refuse_past_ledger_end,
)

router = APIRouter(prefix="/subscriptions", tags=["webhooks"], responses=PROBLEM_RESPONSES)

EventType = Annotated[str, Field(pattern=r"^[a-z._-]{1,80}$", examples=["case.granted"])]


class SubscriptionCreate(Body):
    url: AnyHttpUrl = Field(description="Where each event is POSTed (http or https).")
    types: list[EventType] = Field(default=[], max_length=len(TYPES))
    programmes: list[Programme] = Field(default=[], max_length=len(Programme))
    regions: list[RegionCode] = Field(default=[], max_length=200)
    after: int | None = Field(
        default=None,
        ge=0,
        le=2**62,
        description="Deliver the events after this position, at most the ledger's; default: "
        "from now on. 0 replays the whole ledger.",
    )


class Redelivery(Body):
    after: int | None = Field(
        default=None,
        ge=0,
        le=2**62,
        description="Deliver again after this position, at most the ledger's; default: from "
        "the dead-lettered event.",
    )


class SubscriptionPublic(Body):
    id: str
    url: str
    types: list[str]
    programmes: list[str]
    regions: list[str]
    owner: str
    role: str
    served: list[str] | None = Field(
        description="The regions its creator serves, whose events it gets (null: the whole city)."
    )
    state: Literal["active", "dead", "cancelled"]
    acknowledged: int = Field(description="The last position delivered (or read past).")
    attempts: int = Field(description="Failed attempts in a row at the next event.")
    last_error: str | None
    dead_position: int | None = Field(description="The event that was dead-lettered.")


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="Shown once: verify each delivery's webhook-signature.")


class DeliveryAttemptPublic(Body):
    position: int
    attempt: int
    at_us: int
    outcome: Literal["delivered", "failed", "dead"]
    status: int | None
    error: str | None
    latency_us: int | None


class DeliveriesPublic(Body):
    subscription_id: str
    attempts: list[DeliveryAttemptPublic]


def _public(subscription: Subscription) -> SubscriptionPublic:
    filters = subscription.filters
    return SubscriptionPublic(
        id=subscription.id,
        url=subscription.target,
        types=filters.get("types", []),
        programmes=filters.get("programmes", []),
        regions=filters.get("regions", []),
        owner=subscription.owner,
        role=subscription.role,
        served=None if subscription.served is None else sorted(subscription.served),
        state=subscription.state,
        acknowledged=subscription.acknowledged,
        attempts=subscription.attempts,
        last_error=subscription.last_error,
        dead_position=subscription.dead_position,
    )


def _own(runtime: RuntimeDep, user: User, subscription_id: str) -> Subscription:
    found = runtime.subscriptions.get(subscription_id)
    if found is None or found.kind != "webhook" or not _sees(user, found):
        raise HTTPProblem(NOT_FOUND, "no such subscription", field="path.subscription_id")
    return found


def _sees(user: User, subscription: Subscription) -> bool:
    return user.role is Role.AUDITOR or subscription.owner == user.name


@router.post("", status_code=status.HTTP_201_CREATED)
def subscribe(body: SubscriptionCreate, runtime: RuntimeDep, user: Anyone) -> SubscriptionCreated:
    """Subscribe a URL to the feed's events (optionally of some types, programmes and
    regions). Each is POSTed as a CloudEvent with the Standard Webhooks headers, in order,
    at least once; `webhook-id` is the ledger position. The secret is shown only now."""
    unknown = [t for t in body.types if short_type(t) not in TYPES]
    if unknown:
        raise HTTPProblem(INVALID_REQUEST, f"no such event type: {unknown[0]}", field="body.types")
    for region in body.regions:
        refuse_outside(runtime, user, region)
    if body.after is None:
        after = runtime.read_side.position
    else:
        after = body.after
        try:
            refuse_past_ledger_end(after, runtime.ledger.position)
        except CursorPastLedgerEndError as error:
            raise HTTPProblem(INVALID_REQUEST, str(error), field="body.after") from error
    secret = new_secret()
    created = runtime.subscriptions.create(
        "webhook",
        str(body.url),
        secret,
        user.name,
        user.role.value,
        user.regions,
        {
            "types": sorted({short_type(t) for t in body.types}),
            "programmes": sorted({p.value for p in body.programmes}),
            "regions": sorted(set(body.regions)),
        },
        after,
    )
    return SubscriptionCreated(**_public(created).model_dump(), secret=secret)


@router.get("")
def subscriptions(runtime: RuntimeDep, user: Anyone) -> list[SubscriptionPublic]:
    """Your subscriptions (an auditor sees everyone's), without their secrets."""
    return [_public(s) for s in runtime.subscriptions.all() if _sees(user, s)]


@router.get("/{subscription_id}")
def subscription(subscription_id: str, runtime: RuntimeDep, user: Anyone) -> SubscriptionPublic:
    """How far a subscription is delivered, and why it waits if it does."""
    return _public(_own(runtime, user, subscription_id))


@router.get("/{subscription_id}/deliveries")
def deliveries(
    subscription_id: str,
    runtime: RuntimeDep,
    user: Anyone,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveriesPublic:
    """Every attempt to deliver an event after position `after`: delivered, failed (with
    the answer or the error) or dead-lettered."""
    found = _own(runtime, user, subscription_id)
    attempts = runtime.subscriptions.attempts(found.id, after, limit)
    return DeliveriesPublic(
        subscription_id=found.id,
        attempts=[DeliveryAttemptPublic(**vars(a)) for a in attempts],
    )


@router.post("/{subscription_id}/redeliveries")
def redeliver(
    subscription_id: str, body: Redelivery, runtime: RuntimeDep, user: Anyone
) -> SubscriptionPublic:
    """Deliver again from after a position (default: from the dead-lettered event), and
    make a dead-lettered subscription active again."""
    found = _own(runtime, user, subscription_id)
    if found.state == "cancelled":
        raise HTTPProblem(NOT_FOUND, "the subscription was cancelled", field="path.subscription_id")
    try:
        again = runtime.subscriptions.redeliver(found.id, body.after, runtime.ledger.position)
    except CursorPastLedgerEndError as error:
        raise HTTPProblem(INVALID_REQUEST, str(error), field="body.after") from error
    if again is None:
        raise HTTPProblem(NOT_FOUND, "no such subscription", field="path.subscription_id")
    return _public(again)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def unsubscribe(subscription_id: str, runtime: RuntimeDep, user: Anyone) -> Response:
    """Stop delivering to this subscription."""
    runtime.subscriptions.cancel(_own(runtime, user, subscription_id).id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
