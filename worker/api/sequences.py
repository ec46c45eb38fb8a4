"""GET /sequences and GET /sequences/{name}: the catalog this process loaded and checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt
from worker.api.gate import GatedRoute
from worker.api.schemas import Problem, SequenceDetail, SequenceSummary
from worker.specs.catalog import UnknownSequence

router = APIRouter(
    route_class=GatedRoute,
    tags=["sequences"],
    dependencies=[Depends(require_scope("leads:read"))],
    responses=AUTH_RESPONSES,
)


@router.get("/sequences", response_model=list[SequenceSummary])
def list_sequences(rt: Rt) -> list[SequenceSummary]:
    """Every loaded sequence: triggers, exits, step count, SLA and version hash."""
    return [
        SequenceSummary(
            name=spec.name,
            description=spec.description,
            trigger=list(spec.trigger),
            exit_on=list(spec.exit_on),
            steps=len(spec.steps),
            version=spec.version,
            sla=spec.sla.model_dump(mode="json") if spec.sla else None,
        )
        for spec in rt.catalog.sequences.values()
    ]


@router.get(
    "/sequences/{name}",
    response_model=SequenceDetail,
    responses={404: {"model": Problem, "description": "no such sequence"}},
)
def read_sequence(name: Annotated[str, Path(max_length=200)], rt: Rt) -> SequenceDetail:
    """One sequence's full definition, as new enrollments will pin it."""
    try:
        spec = rt.catalog.sequence(name)
    except UnknownSequence as exc:
        raise HTTPException(404, str(exc)) from None
    return SequenceDetail(
        name=spec.name,
        version=spec.version,
        file=rt.catalog.files[name].name,
        definition=spec.definition(),
    )
