"""A decade of a city's assistance decisions, 2012-10 to 2022-09, deterministic for a seed.

Shaped after Hebi's civil-affairs figures for that decade (five county-level regions; about
27,000 elderly people on the allowance, 137 million yuan to them; 1.8 billion yuan of dibao
and tekun; urban and rural dibao standards raised 9 times, some raises recorded after their
effective month; about 59,800 temporary relief grants; 122 million yuan of disability
subsidies; 22,454,800 yuan of orphans' allowances). Scale N multiplies the population.

Decisions are produced month by month, as JSON-ready dicts in the order they were made,
so memory holds the open cases, not the history. Dibao households change too: children are
born into them and members die. Every case is paid into a bank card; about 0.5 % of each
month's paid lines come back from the bank early the next month (closed account, wrong
number, name mismatch), the household's new card is recorded the same morning, and the
next close pays the month again as arrears.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from random import Random
from typing import Any

from domain.ages import month_of_birthday
from domain.cases.payee import luhn_completed
from domain.months import BUREAU_TIME_ZONE, Month
from domain.people.identity import check_character

FIRST = Month.of(2012, 10)
LAST = Month.of(2022, 9)
REGIONS = {"410602": 0.14, "410603": 0.12, "410611": 0.16, "410621": 0.30, "410622": 0.28}
URBAN_SHARE = {"410602": 0.8, "410603": 0.85, "410611": 0.75, "410621": 0.3, "410622": 0.35}

# Dibao standards per year from the July of that year (the first from the start): 9 raises.
DIBAO_URBAN = [330, 360, 400, 430, 460, 500, 540, 580, 610, 640]
DIBAO_RURAL = [170, 200, 230, 260, 290, 320, 360, 390, 420, 450]
LATE_RAISE_YEARS = {2015, 2018, 2020}  # notices that came after the month they took effect
ELDERLY = {"age_80_89": "100", "age_90_99": "200", "age_100_plus": "300"}
DISABILITY = {2012: "70", 2017: "90"}
ORPHAN = {2012: ("1100", "800"), 2016: ("1350", "1000"), 2019: ("1500", "1100")}
TEKUN_CARE = {"care_self": "60", "care_partial": "200", "care_full": "400"}
PROGRAMMES = (
    "dibao-urban",
    "dibao-rural",
    "tekun",
    "elderly-allowance",
    "disability-living",
    "disability-nursing",
    "orphan",
    "temporary-relief",
)

# Stocks at the start and monthly flows, per unit of scale, for the whole city.
STOCK = {
    "dibao": 24_000,
    "tekun": 1_800,
    "elderly": 6_250,
    "living": 6_700,
    "nursing": 5_300,
    "orphan": 107,
}
MONTHLY_ENTRY = {
    "dibao": 0.012,
    "tekun": 0.010,
    "living": 0.010,
    "nursing": 0.009,
    "orphan": 0.015,
}
MONTHLY_EXIT = {
    "dibao": 0.011,
    "tekun": 0.009,
    "elderly": 0.015,
    "living": 0.008,
    "nursing": 0.008,
}
RETURNED_SHARE = 0.005  # of a month's paid lines, returned by the bank
RETURN_REASONS = ("AC04", "AC01", "BE01")  # closed account, wrong number, name mismatch
KIND_OF_KEY = {"d": "dibao", "t": "tekun", "e": "elderly", "l": "living", "n": "nursing"}
MONTHLY_BIRTH = 0.001  # per dibao household
MONTHLY_DEATH = 0.002  # of one member, in a household of two or more
ELDERLY_NEW_PER_MONTH = 175
RELIEF_PER_MONTH = 500
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
VERIFIED_SOURCES = ("wages", "pensions", "real-estate", "vehicles", "deposits-and-securities")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌"


@dataclass
class OpenCase:
    key: str
    programme: str
    region: str
    granted: Month  # the month the grant takes effect
    recorded: Month  # the month the grant was made
    suspended: bool = False
    leaving_until: Month | None = None  # the end of a gradual exit, or an orphan's 18th year
    members: list[str] = field(default_factory=list)  # dibao: the members' identity numbers
    income: str = "0"  # dibao: the per-capita income in force


@dataclass
class City:
    seed: int
    scale: float
    random: random.Random = field(init=False)
    # Births and deaths in dibao households draw from their own stream, so the rest of the
    # decade is the same decisions it was before households changed.
    households: Random = field(init=False)
    # The bank's returns too: the other decisions are the same with or without them.
    payments: Random = field(init=False)
    returned: list[str] = field(default_factory=list)  # cases whose last line came back
    serials: dict[tuple[str, date], int] = field(default_factory=dict)
    cases: dict[str, OpenCase] = field(default_factory=dict)
    counter: int = 0

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.households = random.Random(f"{self.seed}:households")
        self.payments = random.Random(f"{self.seed}:payments")

    def count(self, per_unit: float) -> int:
        """How many of ``per_unit`` (a city-wide number at scale 1) happen, at this scale."""
        expected = per_unit * self.scale
        whole = int(expected)
        return whole + (1 if self.random.random() < expected - whole else 0)

    def key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def region(self) -> str:
        return self.random.choices(list(REGIONS), weights=list(REGIONS.values()))[0]

    def person(self, region: str, birth: date, draw: Random | None = None) -> dict[str, str]:
        serial = self.serials.get((region, birth), 0) + 1
        self.serials[region, birth] = serial
        if serial > 999:  # the day is full in that region: take the next day
            return self.person(region, birth + timedelta(days=1), draw)
        first_17 = f"{region}{birth:%Y%m%d}{serial:03d}"
        draw = draw or self.random
        name = draw.choice(SURNAMES) + "".join(draw.choices(GIVEN, k=2))
        return {"identity_number": first_17 + check_character(first_17), "name": name}

    def birth(self, month: Month, low: int, high: int) -> date:
        """A birth date for someone aged ``low`` to ``high`` on the 1st of ``month``."""
        start = month.first_day.replace(year=month.year - high - 1) + timedelta(days=1)
        end = month.first_day.replace(year=month.year - low)
        return start + timedelta(days=self.random.randrange((end - start).days))


def known_standard(area: str, month: Month) -> int:
    """The dibao standard for ``month`` as the bureau knew it during that month: a raise
    announced late is not known in the months before its notice."""
    if month.year in LATE_RAISE_YEARS and month.month in (7, 8):
        return dibao_standard(area, month - 2)
    return dibao_standard(area, month)


def dibao_standard(area: str, month: Month) -> int:
    table = DIBAO_URBAN if area == "urban" else DIBAO_RURAL
    year_index = month.year - 2013 + (1 if month.month >= 7 else 0)
    return table[max(0, min(len(table) - 1, year_index))]


def generate(seed: int = 1, scale: float = 1.0) -> Iterator[dict[str, Any]]:
    """Every decision of the decade, in the order it was made."""
    city = City(seed, scale)
    for month in (Month(i) for i in range(FIRST.index, LAST.index + 1)):
        decisions = list(_month_of_decisions(city, month))
        decisions.sort(key=lambda d: d["at"])
        for decision in decisions:
            decision["at"] = decision["at"].isoformat()
            yield decision
        yield from _closes(month)
        city.returned = _returned(city, month)


def _card(city: City) -> str:
    """A UnionPay card number of 19 digits."""
    return luhn_completed("62" + "".join(city.payments.choices("0123456789", k=16)))


def _paid_in(case: OpenCase, month: Month) -> bool:
    """Whether the case surely has a line paying something in ``month``'s close."""
    return (
        not case.suspended
        and case.granted <= month
        and case.recorded <= month
        and (case.leaving_until is None or case.programme == "orphan")
    )


