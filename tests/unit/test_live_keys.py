"""The per-process memory of live API keys: kept a while, per database, forgotten on change."""

from __future__ import annotations

from worker.auth.apikeys import KeyHolder, LiveKeys

HOLDER = KeyHolder("crm", frozenset({"events:write"}))


def test_a_live_key_is_remembered_for_its_database_only() -> None:
    """A key seen live answers for the database it was checked on, not for another."""
    keys = LiveKeys(ttl=60)
    keys.put("sqlite:///a.db", "digest", HOLDER)
    assert keys.get("sqlite:///a.db", "digest") == HOLDER
    assert keys.get("sqlite:///b.db", "digest") is None
    assert keys.get("sqlite:///a.db", "other") is None


def test_an_expired_or_forgotten_key_is_looked_up_again() -> None:
    """Past its time, or after a create or revoke in this process, the key is not remembered."""
    expired = LiveKeys(ttl=0)
    expired.put("db", "digest", HOLDER)
    assert expired.get("db", "digest") is None
    keys = LiveKeys(ttl=60)
    keys.put("db", "digest", HOLDER)
    keys.forget()
    assert keys.get("db", "digest") is None
