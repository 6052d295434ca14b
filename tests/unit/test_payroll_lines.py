"""A period's lines from its items, against a plain model: one line per case, in case
order, each kind of item summed into its field."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.months import Month
from projections.reads.payroll_lines import (
    AMOUNT,
    ARREARS,
    HELD,
    RECOVERY,
    ComputedItems,
    PayrollItem,
    lines_of,
)

KINDS = (AMOUNT, ARREARS, RECOVERY, HELD)

items = st.lists(
    st.builds(
        PayrollItem,
        st.sampled_from(["case-a", "case-b", "case-c", "case-d"]),
        st.sampled_from([Month.parse("2020-01"), Month.parse("2020-02")]),
        st.sampled_from(KINDS),
        st.integers(0, 10**7),
    )
)


@given(items)
def test_each_case_has_one_line_with_each_kind_summed(given_items: list[PayrollItem]) -> None:
    fen: dict[str, dict[str, int]] = {}
    for subject_id, _month, kind, amount in given_items:
        fen.setdefault(subject_id, dict.fromkeys(KINDS, 0))[kind] += amount

    lines = lines_of(given_items)

    assert [line.subject_id for line in lines] == sorted(fen)
    for line in lines:
        expected = tuple(Decimal(fen[line.subject_id][kind]).scaleb(-2) for kind in KINDS)
        assert (line.amount, line.arrears, line.recoveries, line.held) == expected
        assert all(field.as_tuple().exponent == -2 for field in line[1:])  # two places


def test_the_items_a_close_kept_are_taken_once_and_others_are_not_there() -> None:
    """The projection of a close this process did not compute (another process's, or one
    taken by a rival projector) finds nothing kept, and computes the items itself."""
    computed = ComputedItems()
    key = ("dibao-urban", "410611", Month.parse("2020-03"), 12, None)
    items = [PayrollItem("case-a", Month.parse("2020-03"), AMOUNT, 120_000)]
    assert computed.take(key) is None
    computed.keep(key, items)
    assert computed.take(key) == items
    assert computed.take(key) is None
