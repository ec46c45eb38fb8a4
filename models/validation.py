"""Field rules shared by every way a lead comes in (API, CSV, CLI)."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, model_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: no database takes them
MAX_DEPTH = 16


def check_storable(value: Any, where: str = "", depth: int = 0) -> None:
    """Refuse JSON that parses but cannot be stored or sent back: NUL, lone surrogates, NaN."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where or 'body'}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise ValueError(f"{where or 'value'}: contains a NUL or an unpaired surrogate")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where or 'value'}: {value} is not a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            check_storable(key, path, depth)
            check_storable(item, path, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{where}[{index}]", depth + 1)


class Storable(BaseModel):
    """Input models whose every string and number can be stored and sent back."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        check_storable(data)
        return data


MAX_FIELD_CHARS = 10_000  # one text value, however deep
MAX_FIELD_KEYS = 200  # keys of the custom fields, nested ones counted
MAX_FIELDS_BYTES = 64 * 1024  # the custom fields as compact JSON


class FieldsTooLarge(ValueError):
    """A lead's custom fields would pass their caps (alone, or merged with the stored ones)."""


def check_fields(fields: dict[str, Any], *, merged: bool = False) -> None:
    """Caps that hold however values nest: text length, key count, then serialised size."""
    after = " once merged with the stored fields" if merged else ""
    keys, pending = 0, [("", fields)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            raise FieldsTooLarge(
                f"custom field {where!r} is longer than {MAX_FIELD_CHARS} characters"
            )
        if isinstance(value, dict):
            keys += len(value)
            pending += [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            pending += [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    if keys > MAX_FIELD_KEYS:
        raise FieldsTooLarge(
            f"custom fields have {keys} keys{after}, nested ones counted (at most {MAX_FIELD_KEYS})"
        )
    size = len(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_FIELDS_BYTES:
        kb, limit = size // 1024, MAX_FIELDS_BYTES // 1024
        raise FieldsTooLarge(f"custom fields are {kb} KB as JSON{after} (at most {limit} KB)")


def merge_fields(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Incoming fields replace stored ones of the same name; FieldsTooLarge past the caps."""
    merged = {**stored, **incoming}
    check_fields(merged, merged=True)
    return merged


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
