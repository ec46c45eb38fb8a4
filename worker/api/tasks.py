"""GET /tasks: open manual tasks for their owners (the API face of `followup tasks list`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from worker.api.auth import AUTH_RESPONSES, require_api_key
from worker.api.deps import Rt
from worker.db import reading
from worker.tasks import open_tasks

router = APIRouter(
    tags=["tasks"], dependencies=[Depends(require_api_key)], responses=AUTH_RESPONSES
)


class TaskPublic(BaseModel):
    touch_id: int
    lead: str
    owner: str | None
    sequence: str
    step: str
    text: str
    due_at: datetime
    expires_at: datetime | None


@router.get("/tasks", response_model=list[TaskPublic])
def list_tasks(
    rt: Rt,
    owner: Annotated[str | None, Query(max_length=320, description="one owner")] = None,
) -> list[TaskPublic]:
    """Open tasks, due first; complete one with a `task.completed` event naming its step."""
    with reading(rt.engine) as session:
        tasks = open_tasks(
            session, versions=rt.versions, team=rt.catalog.team, owner=owner, now=rt.clock.now()
        )
    return [TaskPublic(**vars(task)) for task in tasks]
