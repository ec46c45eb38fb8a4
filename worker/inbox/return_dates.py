"""The return date written in an out-of-office text ("back on 14 December", "bis 14.12.2026")."""

from __future__ import annotations

import re
from datetime import date, timedelta

MAX_AHEAD = timedelta(days=90)  # a later date is a typo or a sabbatical: the default pause applies
_MONTHS = {
    # English, German, French, Spanish, Italian, Dutch, Portuguese (first letters are enough)
    1: ("jan", "jän", "ene", "gen"),
    2: ("feb", "fév", "fev"),
    3: ("mar", "mär", "mrz"),
    4: ("apr", "avr", "abr"),
    5: ("may", "mai", "mei", "mag"),
    6: ("jun", "juin", "giu"),
    7: ("jul", "juil", "lug"),
    8: ("aug", "aoû", "aou", "agosto"),
    9: ("sep", "sett", "setem"),
    10: ("oct", "okt", "ott", "outu"),
    11: ("nov",),
    12: ("dec", "dez", "déc", "dic"),
}
_MONTH_WORD = r"([a-zäéûç]{3,10})\.?"
_DAY = r"\b(\d{1,2})(?!\d)(?:st|nd|rd|th|er|º|°|\.)?"
_YEAR = r"(?:,?\s+(\d{4}))?"
_DAY_MONTH = re.compile(_DAY + r"\s+(?:of\s+|de\s+)?" + _MONTH_WORD + r"(?:\s+de)?" + _YEAR, re.I)
_MONTH_DAY = re.compile(_MONTH_WORD + r"\s+" + _DAY + _YEAR, re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})([./])(\d{1,2})(?:\2(\d{2,4}))?\b")


def return_date(text: str, *, received: date) -> date | None:
    """The latest plausible date in the text, between `received` and MAX_AHEAD after it."""
    found = [d for d in _candidates(text[:4000], received) if received < d <= received + MAX_AHEAD]
    return max(found) if found else None


def _candidates(text: str, received: date) -> list[date]:
    dates: list[date | None] = []
    for year, month, day in _ISO.findall(text):
        dates.append(_make(int(year), int(month), int(day)))
    for match in _DAY_MONTH.finditer(text):
        dates.append(_named(match[2], int(match[1]), match[3], received))
    for match in _MONTH_DAY.finditer(text):
        dates.append(_named(match[1], int(match[2]), match[3], received))
    for first, separator, second, year in _NUMERIC.findall(text):
        dates.extend(_numeric(int(first), separator, int(second), year, received))
    return [d for d in dates if d is not None]


def _month(word: str) -> int | None:
    word = word.lower().rstrip(".")
    for number, prefixes in _MONTHS.items():
        if len(word) >= 3 and any(word.startswith(prefix) for prefix in prefixes):
            return number
    return None


def _named(word: str, day: int, year: str | None, received: date) -> date | None:
    month = _month(word)
    if month is None:
        return None
    if year:
        return _make(int(year), month, day)
    return _next(month, day, received)


def _numeric(first: int, separator: str, second: int, year: str, received: date) -> list[date]:
    """d.m(.y) in dotted form; d/m or m/d with slashes (both readings; the window decides)."""
    readings = [(first, second)] if separator == "." else [(first, second), (second, first)]
    out = []
    for day, month in readings:
        if year:
            full = int(year) + (2000 if len(year) == 2 else 0)
            candidate = _make(full, month, day)
        else:
            candidate = _next(month, day, received)
        if candidate is not None:
            out.append(candidate)
    return out


def _next(month: int, day: int, received: date) -> date | None:
    """A day and month without a year: its next occurrence after `received`."""
    this_year = _make(received.year, month, day)
    if this_year is not None and this_year > received:
        return this_year
    return _make(received.year + 1, month, day)


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
