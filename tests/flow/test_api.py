"""The HTTP API through FastAPI's TestClient, on the fake-backed harness (virtual clock)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, select

from models.apikey import ApiKey
from models.enrollment import Enrollment
from models.event import Event
from models.lead import Lead
from testkit.harness import Harnesses, template
from tests.support.api import Api
from tests.support.cli import Cli
from worker.auth.apikeys import revoke_key
from worker.auth.tokens import unsubscribe_url
from worker.engine.db import transaction

SEQUENCE = """
name: mql
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
  min_touches: 3
  within: 3d
steps:
  - id: one
    email: t/one
  - id: two
    email: t/two
    wait: 1d
  - id: three
    email: t/three
    wait: 1d
"""
MANUAL = """
name: manual
trigger: lead.handpicked
steps:
  - id: hello
    email: t/one
"""
TEMPLATES = {
    "t/one.j2": template("One"),
    "t/two.j2": template("Two"),
    "t/three.j2": template("Three"),
}


@pytest.fixture
def api(make_harness: Harnesses) -> Api:
    return Api(
        make_harness(sequences={"mql.yaml": SEQUENCE, "manual.yaml": MANUAL}, templates=TEMPLATES)
    )


def test_an_accepted_event_enrolls_the_lead_once_a_worker_has_it(api: Api) -> None:
    """Given a key, when an event is posted, then 202 at once and the worker enrolls the lead."""
    response = api.event("lead.mql", "Ana@Example.com", id="crm-1")
    assert response.status_code == 202
    assert response.json() | {"id": 0} == {
        "id": 0,
        "key": "crm-1",
        "status": "accepted",
        "processed": False,
    }
    api.h.drain()
    [enrollment] = api.h.enrollments()
    assert enrollment.sequence == "mql"


def test_the_same_event_id_twice_is_one_event(api: Api) -> None:
    """Given an event was accepted, when it is retried, then 202 duplicate and nothing more."""
    first = api.event("lead.mql", "ana@example.com", id="crm-1")
    api.h.drain()
    second = api.event("lead.mql", "ana@example.com", id="crm-1")
    api.h.drain()
    assert second.status_code == 202
    assert second.json() == {**first.json(), "status": "duplicate", "processed": True}
    assert (api.count(Event), api.count(Enrollment)) == (1, 1)


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic dXNlcjpwYXNz", "revoked"])
def test_a_missing_wrong_or_revoked_key_gets_401(api: Api, authorization: str | None) -> None:
    """Every route but /healthz and /unsubscribe needs a live key."""
    if authorization == "revoked":
        with transaction(api.h.rt.engine) as session:
            revoke_key(session, "tests", now=api.h.clock.now())
        authorization = f"Bearer {api.key}"
    headers = {"Authorization": authorization} if authorization else {}
    for method, url in [
        ("POST", "/events"),
        ("GET", "/leads/a@example.com"),
        ("GET", "/sequences"),
        ("GET", "/compliance/report"),
        ("GET", "/metrics"),
    ]:
        response = api.client.request(method, url, headers=headers, json={})
        assert response.status_code == 401, url
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz", headers=headers).json() == {"status": "ok"}
    assert api.count(Event) == 0


def _unsubscribe_path(api: Api) -> str:
    header = dict(api.h.sent[0].headers)["List-Unsubscribe"]
    return urlsplit(header.strip("<>")).path


def test_one_click_unsubscribe_stops_the_leads_pending_touches(api: Api) -> None:
    """Given a lead got its first email, when its List-Unsubscribe URL is POSTed (RFC 8058,
    no key, no cookie), then the lead is suppressed, its touches cancelled, nothing more sent."""
    api.event("lead.mql", "ana@example.com")
    api.h.drain()
    api.h.tick()
    assert [m.subject for m in api.h.sent] == ["One"]
    response = api.client.post(
        _unsubscribe_path(api),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and "no more" in response.text
    assert api.lead("ana@example.com").suppressed_reason == "lead.unsubscribed"
    [enrollment] = api.h.enrollments()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "lead.unsubscribed")
    assert [t.status for t in api.h.touches()] == ["sent", "cancelled"]
    api.h.advance(timedelta(days=5))
    assert len(api.h.sent) == 1
    log = api.get("/compliance/log", params={"kind": "enrollment.exited"}).json()
    assert [(e["lead"], e["detail"]) for e in log] == [("ana@example.com", "lead.unsubscribed")]


def test_the_unsubscribe_page_asks_first_and_changes_nothing(api: Api) -> None:
    """A link scanner's GET sees a form that POSTs; the lead stays subscribed."""
    api.event("lead.mql", "ana@example.com")
    api.h.drain()
    api.h.tick()
    page = api.client.get(_unsubscribe_path(api))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text and "ana@example.com" in page.text
    assert api.lead("ana@example.com").suppressed_at is None
    assert [t.status for t in api.h.touches()] == ["sent", "scheduled"]


