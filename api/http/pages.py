"""Pages of long answers (rolls, overdue reviews, payroll lines), stable while decisions
arrive.

A page is ``limit`` entries from the ``offset``-th, in a fixed order. Its links (in the body's
``links`` and in an RFC 8288 ``Link`` header) lead to the first, previous and next pages as
known at the position the page was drawn at, and for the same month: ``known_at_position``
and ``as_of`` (``today`` for overdue reviews) are pinned in them, so following them reads
the same answer, page by page, however many decisions are recorded meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request

from api.http.schemas import PageLinks

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
# Query parameters a link replaces: the page's own, and those the pinned position answers.
REPLACED = ("offset", "limit", "known_at", "known_at_position", "wait_for_position")


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    def links(self, request: Request, total: int, pinned: Mapping[str, str | int]) -> PageLinks:
        """Links to the first, previous and next pages (None past either end), each with
        ``pinned`` query parameters (the position and month the page was drawn at)."""
        kept = [
            (name, value)
            for name, value in request.query_params.multi_items()
            if name not in REPLACED and name not in pinned
        ]

        def to(offset: int) -> str:
            query = [*kept, *pinned.items(), ("offset", offset), ("limit", self.limit)]
            return f"{request.url.path}?{urlencode(query)}"

        return PageLinks(
            first=to(0),
            prev=to(max(0, self.offset - self.limit)) if self.offset > 0 else None,
            next=to(self.offset + self.limit) if self.offset + self.limit < total else None,
        )

    def in_name(self, count: int, links: PageLinks) -> str:
        """The page's place in a file's name (``-501-to-1000``), when it is not the whole
        answer."""
        if links.prev is None and links.next is None:
            return ""
        return f"-{self.offset + 1}-to-{self.offset + count}"


def link_header(links: PageLinks) -> dict[str, str]:
    """The links as an RFC 8288 ``Link`` header."""
    found = {"first": links.first, "prev": links.prev, "next": links.next}
    value = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in found.items() if url)
    return {"Link": value}


def get_page(
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Skip this many entries.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many (up to {MAX_LIMIT}).")
    ] = DEFAULT_LIMIT,
) -> Page:
    return Page(offset, limit)


PageDep = Annotated[Page, Depends(get_page)]

LINK_HEADER: dict[str, Any] = {
    "Link": {
        "description": 'The first, previous and next pages (RFC 8288: rel="first", "prev", '
        '"next"), at the position this page was drawn at',
        "schema": {"type": "string"},
    }
}
