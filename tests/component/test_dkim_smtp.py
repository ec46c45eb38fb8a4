"""DKIM through the real mail path: the runtime's SMTP mailer signs what an aiosmtpd sink on
loopback receives, and dkimpy verifies those bytes with the public key (no DNS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dkim
import pytest

from testkit.harness import Harness, template
from testkit.smtp_sink import SmtpSink
from worker.mail.dkim import public_record

KEYS = Path(__file__).resolve().parents[1] / "support" / "dkim"
SEQUENCE = """
name: signed
trigger: lead.mql
from: owner
steps:
  - id: intro
    email: d/intro
  - id: bump
    email: d/bump
    wait: 1d
    thread: true
"""
TEAM = f"""
owners:
  - email: ana@acme.test
    name: Ana Rep
dkim:
  - domain: acme.test
    selector: rsa2026
    private_key_file: {KEYS / "rsa-test.key"}
  - domain: acme.test
    selector: ed2026
    private_key_env: ACME_DKIM_ED25519
"""
HTML = """
{% block subject %}Hello {{ lead.first_name }}{% endblock %}
{% block text %}Hi {{ lead.first_name }}. {{ unsubscribe_url }}{% endblock %}
{% block html %}<p>Hi <b>{{ lead.first_name }}</b>, caf\u00e9?</p>
<a href="{{ unsubscribe_url }}">unsubscribe</a>{% endblock %}
"""


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[Harness, SmtpSink]]:
    with SmtpSink() as sink:
        h = Harness(
            tmp_path,
            sequences={"signed.yaml": SEQUENCE, "team.yaml": TEAM},
            templates={"d/intro.j2": HTML, "d/bump.j2": template("unused", "bump")},
            smtp_url=sink.url,
            environment={"ACME_DKIM_ED25519": (KEYS / "ed25519-test.key").read_text()},
        )
        try:
            yield h, sink
        finally:
            h.close()


def test_what_the_smtp_sink_received_verifies_with_both_public_keys(
    harness: tuple[Harness, SmtpSink],
) -> None:
    """Given RSA and Ed25519 keys for acme.test, when an owner's touches go out over SMTP, then
    each received message carries two signatures over the required headers, and both verify
    against the published records; a threaded reply (In-Reply-To) verifies as well."""
    h, sink = harness

    h.event("lead.mql", "lead@example.com", lead={"first_name": "Zoë", "owner": "ana@acme.test"})
    h.advance(timedelta(days=1, hours=1))
    assert sink.wait_for_messages(2)
    records = {
        f"{key.selector}._domainkey.{key.domain}.".encode(): public_record(key).encode()
        for key in h.rt.signer.keys_for("ana@acme.test")
    }

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    for received in sink.messages:
        raw = received.raw
        assert raw.count(b"DKIM-Signature:") == 2
        assert dkim.DKIM(raw).verify(idx=0, dnsfunc=dns)
        assert dkim.DKIM(raw).verify(idx=1, dnsfunc=dns)
        signature = received.message["DKIM-Signature"]
        signed = "".join(signature.split("h=")[1].split(";")[0].split()).lower().split(":")
        for header in ("from", "to", "subject", "date", "message-id", "list-unsubscribe"):
            assert header in signed
        assert "list-unsubscribe-post" in signed
    assert "in-reply-to" in "".join(sink.messages[1].message["DKIM-Signature"].split()).lower()
    tampered = sink.messages[0].raw.replace(b"\r\nTo: lead@", b"\r\nTo: leak@")
    assert tampered != sink.messages[0].raw
    assert not dkim.verify(tampered, dnsfunc=dns)