def test_a_forged_unsubscribe_link_gets_404_and_suppresses_nobody(api: Api) -> None:
    """A token signed with another secret, or garbage, is a plain 404 page."""
    other_keys = ("other-key-" + "q9" * 20,)
    forged = urlsplit(unsubscribe_url("http://x", "ana@example.com", keys=other_keys)).path
    for path in (forged, "/unsubscribe/garbage", "/unsubscribe/a.b"):
        assert api.client.post(path).status_code == 404
        assert api.client.get(path).status_code == 404
    assert api.count(Lead) == 0


def test_leads_are_upserted_and_read_back_with_enrollments_and_touches(api: Api) -> None:
    """POST /leads creates (201) then updates (200); GET shows enrollments and touch statuses."""
    created = api.post(
        "/leads",
        json={"email": "Ana@example.com", "first_name": "Ana", "fields": {"source": "webinar"}},
    )
    updated = api.post("/leads", json={"email": "ana@example.com", "company": "Acme"})
    assert (created.status_code, updated.status_code) == (201, 200)
    assert updated.json()["first_name"] == "Ana" and updated.json()["company"] == "Acme"
    api.event("lead.mql", "ana@example.com")
    api.h.drain()
    api.h.tick()
    detail = api.get("/leads/ANA@example.com").json()
    assert detail["lead"]["fields"] == {"source": "webinar"}
    assert [(e["sequence"], e["status"]) for e in detail["enrollments"]] == [("mql", "active")]
    assert [(t["step"], t["status"]) for t in detail["touches"]] == [
        ("one", "sent"),
        ("two", "scheduled"),
    ]


def test_an_unknown_lead_is_404_and_a_bad_address_is_422_naming_it(api: Api) -> None:
    """GET /leads/{email}: not found vs. not an email address."""
    assert api.get("/leads/nobody@example.com").status_code == 404
    bad = api.get("/leads/not-an-email")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "email"]


def test_an_enrollment_is_started_by_hand_and_stopped(api: Api) -> None:
    """POST /enrollments enrolls (201, then 409); stop exits it and cancels its touches."""
    api.post("/leads", json={"email": "ana@example.com"})
    started = api.post("/enrollments", json={"email": "ana@example.com", "sequence": "manual"})
    again = api.post("/enrollments", json={"email": "ana@example.com", "sequence": "manual"})
    assert (started.status_code, again.status_code) == (201, 409)
    assert "already enrolled" in again.json()["detail"]
    enrollment_id = started.json()["id"]
    stopped = api.post(f"/enrollments/{enrollment_id}/stop")
    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["exit_reason"]) == ("exited", "stopped")
    assert [t.status for t in api.h.touches()] == ["cancelled"]
    assert api.post(f"/enrollments/{enrollment_id}/stop").json() == stopped.json()
    assert api.post("/enrollments/999/stop").status_code == 404