def _returned(city: City, month: Month) -> list[str]:
    """The cases whose line of ``month`` the bank will return."""
    paid = [key for key, case in city.cases.items() if _paid_in(case, month)]
    draw = city.payments
    expected = len(paid) * RETURNED_SHARE
    count = int(expected) + (1 if draw.random() < expected - int(expected) else 0)
    return draw.sample(paid, count) if month < LAST else []


def _returns(city: City, month: Month) -> Iterator[dict[str, Any]]:
    """The bank's returns of last month's lines (early on the 1st, together), and each
    household's new card soon after, before any other decision of the month."""
    draw = city.payments
    for number, key in enumerate(city.returned):
        region = city.cases[key].region  # returned early in the month, before any exit
        yield {
            "decision": "return_payment",
            "at": _at(month, 1, 7) + timedelta(seconds=number),
            "actor": "finance-office",
            "case": key,
            "month": str(month - 1),
            "bank_reference": f"RT{month - 1}-{number + 1:05d}",
            "reason_code": draw.choice(RETURN_REASONS),
        }
        account = _card(city)
        yield {
            "decision": "change_payee",
            "at": _at(month, 1, 7, 30 + draw.randrange(30)),  # before any rescission
            "actor": f"caseworker-{region}",
            "case": key,
            "account": account,
            "reason": "the household gave a new card after the bank's return",
        }


