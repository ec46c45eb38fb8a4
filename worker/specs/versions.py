"""Pinned sequence versions: an enrollment runs the definition it started with."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlmodel import Session

from models.enrollment import SequenceVersion
from worker.engine.db import insert_new
from worker.specs.sequences import SequenceSpec

_PINNED_HERE = "followup_versions_pinned"  # session.info: versions this session inserted


class VersionStore:
    """Reads pinned definitions back as specs, cached by content hash (they never change)."""

    def __init__(self) -> None:
        self._cache: dict[str, SequenceSpec] = {}
        self._committed: set[str] = set()  # seen stored by an earlier transaction: never removed
        self._lock = threading.Lock()

    def pin(self, session: Session, spec: SequenceSpec, *, now: datetime) -> str:
        """Store `spec` under its hash unless already there; returns the hash.

        INSERT ... ON CONFLICT DO NOTHING: another process pinning the same new version at the
        same moment makes this a no-op (it waits for that one's commit), never an error. A
        version found stored that this session did not insert is committed, and is not looked up
        again (a POST /events saves a SELECT); one this session inserted is looked up each time,
        as a rollback undoes it.
        """
        version = spec.version
        with self._lock:
            self._cache.setdefault(version, spec)
            if version in self._committed:
                return version
        pinned_here: set[str] = session.info.setdefault(_PINNED_HERE, set())
        if session.get(SequenceVersion, version) is not None:
            if version not in pinned_here:
                with self._lock:
                    self._committed.add(version)
        else:
            pinned_here.add(version)
            row = {
                "hash": version,
                "name": spec.name,
                "definition": spec.definition(),
                "templates": spec.templates,
                "created_at": now,
            }
            insert_new(session, SequenceVersion, [row])
        return version

    def get(self, session: Session, version: str) -> SequenceSpec:
        with self._lock:
            spec = self._cache.get(version)
        if spec is None:
            row = session.get(SequenceVersion, version)
            if row is None:
                raise LookupError(f"sequence version {version[:12]} is not stored")
            spec = SequenceSpec.model_validate(row.definition).pin_templates(row.templates)
            with self._lock:
                self._cache[version] = spec
        return spec
