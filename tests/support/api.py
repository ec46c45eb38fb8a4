"""An API client on a harness's runtime (FastAPI's TestClient), with a valid key in its headers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from models.lead import Lead
from testkit.harness import Harness
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.engine.db import transaction


class Api:
    """A TestClient on the harness's runtime, with a valid key in its headers."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        with transaction(h.rt.engine) as session:
            self.key = create_key(session, "tests", now=h.clock.now())
        self.client = TestClient(create_app(h.rt), raise_server_exceptions=False)
        self.auth = {"Authorization": f"Bearer {self.key}"}

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self.auth, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.client.post(url, headers={**self.auth, **kwargs.pop("headers", {})}, **kwargs)

    def event(self, type: str, email: str, **extra: Any) -> Any:
        lead = {"email": email, **extra.pop("lead", {})}
        return self.post("/events", json={"type": type, "lead": lead, **extra})

    def count(self, model: type) -> int:
        with Session(self.h.rt.engine) as session:
            return int(session.exec(select(func.count()).select_from(model)).one())

    def lead(self, email: str) -> Lead:
        with Session(self.h.rt.engine) as session:
            return session.exec(select(Lead).where(Lead.email == email)).one()
