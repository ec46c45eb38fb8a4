"""GET /tasks: open manual tasks for their owners (the API face of `followup tasks list`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt
from worker.api.gate import GatedRoute
from worker.engine.db import reading
from worker.flow.manual_tasks import OpenTask, open_tasks

router = APIRouter(
    route_class=GatedRoute,
    tags=["tasks"],
    dependencies=[Depends(require_scope("leads:read"))],
    responses=AUTH_RESPONSES,
)


@router.get("/tasks", response_model=list[OpenTask])
def list_tasks(
    rt: Rt,
    owner: Annotated[str | None, Query(max_length=320, description="one owner")] = None,
) -> list[OpenTask]:
    """Open tasks, due first; complete one with a `task.completed` event naming its step.

    A task whose text does not render for its lead comes with the raw text and `render_error`.
    """
    with reading(rt.engine) as session:
        tasks = open_tasks(session, rt, owner=owner)
    return tasks
