"""What a signing key must be: every recipient holds a known value and its MAC, so a short or
well-known key falls to an offline search and lets anyone forge links."""

from __future__ import annotations

import re

MIN_KEY_BYTES = 32
MIN_DISTINCT_CHARACTERS = 8  # "aaaa..." or "abab..." is long but not secret
# Normalised (lower case, letters and digits only); a key containing one of these was typed in
# from an example, not generated.
PLACEHOLDER_WORDS = (
    "changeme",
    "replaceme",
    "placeholder",
    "secretkey",
    "yoursecret",
    "mysecret",
    "example",
    "password",
    "notsecret",
    "insecure",
)
MAKE_ONE = "make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"


def weak_key_reason(key: str) -> str | None:
    """Why `key` must not sign anything, in words that never repeat the key; None when fine."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size < MIN_KEY_BYTES:
        return f"is too short ({size} bytes; at least {MIN_KEY_BYTES})"
    normalised = re.sub(r"[^a-z0-9]", "", key.lower())
    if any(word in normalised for word in PLACEHOLDER_WORDS):
        return "is a placeholder from an example, not a generated key"
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return "repeats too few characters to be a generated key"
    return None
