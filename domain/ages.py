"""Ages on the first of a month, and the months that age-driven rules turn on."""

from __future__ import annotations

from datetime import date

from domain.months import Month


def birthday_in(year: int, birth_date: date) -> date:
    """The birthday in ``year``; a 29 February birthday falls on 1 March in common years."""
    try:
        return birth_date.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def age_on(day: date, birth_date: date) -> int:
    years = day.year - birth_date.year
    return years if day >= birthday_in(day.year, birth_date) else years - 1


def age_in(month: Month, birth_date: date) -> int:
    """A person's age on the 1st of ``month``."""
    return age_on(month.first_day, birth_date)


def first_month_aged(age: int, birth_date: date) -> Month:
    """The first month on whose 1st the person is ``age`` or older."""
    birthday = birthday_in(birth_date.year + age, birth_date)
    month = Month.containing(birthday)
    return month if birthday.day == 1 else month + 1


def month_of_birthday(age: int, birth_date: date) -> Month:
    return Month.containing(birthday_in(birth_date.year + age, birth_date))
