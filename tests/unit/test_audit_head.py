"""An expected head recorded elsewhere is read strictly: a mistyped one is refused, named."""

from __future__ import annotations

import pytest

from projections.reads.audit_chain import Head

HASH = "5afc99bc63fe3afc4a3a38f35342a935bb38cdc1a511175b7b80596f2fa051a2"


def test_a_head_as_verify_prints_it_reads_back_the_same() -> None:
    head = Head.parse(f"6168:{HASH}")
    assert (head.position, str(head)) == (6168, f"6168:{HASH}")


@pytest.mark.parametrize(
    "text", ["foo", "49418:abc", f"-1:{HASH}", f"{HASH}", f"12:{HASH}00", f"x:{HASH}", ""]
)
def test_a_malformed_head_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="expected POSITION:HASH"):
        Head.parse(text)