def _at(month: Month, day: int, hour: int = 10, minute: int = 0) -> datetime:
    moment = datetime.combine(date(month.year, month.month, day), time(hour, minute))
    return moment.replace(tzinfo=BUREAU_TIME_ZONE)


def _closes(month: Month) -> Iterator[dict[str, Any]]:
    last_day = (month + 1).first_day - timedelta(days=1)
    at = datetime.combine(last_day, time(20, 0)).replace(tzinfo=BUREAU_TIME_ZONE)
    for programme in PROGRAMMES:
        for region in REGIONS:
            yield {
                "decision": "close_period",
                "at": at.isoformat(),
                "actor": "finance-office",
                "programme": programme,
                "region": region,
                "month": str(month),
            }


def _month_of_decisions(city: City, month: Month) -> Iterator[dict[str, Any]]:
    yield from _standards(city, month)
    if month == FIRST:
        yield from _initial_stock(city, month)
    yield from _returns(city, month)
    yield from _churn(city, month)
    yield from _relief(city, month)


def _standard(
    month: Month,
    day: int,
    programme: str,
    region: str,
    effective: Month,
    parameters: dict[str, str],
) -> dict[str, Any]:
    return {
        "decision": "set_standard",
        "at": _at(month, day, 9),
        "actor": "finance-office",
        "programme": programme,
        "region": region,
        "effective": str(effective),
        "parameters": parameters,
        "reason": "provincial notice on assistance standards",
    }


def _standards(city: City, month: Month) -> Iterator[dict[str, Any]]:
    year = month.year
    raise_month = Month.of(year, 7)
    late = year in LATE_RAISE_YEARS
    recorded = raise_month + (2 if late else 0)
    for region in REGIONS:
        if month == FIRST:
            yield from _all_standards(month, region, month)
        elif month == recorded and raise_month > FIRST:
            for area in ("urban", "rural"):
                value = dibao_standard(area, raise_month)
                yield _standard(
                    month, 3, f"dibao-{area}", region, raise_month, {"standard": str(value)}
                )
            yield _standard(month, 3, "tekun", region, raise_month, _tekun(raise_month))
        if month.month == 1 and year in DISABILITY and month != FIRST:
            for programme in ("disability-living", "disability-nursing"):
                yield _standard(month, 5, programme, region, month, {"standard": DISABILITY[year]})
        if month.month == 1 and year in ORPHAN and month != FIRST:
            institutional, dispersed = ORPHAN[year]
            parameters = {"institutional": institutional, "dispersed": dispersed}
            yield _standard(month, 5, "orphan", region, month, parameters)


