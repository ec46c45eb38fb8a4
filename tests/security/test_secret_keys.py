"""Finding 3: a weak FOLLOWUP_SECRET_KEY is refused at start-up; each purpose signs with its own
derived key; FOLLOWUP_SECRET_KEYS (newest first) lets a rotation keep old links working."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest

from testkit.harness import template, write_files
from worker.auth.tokens import sign, unsign, unsubscribe_url
from worker.cli.app import run_cli
from worker.engine.settings import ConfigError, Settings

OLD = "old-key-Jb8Q2mVx7LkP4sT9wRz3nYc6hF1dA5gE"
NEW = "new-key-Uq3Wm8Zr1Xs6Vb9Nc2Kt5Hy7Jp4Lg0Df"


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("a", "too short"),
        ("abc", "too short"),
        ("x" * 31, "too short"),
        ("changeme", "too short"),
        ("secret", "too short"),
        ("change-me-please-to-a-long-random-value", "placeholder"),
        ("your-secret-key-goes-here-1234567890", "placeholder"),
        ("a" * 64, "too few characters"),
        ("abab" * 16, "too few characters"),
    ],
)
def test_a_weak_or_placeholder_key_is_refused_in_one_line(key: str, why: str) -> None:
    """Finding 3: under 32 bytes, a known placeholder, or no variety: one line, key not shown."""
    settings = Settings.from_mapping({"FOLLOWUP_SECRET_KEY": key})
    with pytest.raises(ConfigError) as raised:
        settings.require_secret()
    message = str(raised.value)
    assert message.startswith("FOLLOWUP_SECRET_KEY ") and "\n" not in message
    assert why.split()[-1] in message
    assert len(key) < 8 or key not in message


def test_processes_refuse_to_start_with_a_weak_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 3: `followup compliance link` (which signs) exits 2 with the reason; so do run,
    api, worker and scheduler, which check the key the same way before starting."""
    _env(tmp_path, monkeypatch, FOLLOWUP_SECRET_KEY="abc")
    assert run_cli(["compliance", "link"]) == 2
    err = capsys.readouterr().err
    assert "FOLLOWUP_SECRET_KEY is too short (3 bytes; at least 32)" in err
    assert "token_urlsafe" in err


def test_a_rotation_keeps_links_made_with_the_old_key_working() -> None:
    """Finding 3: with FOLLOWUP_SECRET_KEYS=new,old the new key signs and both verify."""
    ring = Settings.from_mapping({"FOLLOWUP_SECRET_KEYS": f"{NEW}, {OLD}"}).key_ring()
    assert ring == (NEW, OLD)
    made_before = sign("ana@example.com", keys=(OLD,), purpose="unsubscribe")
    made_now = sign("ana@example.com", keys=ring, purpose="unsubscribe")
    assert made_now == sign("ana@example.com", keys=(NEW,), purpose="unsubscribe")
    for token in (made_before, made_now):
        assert unsign(token, keys=ring, purpose="unsubscribe") == "ana@example.com"
    assert unsign(made_before, keys=(NEW,), purpose="unsubscribe") is None  # old key retired


def test_a_weak_key_anywhere_in_the_ring_is_refused() -> None:
    """Finding 3: an old key is as forgeable as a new one: every key in the ring is checked."""
    with pytest.raises(ConfigError, match=r"^FOLLOWUP_SECRET_KEYS key 2 of 2 is too short"):
        Settings.from_mapping({"FOLLOWUP_SECRET_KEYS": f"{NEW},short"}).key_ring()
    with pytest.raises(ConfigError, match="differs from the first"):
        Settings.from_mapping(
            {"FOLLOWUP_SECRET_KEY": OLD, "FOLLOWUP_SECRET_KEYS": f"{NEW},{OLD}"}
        ).key_ring()


def test_each_purpose_signs_with_its_own_derived_key() -> None:
    """Finding 3: the same value signed for two purposes gives unrelated signatures, neither of
    them a plain HMAC under the raw key; one purpose's token is refused by the other."""
    unsubscribe = sign("v2:1:99999999999", keys=(NEW,), purpose="unsubscribe")
    dashboard = sign("v2:1:99999999999", keys=(NEW,), purpose="dashboard")
    assert unsubscribe.split(".")[0] == dashboard.split(".")[0]
    assert unsubscribe.split(".")[1] != dashboard.split(".")[1]
    assert unsign(unsubscribe, keys=(NEW,), purpose="dashboard") is None
    payload = unsubscribe.split(".")[0]
    raw = hmac.new(NEW.encode(), payload.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != unsubscribe.split(".")[1]


def test_unsubscribe_links_already_in_mailboxes_keep_working() -> None:
    """Finding 3: a first-wave link (truncated HMAC under the raw key) still unsubscribes while
    that key, strong enough to pass start-up, is in the ring; it opens nothing else."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = b64(b"ana@example.com")
    mac = hmac.new(OLD.encode(), f"unsubscribe:{payload}".encode(), hashlib.sha256).digest()
    legacy = f"{payload}.{b64(mac[:18])}"
    assert unsign(legacy, keys=(NEW, OLD), purpose="unsubscribe") == "ana@example.com"
    assert unsign(legacy, keys=(NEW,), purpose="unsubscribe") is None
    assert unsign(legacy, keys=(NEW, OLD), purpose="dashboard") is None


def test_the_unsubscribe_url_is_signed_with_the_newest_key() -> None:
    """Finding 3: what goes into new emails verifies with the newest key alone."""
    url = unsubscribe_url("https://f.test", "ana@example.com", keys=(NEW, OLD))
    token = url.rpartition("/")[2]
    assert unsign(token, keys=(NEW,), purpose="unsubscribe") == "ana@example.com"


def test_the_test_key_passes_the_same_rule() -> None:
    """The harness key is a 32-byte-plus key too, so tests run the start-up check for real."""
    from testkit.harness import TEST_SECRET

    assert Settings(secret_key=TEST_SECRET).require_secret() == TEST_SECRET


def _env(folder: Path, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    monkeypatch.chdir(folder)
    for name in list(os.environ):
        if name.startswith("FOLLOWUP_"):
            monkeypatch.delenv(name)
    write_files(
        folder / "sequences", {"s.yaml": "trigger: lead.mql\nsteps:\n  - {id: a, email: t}\n"}
    )
    write_files(folder / "templates", {"t.j2": template("T")})
    monkeypatch.setenv("FOLLOWUP_DATABASE_URL", f"sqlite:///{folder / 'f.db'}")
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(folder / "sequences"))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(folder / "templates"))
    for name, value in values.items():
        monkeypatch.setenv(name, value)
