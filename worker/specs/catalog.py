"""Every sequence and team.yaml of a folder, validated as a whole before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.specs.rendering import Renderer, RenderError, build_context, template_path
from worker.specs.sequences import (
    BUILTIN_EVENTS,
    SequenceSpec,
    SourceErrorGroup,
    parse_sequence,
    validate_model,
)
from worker.specs.team import TeamSpec
from worker.specs.yaml_source import SourceError, YamlDocument, load_yaml

TEAM_FILE = "team.yaml"
SAMPLE_LEAD: dict[str, Any] = {
    "email": "sample.lead@example.com",
    "first_name": "Sam",
    "last_name": "Sample",
    "company": "Example Inc",
    "owner": "rep@example.com",
    "timezone": "America/New_York",
}


class CatalogError(Exception):
    """The sequences folder has problems; `errors` holds one `file:line: problem` each."""

    def __init__(self, errors: list[SourceError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class Catalog:
    sequences: dict[str, SequenceSpec] = field(default_factory=dict)
    team: TeamSpec = field(default_factory=TeamSpec)
    files: dict[str, Path] = field(default_factory=dict)

    def triggered_by(self, event_type: str) -> list[SequenceSpec]:
        return [s for s in self.sequences.values() if event_type in s.trigger]

    def known_events(self) -> frozenset[str]:
        triggers = {t for s in self.sequences.values() for t in s.trigger}
        return BUILTIN_EVENTS | triggers


def _sequence_files(folder: Path) -> list[Path]:
    files = [*folder.glob("*.yaml"), *folder.glob("*.yml")]
    return sorted(p for p in files if p.name not in (TEAM_FILE, "team.yml"))


def load_catalog(
    sequences_dir: Path, renderer: Renderer, environ: Mapping[str, str] | None = None
) -> Catalog:
    """Load and check everything; raises CatalogError listing every problem, or returns it all.

    `environ` (Settings.environment) holds the variables team.yaml names for its secrets."""
    if not sequences_dir.is_dir():
        raise CatalogError([SourceError(sequences_dir, None, "sequences folder not found")])
    errors: list[SourceError] = []
    catalog = Catalog()
    documents: dict[str, YamlDocument] = {}
    for path in _sequence_files(sequences_dir):
        try:
            document = load_yaml(path)
            spec = parse_sequence(document)
        except SourceError as exc:
            errors.append(exc)
            continue
        except SourceErrorGroup as group:
            errors.extend(group.errors)
            continue
        if spec.name in catalog.sequences:
            other = catalog.files[spec.name]
            errors.append(
                document.error(("name",), f"sequence name {spec.name!r} also used in {other}")
            )
            continue
        catalog.sequences[spec.name] = spec
        catalog.files[spec.name] = path
        documents[spec.name] = document
    catalog.team = _load_team(sequences_dir / TEAM_FILE, errors, environ or {})
    known = catalog.known_events()
    for name, spec in catalog.sequences.items():
        problems = _check_references(spec, documents[name], known, renderer, catalog.team)
        errors.extend(problems)
        if not problems:
            catalog.sequences[name] = _pinned(spec, catalog.team, renderer)
    if errors:
        raise CatalogError(errors)
    return catalog


def _pinned(spec: SequenceSpec, team: TeamSpec, renderer: Renderer) -> SequenceSpec:
    """The spec with the company's days off merged in and its template texts attached."""
    if team.days_off:
        spec = spec.model_copy(update={"days_off": sorted({*spec.days_off, *team.days_off})})
    return spec.pin_templates(renderer.sources([s.email for s in spec.steps if s.email]))


def _load_team(path: Path, errors: list[SourceError], environ: Mapping[str, str]) -> TeamSpec:
    if not path.is_file():
        return TeamSpec()
    try:
        document = load_yaml(path)
        return validate_model(TeamSpec, document.data or {}, document, {"environ": environ})
    except SourceError as exc:
        errors.append(exc)
    except SourceErrorGroup as group:
        errors.extend(group.errors)
    return TeamSpec()


def _check_references(
    spec: SequenceSpec,
    document: YamlDocument,
    known: frozenset[str],
    renderer: Renderer,
    team: TeamSpec,
) -> list[SourceError]:
    """Exit events, templates and task texts, rendered on sample data."""
    errors = []
    for index, event_type in enumerate(spec.exit_on):
        if event_type not in known:
            errors.append(
                document.error(
                    ("exit_on", index),
                    f"exit_on: unknown event type {event_type!r} (not built in, and no sequence "
                    f"triggers on it)",
                )
            )
    for index, step in enumerate(spec.steps):
        where = ("steps", index, "email" if step.email else "task")
        context = build_context(
            lead=SAMPLE_LEAD,
            owner=team.owner(SAMPLE_LEAD["owner"]),
            owner_email=SAMPLE_LEAD["owner"],
            sequence=spec,
            step=step.id,
            unsubscribe_url="https://example.com/unsubscribe/sample",
        )
        try:
            if step.task:
                renderer.render_text(step.task, context)
                continue
            assert step.email is not None
            if not renderer.exists(step.email):
                errors.append(
                    document.error(
                        where,
                        f"template {template_path(step.email)!r} not found in "
                        f"{renderer.templates_dir}",
                    )
                )
                continue
            email = renderer.render_email(step.email, context)
            if not email.subject and not step.thread:
                errors.append(document.error(where, f"{template_path(step.email)}: empty subject"))
        except RenderError as exc:
            errors.append(document.error(where, f"step {step.id!r}: {exc}"))
    return errors
