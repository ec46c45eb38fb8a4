"""Provider webhooks on the providers' documented sample payloads: signatures checked, events
mapped to the inbox outcomes, and the same delivery twice recorded once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from models.event import Event
from models.inbound import InboundMessage
from models.lead import Lead
from testkit.harness import Harness
from tests.support.inbox import inbox_harness, mail_leads
from worker.api.app import create_app
from worker.inbox.providers import sendgrid_signature_ok

MAILGUN_KEY = "key-test-signing"
POSTMARK_AUTH = "postmark:s3cret-pass"
# SendGrid's own test vector for its Signed Event Webhook (sendgrid-python, sendgrid-nodejs).
SG_DOC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQG"
    "hHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
)
SG_DOC_SIGNATURE = (
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j"
    "/0="
)
SG_DOC_PAYLOAD = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'

# Postmark's documented Bounce, SpamComplaint and SubscriptionChange webhook bodies.
POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 42,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not "
    "found).",
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "ServerID": 23,
    "MessageStream": "outbound",
    "Content": "<Full dump of bounce>",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
}
POSTMARK_COMPLAINT = {
    **POSTMARK_BOUNCE,
    "RecordType": "SpamComplaint",
    "ID": 43,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Email": "jane@example.com",
}
POSTMARK_SUBSCRIPTION = {
    "RecordType": "SubscriptionChange",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "ServerID": 123456,
    "MessageStream": "outbound",
    "ChangedAt": "2020-02-01T10:53:34.416071Z",
    "Recipient": "bounced-address@wildbit.com",
    "Origin": "Recipient",
    "SuppressSending": True,
    "SuppressionReason": "ManualSuppression",
    "Tag": "my-tag",
    "Metadata": {"example": "value"},
}
# SendGrid's documented event batch (Event Webhook Reference), trimmed to one of each kind.
SENDGRID_BATCH = [
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "processed",
        "category": "cat facts",
        "sg_event_id": "sg_event_id_processed",
        "sg_message_id": "sg_message_id",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "deferred",
        "category": "cat facts",
        "sg_event_id": "sg_event_id_deferred",
        "sg_message_id": "sg_message_id",
        "response": "400 try again later",
        "attempt": "5",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "delivered",
        "category": "cat facts",
        "sg_event_id": "sg_event_id_delivered",
        "sg_message_id": "sg_message_id",
        "response": "250 OK",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "open",
        "category": "cat facts",
        "sg_event_id": "sg_event_id_open",
        "sg_message_id": "sg_message_id",
        "useragent": "Mozilla/4.0",
        "ip": "255.255.255.255",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "category": "cat facts",
        "sg_event_id": "sg_event_id_bounce",
        "sg_message_id": "sg_message_id",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
    },
]
# Mailgun's documented "failed" (permanent) webhook body; the signature is made with our key.
MAILGUN_FAILED = {
    "event-data": {
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": 1521233195.375624,
        "log-level": "error",
        "event": "failed",
        "severity": "permanent",
        "reason": "suppress-bounce",
        "envelope": {
            "sender": "bob@sample.mailgun.org",
            "transport": "smtp",
            "targets": "alice@example.com",
        },
        "flags": {
            "is-routed": False,
            "is-authenticated": True,
            "is-system-test": False,
            "is-test-mode": False,
        },
        "delivery-status": {
            "attempt-no": 1,
            "message": "",
            "code": 605,
            "description": "Not delivering to previously bounced address",
            "session-seconds": 0.0,
        },
        "message": {
            "headers": {
                "to": "Alice <alice@example.com>",
                "message-id": "20130503182626.18666.16540@sample.mailgun.org",
                "from": "Bob <bob@sample.mailgun.org>",
                "subject": "Test permanent_fail webhook",
            },
            "attachments": [],
            "size": 111,
        },
        "recipient": "alice@example.com",
        "recipient-domain": "example.com",
        "storage": {
            "url": "https://se.api.mailgun.net/v3/domains/sample.mailgun.org/messages/message_key",
            "key": "message_key",
        },
        "campaigns": [],
        "tags": ["my_tag_1", "my_tag_2"],
        "user-variables": {"my_var_1": "Mailgun Variable #1", "my-var-2": "awesome"},
    }
}
LEADS = [
    "john@example.com",
    "jane@example.com",
    "bounced-address@wildbit.com",
    "example@test.com",
    "alice@example.com",
]


@pytest.fixture
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def h(tmp_path: Path, sendgrid_key: ec.EllipticCurvePrivateKey) -> Iterator[Harness]:
    public = sendgrid_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    harness = inbox_harness(
        tmp_path,
        postmark_webhook_auth=POSTMARK_AUTH,
        sendgrid_webhook_public_key=base64.b64encode(public).decode(),
        mailgun_webhook_signing_key=MAILGUN_KEY,
    )
    mail_leads(harness, LEADS)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def client(h: Harness) -> TestClient:
    return TestClient(create_app(h.rt, process_inline=True))


def suppressed(h: Harness) -> dict[str, str]:
    """Each lead's suppression reason ("" when not suppressed)."""
    with Session(h.rt.engine) as session:
        rows = session.exec(select(Lead.email, Lead.suppressed_reason)).all()
    return {email: reason or "" for email, reason in rows}


def rows(h: Harness) -> int:
    with Session(h.rt.engine) as session:
        return int(session.exec(select(func.count()).select_from(InboundMessage)).one())


def basic(auth: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


def signed_mailgun(body: dict, key: str = MAILGUN_KEY) -> dict:
    token, timestamp = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123", "1770920772"
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"token": token, "timestamp": timestamp, "signature": digest}, **body}


