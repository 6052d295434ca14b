"""The change feed's entries as CloudEvents 1.0 (structured JSON), and who may see which.

One rendering serves the HTTP feed, the server-sent stream, the webhooks and the broker, so
that a consumer gets the same bytes for a position whichever way it listens. ``id`` is the
ledger position: a consumer that deduplicates by it sees each decision once.
"""

from __future__ import annotations

import json
from typing import Any

from api.core.identities import Role
from projections.reads.feed import TYPES, Change, FeedFilter

SPEC_VERSION = "1.0"
SOURCE = "urn:social-assistance-ledger"
TYPE_PREFIX = "org.social-assistance-ledger."
CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

# A viewer sees the decisions in force; requests awaiting a second person, reviews of relief
# and payroll closes are for the staff who act on them.
VIEWER_TYPES = (
    "case.granted",
    "case.reassessed",
    "case.suspended",
    "case.resumed",
    "case.gradual_exit_started",
    "case.exited",
    "case.rescinded",
    "standard.set",
    "standard.corrected",
    "relief.granted",
    "relief.approved",
)


def visible_types(role: Role) -> tuple[str, ...]:
    return VIEWER_TYPES if role is Role.VIEWER else TYPES


def short_type(name: str) -> str:
    """``org.social-assistance-ledger.case.granted`` or ``case.granted``: ``case.granted``."""
    return name.removeprefix(TYPE_PREFIX)


def feed_filter(
    role: Role,
    served: frozenset[str] | None,
    types: list[str],
    programmes: list[str],
    regions: list[str],
) -> FeedFilter:
    """What a reader acting as ``role`` in the regions it ``served`` (None: the whole city)
    sees of the feed, of the types, programmes and regions it asks for (none: all)."""
    return FeedFilter(
        types=frozenset(short_type(t) for t in types),
        programmes=frozenset(programmes),
        regions=frozenset(regions),
        visible=frozenset(visible_types(role)),
        served=served,
    )


def cloud_event(change: Change) -> dict[str, Any]:
    return {
        "specversion": SPEC_VERSION,
        "id": str(change.position),
        "source": SOURCE,
        "type": TYPE_PREFIX + change.type,
        "subject": change.subject,
        "time": change.recorded_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        # extension attributes (lower-case letters and digits only)
        "ledgerposition": change.position,
        "programme": change.programme,
        "region": change.region,
        "data": change.data,
    }


def encoded(change: Change) -> bytes:
    """The event's bytes, the same each time: what webhooks sign and the broker carries."""
    return json.dumps(cloud_event(change), ensure_ascii=False, separators=(",", ":")).encode()