def _all_standards(month: Month, region: str, effective: Month) -> Iterator[dict[str, Any]]:
    for area in ("urban", "rural"):
        standard = {"standard": str(dibao_standard(area, effective))}
        yield _standard(month, 1, f"dibao-{area}", region, effective, standard)
    yield _standard(month, 1, "tekun", region, effective, _tekun(effective))
    yield _standard(month, 1, "elderly-allowance", region, effective, ELDERLY)
    for programme in ("disability-living", "disability-nursing"):
        yield _standard(month, 1, programme, region, effective, {"standard": DISABILITY[2012]})
    institutional, dispersed = ORPHAN[2012]
    parameters = {"institutional": institutional, "dispersed": dispersed}
    yield _standard(month, 1, "orphan", region, effective, parameters)


def _tekun(month: Month) -> dict[str, str]:
    basics = {
        f"basic_{area}": str(int(Decimal(dibao_standard(area, month)) * Decimal("1.35")))
        for area in ("urban", "rural")
    }
    return basics | TEKUN_CARE


def _initial_stock(city: City, month: Month) -> Iterator[dict[str, Any]]:
    for kind, count in STOCK.items():
        for _ in range(city.count(count)):
            day = 1 + city.random.randrange(27)
            yield from _entry(city, kind, month, _at(month, day, 10 + city.random.randrange(7)))


def _churn(city: City, month: Month) -> Iterator[dict[str, Any]]:
    if month != FIRST:
        for kind, rate in MONTHLY_ENTRY.items():
            for _ in range(city.count(STOCK[kind] * rate)):
                yield from _entry(city, kind, month, _at(month, 1 + city.random.randrange(27), 11))
        for _ in range(city.count(ELDERLY_NEW_PER_MONTH)):
            yield from _entry(city, "elderly", month, _at(month, 1 + city.random.randrange(27), 11))
    for case in list(city.cases.values()):
        yield from _case_month(city, case, month)


def _standard_of(case: OpenCase, month: Month) -> int:
    return dibao_standard("urban" if case.programme.endswith("urban") else "rural", month)


def _entry(city: City, kind: str, month: Month, at: datetime) -> Iterator[dict[str, Any]]:
    region = city.region()
    area = "urban" if city.random.random() < URBAN_SHARE[region] else "rural"
    backdated = kind != "elderly" and month != FIRST and city.random.random() < 0.1
    effective = month - (1 if backdated else 0)
    grant: dict[str, Any] = {
        "decision": "grant",
        "at": at,
        "actor": f"caseworker-{region}",
        "region": region,
        "effective": str(effective),
        "reason": "application assessed",
    }
    if kind == "dibao":
        members = 1 + min(4, int(city.random.expovariate(0.7)))
        standard = dibao_standard(area, effective)
        grant |= {
            "programme": f"dibao-{area}",
            "persons": [city.person(region, city.birth(month, 1, 75)) for _ in range(members)],
            "income": str(city.random.randrange(0, int(standard * 0.75))),
        }
    elif kind == "tekun":
        tier = city.random.choices(["self", "partial", "full"], weights=[6, 3, 1])[0]
        grant |= {
            "programme": "tekun",
            "persons": [city.person(region, city.birth(month, 20, 85))],
            "area": area,
            "tier": tier,
        }
    elif kind == "elderly":
        low, high = (80, 99) if month == FIRST else (80, 80)
        grant |= {
            "programme": "elderly-allowance",
            "persons": [city.person(region, city.birth(month, low, high))],
        }
    elif kind in ("living", "nursing"):
        grade = city.random.choice([1, 2, 3, 4] if kind == "living" else [1, 2])
        grant |= {
            "programme": f"disability-{kind}",
            "persons": [city.person(region, city.birth(month, 18, 79))],
            "grade": grade,
        }
    else:
        birth = city.birth(month, 0, 16)
        grant |= {
            "programme": "orphan",
            "persons": [city.person(region, birth)],
            "care": city.random.choice(["institutional", "dispersed"]),
        }
    key = city.key(kind[0])
    grant["case"] = key
    grant["payee"] = {"account": _card(city)}
    case = OpenCase(key, grant["programme"], region, effective, month)
    if kind == "dibao":
        case.members = [p["identity_number"] for p in grant["persons"]]
        case.income = grant["income"]
    if kind in ("dibao", "tekun"):
        numbers = [p["identity_number"] for p in grant["persons"]]
        verification = _verification(f"v{key}", numbers, case.income, at, region)
        grant["verification"] = verification["verification"]
        yield verification
    if kind == "orphan":
        case.leaving_until = month_of_birthday(18, birth) + 1
    city.cases[key] = case
    yield grant


