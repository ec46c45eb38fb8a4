"""Finding 12 (tokens): a token is read only in its one canonical spelling. Validating
base64url, no padding, no stray characters, no other trailing bits: one token, one string."""

from __future__ import annotations

import pytest

from worker.auth.tokens import sign, unsign

KEYS = ("tokens-test-key-4Fh8Kq2Zx7Mv1Np5Rs9Tw3Yb",)
GOOD = sign("ana@example.com", keys=KEYS, purpose="unsubscribe")


def _variants() -> list[str]:
    payload, signature = GOOD.split(".")
    last = signature[-1]
    other_bits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the 43rd character carries 6 bits of which only 4 are data: its neighbours decode alike
    same_bytes = next(
        c
        for c in other_bits
        if c != last and other_bits.index(c) // 4 == other_bits.index(last) // 4
    )
    return [
        f"{payload}.{signature[:-1]}{same_bytes}",  # other trailing bits, same bytes
        f"{payload}=.{signature}",  # padding
        f"{payload}.{signature}=",
        f"{payload}.{signature[:10]}!{signature[10:]}",  # a character the decoder would skip
        f"{payload[:5]}\n{payload[5:]}.{signature}",
        f" {GOOD}",
        f"{payload}.{signature}.x",
        f"{payload}+.{signature}",  # standard, not URL-safe, alphabet
    ]


@pytest.mark.parametrize("token", _variants())
def test_non_canonical_spellings_of_a_valid_token_are_refused(token: str) -> None:
    """Finding 12: every other spelling of a genuine token is refused."""
    assert unsign(GOOD, keys=KEYS, purpose="unsubscribe") == "ana@example.com"
    assert unsign(token, keys=KEYS, purpose="unsubscribe") is None
