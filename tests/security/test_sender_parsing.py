"""Finding 12 (sender parsing): reading "Name <addr>" is one pass over the text, however long;
the regex it replaces was polynomial (2,000 spaces took 6 s)."""

from __future__ import annotations

import pytest

from worker.mail.message import envelope_address, split_sender

BLANKS = " " * 200_000  # days of work for the old regex; one pass now


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        (f"{BLANKS}Ana{BLANKS}<ana@example.com>{BLANKS}", ("Ana", "ana@example.com")),
        (f'"{BLANKS}" <ana@example.com>', (BLANKS, "ana@example.com")),
        ("ana@example.com", ("", "ana@example.com")),
        ('"Doe <x@y.z>" <ana@example.com>', ("Doe <x@y.z>", "ana@example.com")),
    ],
)
def test_long_operator_strings_parse_in_one_pass(sender: str, expected: tuple[str, str]) -> None:
    """Finding 12: the parts come back as before, however many blanks surround them."""
    assert split_sender(sender) == expected


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sender", [f"{BLANKS}x", f"{BLANKS}<{BLANKS}", f"Ana <a@b.c>{BLANKS}>"])
def test_long_malformed_senders_are_refused_in_one_pass(sender: str) -> None:
    """Finding 12: a malformed long sender is a ValueError, not minutes of backtracking."""
    with pytest.raises(ValueError, match="not a plain ASCII address"):
        envelope_address(sender)
