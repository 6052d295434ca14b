"""Who records a decision: a user's name as given, and the identity four eyes compare.

Events keep the actor's name exactly as it came, for the auditors. Where a rule asks
whether two decisions were made by the same person (a request and its approval), the names
are compared by their canonical identity, so that ``Alice``, ``alice ``, a full-width
``alice`` (U+FF41...) and ``alice`` with a zero-width space are one person: otherwise
anyone could approve their own request by spelling their name another way.
"""

from __future__ import annotations

import unicodedata


def canonical_identity(name: str) -> str:
    """``name`` NFKC-normalised, case-folded, without invisible format characters (zero-width
    spaces and joiners, soft hyphens) and with its whitespace trimmed and collapsed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())


def same_person(one: str, other: str | None) -> bool:
    """Whether two actors' names name the same user."""
    return other is not None and canonical_identity(one) == canonical_identity(other)