def sendgrid_headers(
    key: ec.EllipticCurvePrivateKey, raw: bytes, timestamp: str = "1513299569"
) -> dict[str, str]:
    signature = key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def test_sendgrid_signature_check_passes_sendgrids_own_test_vector() -> None:
    """The verifier accepts SendGrid's documented key, signature and payload, not a changed one."""
    assert sendgrid_signature_ok(SG_DOC_PAYLOAD, SG_DOC_SIGNATURE, "1588788367", SG_DOC_KEY)
    assert not sendgrid_signature_ok(
        SG_DOC_PAYLOAD + b" ", SG_DOC_SIGNATURE, "1588788367", SG_DOC_KEY
    )
    assert not sendgrid_signature_ok(SG_DOC_PAYLOAD, SG_DOC_SIGNATURE, "1588788368", SG_DOC_KEY)


def test_postmark_bounce_complaint_and_unsubscribe_suppress_once(
    h: Harness, client: TestClient
) -> None:
    """Postmark's samples, each posted twice: suppressed with the provider's reason, one event."""
    for body in (POSTMARK_BOUNCE, POSTMARK_COMPLAINT, POSTMARK_SUBSCRIPTION):
        first = client.post("/webhooks/postmark", json=body, headers=basic(POSTMARK_AUTH))
        again = client.post("/webhooks/postmark", json=body, headers=basic(POSTMARK_AUTH))
        assert first.json() == {"received": 1, "recorded": 1, "duplicates": 0}
        assert again.json() == {"received": 1, "recorded": 0, "duplicates": 1}
    reasons = suppressed(h)
    assert reasons["john@example.com"].startswith(
        "email.bounced: Postmark Bounce, Type: HardBounce"
    )
    assert reasons["jane@example.com"].startswith("email.complained")
    assert reasons["bounced-address@wildbit.com"].startswith("lead.unsubscribed")
    with Session(h.rt.engine) as session:
        assert (
            session.exec(
                select(func.count())
                .select_from(Event)
                .where(col(Event.key).like("inbox:postmark:%"))
            ).one()
            == 3
        )


def test_postmark_refuses_wrong_or_missing_credentials(client: TestClient) -> None:
    """401 with a Basic challenge; nothing recorded."""
    assert client.post("/webhooks/postmark", json=POSTMARK_BOUNCE).status_code == 401
    wrong = client.post("/webhooks/postmark", json=POSTMARK_BOUNCE, headers=basic("postmark:nope"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Basic"


def test_sendgrid_batch_maps_each_event_and_skips_engagement(
    h: Harness, client: TestClient, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    """Deferred recorded, delivered counted, open skipped, bounce suppresses; a replay: no-op."""
    raw = json.dumps(SENDGRID_BATCH).encode()
    first = client.post(
        "/webhooks/sendgrid", content=raw, headers=sendgrid_headers(sendgrid_key, raw)
    )
    assert first.status_code == 200 and first.json() == {
        "received": 3,
        "recorded": 3,
        "duplicates": 0,
    }
    again = client.post(
        "/webhooks/sendgrid", content=raw, headers=sendgrid_headers(sendgrid_key, raw)
    )
    assert again.json()["duplicates"] == 3 and rows(h) == 3
    assert suppressed(h)["example@test.com"].startswith("email.bounced: SendGrid bounce (5.0.0")
    with Session(h.rt.engine) as session:
        outcomes = sorted(session.exec(select(InboundMessage.outcome)).all())
    assert outcomes == ["bounce", "bounce_temporary", "delivered"]


def test_sendgrid_refuses_a_body_changed_after_signing(
    client: TestClient, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    """The signature covers the raw body: one changed byte is a 401."""
    raw = json.dumps(SENDGRID_BATCH).encode()
    headers = sendgrid_headers(sendgrid_key, raw)
    assert (
        client.post(
            "/webhooks/sendgrid", content=raw.replace(b"5.0.0", b"5.0.1"), headers=headers
        ).status_code
        == 401
    )
    assert client.post("/webhooks/sendgrid", content=raw).status_code == 401


def test_mailgun_permanent_failure_suppresses_and_a_bad_signature_is_refused(
    h: Harness, client: TestClient
) -> None:
    """Mailgun's documented permanent failure, signed with our key; the same body unsigned: 401."""
    assert (
        client.post(
            "/webhooks/mailgun", json=signed_mailgun(MAILGUN_FAILED, "other-key")
        ).status_code
        == 401
    )
    response = client.post("/webhooks/mailgun", json=signed_mailgun(MAILGUN_FAILED))
    assert response.json() == {"received": 1, "recorded": 1, "duplicates": 0}
    assert suppressed(h)["alice@example.com"].startswith(
        "email.bounced: Mailgun failed, severity permanent (605"
    )
    assert (
        client.post("/webhooks/mailgun", json=signed_mailgun(MAILGUN_FAILED)).json()["duplicates"]
        == 1
    )


def test_bad_webhook_input_is_a_422_and_an_unconfigured_provider_a_404(
    h: Harness, tmp_path: Path
) -> None:
    """Not JSON, or not the provider's shape: 422 naming the body; no secret configured: 404."""
    client = TestClient(create_app(h.rt, process_inline=True))
    bad = client.post("/webhooks/postmark", content=b"{not json", headers=basic(POSTMARK_AUTH))
    assert bad.status_code == 422
    assert (
        client.post("/webhooks/postmark", json=[1, 2], headers=basic(POSTMARK_AUTH)).status_code
        == 422
    )
    other = inbox_harness(tmp_path / "bare")
    try:
        bare = TestClient(create_app(other.rt, process_inline=True))
        assert (
            bare.post("/webhooks/mailgun", json=signed_mailgun(MAILGUN_FAILED)).status_code == 404
        )
    finally:
        other.close()
