"""What the security corpus shares: a followup on fakes with a team, and an API client with a key.

Every probe here talks to the in-process app or to servers on 127.0.0.1, never further.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from testkit.harness import Harness, template
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.engine.db import transaction

TEAM = """
owners:
  - email: ana.rep@acme.test
    name: Ana Rep
"""
SEQUENCE = """
name: mql
trigger: lead.mql
from: owner
steps:
  - id: intro
    email: t/intro
  - id: call
    task: Call {{ lead.first_name }}
    wait: 1d
"""
TEMPLATES = {"t/intro.j2": template("Intro")}


def make_harness(tmp_path: Path, *, team: str = TEAM, **settings: Any) -> Harness:
    files = {"mql.yaml": SEQUENCE}
    if team:
        files["team.yaml"] = team
    return Harness(tmp_path, sequences=files, templates=TEMPLATES, **settings)


def cli_env(h: Harness, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, run in `folder`, on the harness's database, folders, default sender and key."""
    monkeypatch.chdir(folder)
    for name in [n for n in os.environ if n.startswith("FOLLOWUP_") and "_TEST_" not in n]:
        monkeypatch.delenv(name)
    for name, value in (
        ("DATABASE_URL", h.settings.database_url),
        ("SEQUENCES_DIR", h.settings.sequences_dir),
        ("TEMPLATES_DIR", h.settings.templates_dir),
        ("DEFAULT_FROM", h.settings.default_from),
        ("SECRET_KEY", h.settings.secret_key),
    ):
        if value is not None:
            monkeypatch.setenv(f"FOLLOWUP_{name}", str(value))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = make_harness(tmp_path)
    yield harness
    harness.close()


class Client:
    """A TestClient on the harness's runtime; `key` is a full-access API key."""

    def __init__(self, h: Harness, **key_options: Any) -> None:
        self.h = h
        self.app = create_app(h.rt)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.key = self.new_key("tests", **key_options)

    def new_key(self, name: str, **options: Any) -> str:
        with transaction(self.h.rt.engine) as session:
            return create_key(session, name, now=self.h.clock.now(), **options)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def get(self, url: str, *, key: str | None = None, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self.auth(key), **kwargs)

    def post(self, url: str, *, key: str | None = None, **kwargs: Any) -> Any:
        return self.client.post(url, headers=self.auth(key), **kwargs)


@pytest.fixture
def api(h: Harness) -> Client:
    return Client(h)