def _case_month(city: City, case: OpenCase, month: Month) -> Iterator[dict[str, Any]]:
    """What happens to an open case this month: its exit, a reassessment, a suspension; or,
    when none of these, a birth or a death in a dibao household."""
    decisions = list(_case_decisions(city, case, month))
    if decisions:
        yield from decisions
    elif case.key in city.cases:
        yield from _household_change(city, case, month)


def _household_change(city: City, case: OpenCase, month: Month) -> list[dict[str, Any]]:
    """A birth or a death in a dibao household this month (also during a gradual exit,
    whose amount it does not move)."""
    if not case.members or case.recorded >= month:
        return []
    if case.leaving_until is not None and month >= case.leaving_until:
        return []
    draw = city.households
    roll = draw.random()
    day, minute = 1 + draw.randrange(27), draw.randrange(60)
    if roll >= MONTHLY_BIRTH + MONTHLY_DEATH:
        return []  # as in most months: the same numbers drawn, no decision built
    decide: dict[str, Any] = {
        "decision": "reassess",
        "at": _at(month, day, 15, minute),
        "actor": f"caseworker-{case.region}",
        "case": case.key,
        "effective": str(month),
    }
    if roll < MONTHLY_BIRTH:
        born = (month - 1).first_day + timedelta(days=draw.randrange(28))
        baby = city.person(case.region, born, draw) | {"birth_date": born.isoformat()}
        case.members.append(baby["identity_number"])
        change = {"changes": {"members_joining": [baby]}, "reason": "a child was born"}
    elif roll < MONTHLY_BIRTH + MONTHLY_DEATH and len(case.members) > 1:
        died = case.members.pop(draw.randrange(len(case.members)))
        change = {"changes": {"members_leaving": [died]}, "reason": "a member died"}
    else:
        return []
    return _verified(case, decide | change)


def _verification(
    key: str, numbers: list[str], per_capita: str, at: datetime, region: str
) -> dict[str, Any]:
    """The city platform's verification of a household, made the day of the decision that
    cites it: the whole household income on the first member, so that the per-capita income
    is exactly the one decided."""
    total = Decimal(per_capita) * len(numbers)
    return {
        "decision": "verify_household",
        "at": at,
        "actor": f"caseworker-{region}",
        "verification": key,
        "members": [
            {"identity_number": number, "income": str(total if n == 0 else 0)}
            for n, number in enumerate(numbers)
        ],
        "sources": list(VERIFIED_SOURCES),
        "made_on": at.date().isoformat(),
        "level": "city",
        "report_id": f"HB-{key}",
    }


def _verified(case: OpenCase, reassess: dict[str, Any]) -> list[dict[str, Any]]:
    """A reassessment of a dibao household's income or members, after the verification of
    the household as it is from then on, which it cites."""
    income = reassess["changes"].get("income")
    if income is not None:
        case.income = income
    key = f"v{case.key}-{reassess['at']:%Y%m%d%H%M}"
    verification = _verification(key, case.members, case.income, reassess["at"], case.region)
    return [verification, reassess | {"verification": key}]


