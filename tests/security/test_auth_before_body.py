"""Finding 8: the bearer key (and its scope, and its write budget) is checked before any byte
of the body is read: an unauthenticated 44 MB upload gets its 401 without being received."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.security.conftest import Client
from worker.api.app import create_app

MIB = 1024 * 1024
UPLOAD_MIB = 44


def call_with_upload(
    app: Any, headers: dict[str, str], path: str = "/leads/import"
) -> tuple[int, int]:
    """(status, body chunks the app pulled) for a multipart POST of 44 x 1 MiB chunks."""
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * MIB, "more_body": pulled < UPLOAD_MIB}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    raw = {"content-type": "multipart/form-data; boundary=zzz", **headers}
    raw["content-length"] = str(UPLOAD_MIB * MIB)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return status, pulled


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer fu_not-a-key"}, {"Authorization": "Basic YTpi"}],
    ids=["no key", "unknown key", "not bearer"],
)
def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    api: Client, headers: dict[str, str]
) -> None:
    """Finding 8: 401, and not one chunk of the 44 MB body was pulled from the server."""
    status, pulled = call_with_upload(create_app(api.h.rt), headers)
    assert (status, pulled) == (401, 0)


def test_a_key_without_the_scope_is_refused_before_the_body_too(api: Client) -> None:
    """Finding 8: an events:write key posting to /leads/import: 403 with nothing read."""
    narrow = api.new_key("crm", scopes=["events:write"])
    status, pulled = call_with_upload(create_app(api.h.rt), api.auth(narrow))
    assert (status, pulled) == (403, 0)


def test_a_valid_key_gets_its_body_read(api: Client) -> None:
    """Finding 8: the gate lets a good key through: the body is read (and found not multipart)."""
    status, pulled = call_with_upload(create_app(api.h.rt), api.auth())
    assert pulled > 0
    assert status == 422


def test_public_routes_need_no_key_and_are_not_gated(api: Client) -> None:
    """Finding 8: /healthz, /unsubscribe and /docs stay open; unknown paths stay 404."""
    client = api.client
    assert client.get("/healthz").status_code == 200
    assert client.get("/unsubscribe/x.y").status_code == 404
    assert client.get("/docs").status_code == 200
    assert client.get("/no-such-route").status_code == 404
    assert client.get("/events").status_code == 405
