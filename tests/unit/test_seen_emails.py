"""The import's memory of emails already taken: each email is new exactly once."""

from __future__ import annotations

import hashlib

from worker.imports.csv_import import SeenEmails


def test_each_email_is_new_once_and_taken_after() -> None:
    """Every one of many emails is new the first time and taken the second."""
    seen = SeenEmails()
    emails = [f"lead{n}@example.com" for n in range(20_000)]
    assert all(seen.add(email) for email in emails)
    assert not any(seen.add(email) for email in emails)


def test_bytes_matching_across_two_entries_are_not_a_hit() -> None:
    """A digest's suffix found straddling two stored entries does not count as seen."""
    seen = SeenEmails()
    digest = hashlib.blake2b(b"ana@example.com", digest_size=8).digest()
    suffix = digest[2:]
    bucket = seen._buckets[int.from_bytes(digest[:2])]
    bucket += b"\x00\x00\x00" + suffix + b"\x00\x00\x00"  # two entries; the suffix at offset 3
    assert seen.add("ana@example.com")
    assert not seen.add("ana@example.com")
