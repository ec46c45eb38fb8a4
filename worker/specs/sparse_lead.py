"""`sequences check`'s second pass: every template and task text for a lead with only an email.

Each name used without a default that such a lead lacks is a warning at the template's file and
line, naming the steps that use it; the syntax-tree analysis (field_uses.py) finds them, and a
trial rendering on the sparse lead catches what the analysis cannot see.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.specs.catalog import Catalog, context_for
from worker.specs.field_uses import FieldUse, email_field_uses, text_field_uses
from worker.specs.rendering import Renderer, RenderError
from worker.specs.sequences import SequenceSpec, StepSpec
from worker.specs.yaml_source import SourceError, load_yaml

SPARSE_LEAD: dict[str, Any] = {"email": "sparse.lead@example.com"}
SAMPLE_UNSUBSCRIBE = "https://example.com/unsubscribe/sample"


@dataclass(frozen=True)
class StepPlace:
    """A step and the line of its `email:`/`task:` in its sequence file."""

    sequence: str
    step: str
    path: Path
    line: int | None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where} step {self.step!r}"


def render_step(renderer: Renderer, step: StepSpec, context: dict[str, Any]) -> str:
    """What a step renders to (an email's subject, a task's text); raises RenderError."""
    if step.task:
        return renderer.render_text(step.task, context)
    assert step.email is not None
    return renderer.render_email(step.email, context).subject


def sparse_lead_warnings(
    catalog: Catalog, renderer: Renderer, *, default_from: str | None
) -> list[SourceError]:
    """One warning per template line and field a lead with only an email would fail on."""
    found: dict[tuple[Path, int | None, str], list[StepPlace]] = defaultdict(list)
    for name, spec in catalog.sequences.items():
        for place, step in _steps(spec, catalog.files[name]):
            context = context_for(
                SPARSE_LEAD, spec, step.id, catalog.team, SAMPLE_UNSUBSCRIBE, default_from
            )
            for problem in _step_problems(renderer, step, context, place):
                found[problem].append(place)
    return [
        SourceError(path, line, problem + _used_by(places, path, line))
        for (path, line, problem), places in sorted(found.items(), key=_by_place)
    ]


def _steps(spec: SequenceSpec, path: Path) -> list[tuple[StepPlace, StepSpec]]:
    """Each step with the line of its `email:`/`task:` (re-read: the catalog keeps no lines)."""
    try:
        document = load_yaml(path)
    except SourceError:  # changed since it was loaded: places without lines
        document = None
    places = []
    for index, step in enumerate(spec.steps):
        key = "email" if step.email else "task"
        line = document.line_of(("steps", index, key)) if document else None
        places.append((StepPlace(spec.name, step.id, path, line), step))
    return places


def _step_problems(
    renderer: Renderer, step: StepSpec, context: dict[str, Any], place: StepPlace
) -> list[tuple[Path, int | None, str]]:
    """(file, line, problem) for each unguarded name the context lacks, then the trial render."""
    uses = (
        text_field_uses(renderer, step.task)
        if step.task
        else email_field_uses(renderer, step.email or "")
    )
    problems: list[tuple[Path, int | None, str]] = []
    task = f"step {step.id!r}: task text: " if step.task else ""
    missing: set[tuple[str, ...]] = set()
    for use in uses:
        absent = first_missing(use.path, context)
        if absent is None or absent[0] not in context:
            continue  # present, or a name outside the context (an error on the full sample)
        missing.add(absent)
        problems.append((*_location(renderer, use, place), task + _why(absent, context)))
    try:  # with the names found above filled in: whatever still fails, the analysis missed
        render_step(renderer, step, _filled(context, missing))
    except RenderError as exc:
        path, line = _failure_location(renderer, exc, place)
        problems.append((path, line, f"{task}fails for a lead with only an email: {exc.problem}"))
    return problems


def _filled(context: dict[str, Any], paths: set[tuple[str, ...]]) -> dict[str, Any]:
    """A copy of the context with a sample value at each of `paths`."""
    filled = copy.deepcopy(context)
    for path in paths:
        target = filled
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = "Sample"
    return filled


def first_missing(path: tuple[str, ...], context: dict[str, Any]) -> tuple[str, ...] | None:
    """The shortest part of `path` the context lacks (`lead.address` of `lead.address.city`)."""
    value: Any = context
    for end, key in enumerate(path, start=1):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif hasattr(value, key):  # a method, as `lead.get(...)` (Jinja looks attributes up too)
            value = getattr(value, key)
        else:
            return path[:end]
    return None


def _why(absent: tuple[str, ...], context: dict[str, Any]) -> str:
    field = ".".join(absent)
    if absent[0] == "owner" and not context["owner"]:
        return (
            f"{field} has no default, and a lead without an owner has no sender to take it "
            f"from (set FOLLOWUP_DEFAULT_FROM, or a `from:` in the sequence)"
        )
    return f"{field} has no default: a lead without {absent[-1]} fails to render"


def _location(renderer: Renderer, use: FieldUse, place: StepPlace) -> tuple[Path, int | None]:
    """A template file and line; a task text's names point at the step's line instead."""
    if not use.template:  # a task text
        return place.path, place.line
    return renderer.templates_dir / use.template, use.line


def _failure_location(
    renderer: Renderer, exc: RenderError, place: StepPlace
) -> tuple[Path, int | None]:
    if exc.where is None:
        return place.path, place.line
    name, _, line = exc.where.rpartition(":")
    return renderer.templates_dir / name, int(line) if line.isdigit() else None


def _used_by(places: list[StepPlace], path: Path, line: int | None) -> str:
    """`; used by <file:line> step 'x' and 2 more step(s)`; nothing for a step's own task text."""
    if len(places) == 1 and (places[0].path, places[0].line) == (path, line):
        return ""
    more = f" and {len(places) - 1} more step(s)" if len(places) > 1 else ""
    return f"; used by {places[0]}{more}"


def _by_place(item: tuple[tuple[Path, int | None, str], list[StepPlace]]) -> tuple[str, int, str]:
    (path, line, problem), _ = item
    return str(path), line or 0, problem