def _case_decisions(city: City, case: OpenCase, month: Month) -> Iterator[dict[str, Any]]:
    if case.leaving_until is not None:
        if month >= case.leaving_until:
            del city.cases[case.key]
        return
    if case.recorded >= month:
        return
    day, minute = 1 + city.random.randrange(27), city.random.randrange(60)
    roll = city.random.random()
    exit_rate = MONTHLY_EXIT.get(KIND_OF_KEY.get(case.key[0], ""), 0.004)
    # Most case-months bring nothing: they draw the same numbers and build no decision.
    if roll >= (0.4 if case.suspended else exit_rate + 0.019):
        return
    decide: dict[str, Any] = {
        "at": _at(month, day, 14, minute),
        "actor": f"caseworker-{case.region}",
        "case": case.key,
    }
    if case.suspended:
        if roll < 0.4:
            case.suspended = False
            yield decide | {"decision": "resume", "effective": str(month), "reason": "back home"}
        return
    if roll < exit_rate:
        del city.cases[case.key]
        if case.programme.startswith("dibao") and city.random.random() < 0.5:
            months = 3 + city.random.randrange(4)
            city.cases[case.key] = case
            case.leaving_until = month + months
            standard = dibao_standard(
                "urban" if case.programme.endswith("urban") else "rural", month
            )
            income = str(standard + 50 + city.random.randrange(300))
            yield from _verified(
                case,
                decide
                | {
                    "decision": "reassess",
                    "effective": str(month),
                    "changes": {"income": income},
                    "reason": "household income rose",
                },
            )
            yield decide | {
                "decision": "gradual_exit",
                "effective": str(month),
                "months": months,
                "reason": "income above the standard: gradual exit",
            }
        elif city.random.random() < 0.03:
            yield decide | {"decision": "request_rescission", "reason": "false declaration"}
            yield decide | {
                "decision": "approve_rescission",
                "at": decide["at"] + timedelta(hours=2),
                "actor": f"approver-{case.region}",
                "reason": "confirmed by review",
            }
        else:
            backdated = month - (1 if city.random.random() < 0.2 else 0)
            effective = max(backdated, case.granted + 1)
            yield decide | {
                "decision": "exit",
                "effective": str(effective),
                "reason": "died or moved",
            }
        return
    if case.programme.startswith("dibao") and roll < exit_rate + 0.015:
        income = str(city.random.randrange(0, int(_standard_of(case, month) * 0.8)))
        yield from _verified(
            case,
            decide
            | {
                "decision": "reassess",
                "effective": str(month),
                "changes": {"income": income},
                "reason": "annual review",
            },
        )
    elif roll < exit_rate + 0.019:
        case.suspended = True
        yield decide | {
            "decision": "suspend",
            "effective": str(month),
            "reason": "in hospital or away",
        }


def _relief(city: City, month: Month) -> Iterator[dict[str, Any]]:
    for _ in range(city.count(RELIEF_PER_MONTH)):
        region = city.region()
        area = "urban" if city.random.random() < URBAN_SHARE[region] else "rural"
        household = 1 + min(5, int(city.random.expovariate(0.6)))
        cap = 6 * known_standard(area, month) * household
        over_cap = city.random.random() < 0.08
        amount = (
            cap + 100 + city.random.randrange(1000)
            if over_cap
            else city.random.randrange(200, min(cap, 3000))
        )
        day = 4 + city.random.randrange(22)  # after any standard notice of the month (day 3)
        key = city.key("r")
        kind = "emergency" if city.random.random() < 0.4 else "expenditure"
        at = _at(month, day, 9 + city.random.randrange(8), city.random.randrange(60))
        yield {
            "decision": "grant_relief",
            "at": at,
            "actor": f"caseworker-{region}",
            "relief": key,
            "region": region,
            "area": area,
            "kind": kind,
            "relief_date": date(month.year, month.month, day).isoformat(),
            "household_size": household,
            "amount": str(amount),
            "person": city.person(region, city.birth(month, 18, 80)),
            "reason": "fire, illness or accident",
        }
        if over_cap:
            yield {
                "decision": "approve_relief",
                "at": at + timedelta(hours=20),
                "actor": f"approver-{region}",
                "relief": key,
                "reason": "above the cap: documents checked",
            }
        if kind == "emergency" and day + 10 < 28:
            outcome = "rescinded" if city.random.random() < 0.03 else "confirmed"
            yield {
                "decision": "review_relief",
                "at": at + timedelta(days=2),
                "actor": f"approver-{region}",
                "relief": key,
                "outcome": outcome,
                "reason": "reviewed after payment",
            }
