"""Field rules shared by every way a lead comes in (API, CSV, CLI)."""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def normalise_email(value: str) -> str:
    """Lower-case and check an address; raises ValueError with the reason."""
    email = value.strip().lower()
    if not email:
        raise ValueError("email is empty")
    if len(email) > 320 or not _EMAIL.match(email):
        raise ValueError(f"{value!r} is not a valid email address")
    return email


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def normalise_timezone(value: str) -> str:
    """An IANA zone name as given; raises ValueError when unknown."""
    name = value.strip()
    if name not in _zones():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return name


def normalise_sender(value: str) -> str:
    """`addr` or `Name <addr>` on one line; raises ValueError with the reason."""
    from email.utils import parseaddr

    if any(ord(c) < 32 for c in value):
        raise ValueError("must be on one line")
    try:
        normalise_email(parseaddr(value)[1])
    except ValueError:
        raise ValueError(f"{value!r} must be an address or 'Name <address>'") from None
    return value