def test_a_lead_is_enrolled_by_hand_again_after_its_exit_when_the_sequence_allows_it(
    make_harness: Harnesses,
) -> None:
    """`reenroll: after_exit`: the second POST /enrollments answers with the new enrollment."""
    again = MANUAL.replace("name: manual", "name: again\nreenroll: after_exit")
    api = Api(make_harness(sequences={"again.yaml": again}, templates=TEMPLATES))
    api.post("/leads", json={"email": "ana@example.com"})
    body = {"email": "ana@example.com", "sequence": "again"}
    first = api.post("/enrollments", json=body)
    assert api.post(f"/enrollments/{first.json()['id']}/stop").status_code == 200
    second = api.post("/enrollments", json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["id"] != first.json()["id"]
    assert (second.json()["status"], second.json()["sequence"]) == ("active", "again")


def test_enrolling_in_an_unknown_sequence_is_422_and_an_unknown_lead_404(api: Api) -> None:
    """The field at fault is named; a lead must exist to be enrolled by hand."""
    unknown = api.post("/enrollments", json={"email": "ana@example.com", "sequence": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "sequence"]
    assert "no sequence named 'nope'" in unknown.json()["message"]
    missing = api.post("/enrollments", json={"email": "ana@example.com", "sequence": "manual"})
    assert missing.status_code == 404


def test_the_loaded_sequences_are_listed_and_read(api: Api) -> None:
    """GET /sequences lists the catalog; GET /sequences/{name} gives the full definition."""
    listed = api.get("/sequences").json()
    assert sorted(s["name"] for s in listed) == ["manual", "mql"]
    mql = api.get("/sequences/mql").json()
    assert [step["id"] for step in mql["definition"]["steps"]] == ["one", "two", "three"]
    assert mql["version"] == next(s["version"] for s in listed if s["name"] == "mql")
    assert api.get("/sequences/nope").status_code == 404


def test_the_compliance_report_and_log_are_the_clis_json(
    api: Api, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a few days of follow-ups, the API's report and log equal the CLI's json/jsonl."""
    for email in ("ana@example.com", "ben@example.com"):
        api.event("lead.mql", email, lead={"owner": "rep@acme.test"})
    api.h.drain()
    api.h.advance(timedelta(days=4))
    capsys.readouterr()
    window = {"by": "sequence", "since": "2026-11-01", "until": "2026-12-31"}
    options = [part for name, value in window.items() for part in (f"--{name}", value)]
    followup = cli.on(api.h)
    assert followup("compliance", "report", "--format", "json", *options) == 0
    cli_report = json.loads(capsys.readouterr().out)
    assert followup("compliance", "log", "--format", "jsonl") == 0
    cli_log = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    report = api.get("/compliance/report", params=window).json()
    assert report == cli_report and report["total"]["met"] == 2
    assert api.get("/compliance/log").json() == cli_log and len(cli_log) > 6


def test_a_csv_upload_gives_the_same_report_as_the_cli(
    api: Api, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """POST /leads/import and `followup leads import` count alike; rejects name their lines."""
    data = b"email;first_name\r\nana@example.com;Ana\r\nnope;X\r\nANA@example.com;Anna\r\n"
    (cli.workdir / "leads.csv").write_bytes(data)
    followup = cli.on(api.h)
    assert followup("leads", "import", "leads.csv", "--event", "lead.mql", "--dry-run") == 0
    cli_summary = capsys.readouterr().out
    dry = api.post(
        "/leads/import",
        files={"file": ("leads.csv", data, "text/csv")},
        data={"event": "lead.mql", "dry_run": "true"},
    )
    assert dry.status_code == 200
    assert f"leads.csv: {dry.json()['summary']} in " in cli_summary
    assert api.count(Lead) == 0
    upload = api.post(
        "/leads/import", files={"file": ("leads.csv", data, "text/csv")}, data={"event": "lead.mql"}
    )
    report = upload.json()
    assert report == {
        **dry.json(),
        "dry_run": False,
        "summary": dry.json()["summary"]
        .removeprefix("dry run, nothing written: ")
        .replace("would enroll", "enrolled"),
    }
    assert (report["created"], report["merged"], report["enrolled"]) == (1, 1, 1)
    assert report["rejects"] == [
        {"line": 3, "email": "nope", "reason": "email: 'nope' is not a valid email address"}
    ]
    assert api.lead("ana@example.com").first_name == "Anna"


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ({"lead": {"email": "a@example.com"}}, None, "body.type"),
        ({"type": "lead.mql", "lead": {"email": "nope"}}, None, "body.lead.email"),
        (
            {"type": "lead.mql", "lead": {"email": "a@example.com", "timezone": "Mars/Base"}},
            None,
            "body.lead.timezone",
        ),
        (
            {"type": "lead.mql", "lead": {"email": "a@example.com"}, "colour": "red"},
            None,
            "body.colour",
        ),
        (
            {"type": "lead.mql", "lead": {"email": "a@example.com", "first_name": "A\x00"}},
            None,
            "lead.first_name",
        ),
        (
            b'{"type": "lead.mql", "lead": {"email": "a@example.com", "fields": {"n": NaN}}}',
            None,
            "lead.fields.n",
        ),
        (
            b'{"type": "lead.mql", "lead": {"email": "a@example.com", "first_name": "\\udc00"}}',
            None,
            "lead.first_name",
        ),
        (b'{"type": "lead.mql", "lead": ', None, "body"),
        (b'\xff\xfe{"type": 1}', None, "body"),
        (b'{"type": "lead.mql", "lead": {"email": "a@example.com"}}', "text/plain", "body"),
    ],
)
def test_invalid_events_get_422_naming_the_field(
    api: Api, body: Any, content_type: str | None, field: str
) -> None:
    """Malformed JSON, wrong content type, bad values: 422 with the field, never a 500."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = api.post(
        "/events", content=content, headers={"Content-Type": content_type or "application/json"}
    )
    assert response.status_code == 422
    assert field in response.json()["message"]
    assert api.count(Event) == 0


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ({"file": ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png")}, "not UTF-8 CSV"),
        ({"file": ("x.csv", b"name\nAna\n", "text/csv")}, "no 'email' column"),
        ({"other": ("x.csv", b"email\n", "text/csv")}, "body.file: Field required"),
    ],
)
def test_an_unreadable_upload_gets_422_saying_why(
    api: Api, files: dict[str, Any], field: str
) -> None:
    """Binary files, CSVs without an email column and missing parts are refused clearly."""
    response = api.post("/leads/import", files=files)
    assert response.status_code == 422 and field in response.json()["message"]


def test_a_broken_multipart_body_gets_422(api: Api) -> None:
    """A multipart body that does not parse is invalid input, not a server error."""
    response = api.post(
        "/leads/import",
        content=b"--b\r\nContent-Disposition: form-data\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 422


def test_oversized_bodies_are_refused_with_413(api: Api) -> None:
    """JSON over 1 MiB (declared or streamed) and uploads over 50 MiB get 413; 2 MiB CSV is fine."""
    big = b'{"type": "lead.mql", "detail": "' + b"x" * (1024 * 1024) + b'"}'
    assert (
        api.post("/events", content=big, headers={"Content-Type": "application/json"}).status_code
        == 413
    )
    streamed = api.post(
        "/events",
        content=iter([big[:600_000], big[600_000:]]),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    rows = b"email,notes\n" + b"".join(
        b"lead%d@example.com,%s\n" % (i, b"n" * 100) for i in range(20_000)
    )
    assert len(rows) > 2 * 1024 * 1024
    ok = api.post(
        "/leads/import", files={"file": ("l.csv", rows, "text/csv")}, data={"dry_run": "true"}
    )
    assert ok.status_code == 200 and ok.json()["created"] == 20_000
    huge = api.post("/leads/import", files={"file": ("l.csv", b"x" * (51 * 1024 * 1024))})
    assert huge.status_code == 413
    assert api.count(Event) == 0 and api.count(Lead) == 0


def test_the_openapi_schema_and_docs_are_served(api: Api) -> None:
    """/docs for people, /openapi.json for tools, listing every route of SPEC section 10."""
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/events",
        "/leads",
        "/leads/{email}",
        "/leads/import",
        "/enrollments",
        "/enrollments/{enrollment_id}/stop",
        "/sequences",
        "/sequences/{name}",
        "/compliance/report",
        "/compliance/log",
        "/healthz",
        "/readyz",
        "/metrics",
        "/unsubscribe/{token}",
    } | {"/compliance", "/tasks"} | {  # the HTML dashboard; the open manual tasks (issue 4)
        "/webhooks/postmark",  # provider webhooks (issue 10)
        "/webhooks/sendgrid",
        "/webhooks/mailgun",
    }


def test_apikey_create_prints_a_working_key_once_and_revoke_stops_it(
    api: Api, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`followup apikey create NAME` prints the key (only its hash is stored); revoke: 401."""
    capsys.readouterr()
    followup = cli.on(api.h)
    assert followup("apikey", "create", "crm-sync", "--scope", "leads:read") == 0
    key = capsys.readouterr().out.strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert api.client.get("/sequences", headers=headers).status_code == 200
    with Session(api.h.rt.engine) as session:
        stored = session.exec(select(ApiKey).where(ApiKey.name == "crm-sync")).one()
    assert key not in stored.key_hash and len(stored.key_hash) == 64
    assert followup("apikey", "create", "crm-sync") == 2
    assert "already exists" in capsys.readouterr().err
    assert followup("apikey", "revoke", "crm-sync") == 0
    assert api.client.get("/sequences", headers=headers).status_code == 401
