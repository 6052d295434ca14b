"""Record DESIGN's reference cases 2, 3 and 5 in a fresh embedded ledger and print the amounts.

Run it with ``./scripts/demo``. The ledger file is var/demo.db (recreated on every run, so
the printed figures always come from exactly these decisions).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from uuid import UUID

from api.settings import Settings
from domain.errors import LedgerRefusal
from domain.identity import check_character
from domain.ledger import Ledger
from domain.months import Month
from domain.persons import PersonInput

DEMO_DATABASE = Path("var/demo.db")
QIBIN = "410611"


def resident(birth: date, serial: int, name: str) -> PersonInput:
    first_17 = f"{QIBIN}{birth:%Y%m%d}{serial:03d}"
    return PersonInput(first_17 + check_character(first_17), name)


def months(first: str, last: str) -> list[Month]:
    start, end = Month.parse(first), Month.parse(last)
    return [Month(index) for index in range(start.index, end.index + 1)]


def print_amounts(ledger: Ledger, title: str, case_id: UUID, span: Sequence[Month]) -> None:
    print(f"\n{title}")
    for month in span:
        state = ledger.case_month(case_id, month)
        print(f"  {month}  {ledger.monthly_amount(case_id, month):>9}  {state.status}")


def reference_case_2(ledger: Ledger) -> None:
    household = [
        resident(date(1978, 4, 2), 11, "王建国"),
        resident(date(1980, 9, 17), 12, "李秀兰"),
        resident(date(2009, 1, 23), 13, "王小明"),
    ]
    case = ledger.grant(
        "dibao-urban",
        QIBIN,
        "2020-03",
        household,
        income="200",
        actor="caseworker-1",
        reason="household income below the standard",
    ).id
    ledger.set_standard(
        "dibao-urban",
        QIBIN,
        "2020-07",
        {"standard": "650"},
        actor="finance-1",
        reason="provincial notice raising the urban standard",
    )
    ledger.reassess(case, "2021-01", {"income": "700"}, actor="caseworker-1", reason="new job")
    ledger.start_gradual_exit(
        case, "2021-01", 6, actor="caseworker-1", reason="income above the standard"
    )
    print_amounts(
        ledger,
        "Reference case 2: urban dibao, household of 3, raise to 650 from 2020-07, "
        "6-month gradual exit from 2021-01",
        case,
        months("2020-02", "2021-08"),
    )


def reference_case_3(ledger: Ledger) -> None:
    ledger.set_standard(
        "elderly-allowance",
        QIBIN,
        "2019-01",
        {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"},
        actor="finance-1",
        reason="old-age allowance bands",
    )
    case = ledger.grant(
        "elderly-allowance",
        QIBIN,
        "2022-01",
        [resident(date(1932, 5, 15), 21, "赵淑珍")],
        actor="caseworker-1",
        reason="aged over 80",
    ).id
    print_amounts(
        ledger,
        "Reference case 3: elderly allowance, born 1932-05-15 (bands 100 / 200 / 300)",
        case,
        months("2022-04", "2022-07"),
    )


def reference_case_5(ledger: Ledger) -> None:
    print("\nReference case 5: temporary relief, urban standard 600, cap 6 x 600 x 2 people")
    applicant = resident(date(1975, 6, 30), 31, "孙丽")
    for amount in ("7200.00", "7200.01"):
        relief_id = ledger.grant_relief(
            QIBIN,
            "urban",
            "expenditure",
            date(2020, 5, 12),
            2,
            amount,
            applicant,
            actor="caseworker-1",
            reason="medical expenses after an accident",
        ).id
        relief = ledger.relief(relief_id)
        state = "granted at once" if relief.granted else "waiting for a second approver"
        print(f"  {amount:>8} (cap {relief.cap}): {state}")
        if relief.granted:
            continue
        try:
            ledger.approve_relief(relief_id, actor="caseworker-1", reason="my own request")
        except LedgerRefusal as refusal:
            print(f"  approval by the requester refused: {refusal.message}")
        ledger.approve_relief(relief_id, actor="approver-1", reason="bills checked")
        print(f"  approved by approver-1: granted={ledger.relief(relief_id).granted}")


def main() -> int:
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEMO_DATABASE}{suffix}").unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{DEMO_DATABASE}")
    ledger = Ledger(settings.ledger_env())
    try:
        ledger.set_standard(
            "dibao-urban",
            QIBIN,
            "2020-01",
            {"standard": "600"},
            actor="finance-1",
            reason="urban dibao standard",
        )
        reference_case_2(ledger)
        reference_case_3(ledger)
        reference_case_5(ledger)
        ledger_position = ledger.position
    finally:
        ledger.close()
    print(
        f"\n{ledger_position} events recorded in {DEMO_DATABASE} "
        f"in {time.perf_counter() - started:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
