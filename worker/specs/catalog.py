"""Every sequence and team.yaml of a folder, validated as a whole before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.specs.rendering import Renderer, RenderError, build_context, template_path
from worker.specs.sending import lead_owner_context
from worker.specs.sequences import BUILTIN_EVENTS, SequenceSpec, parse_sequence
from worker.specs.team import TeamSpec
from worker.specs.yaml_source import (
    SourceError,
    SourceErrorGroup,
    YamlDocument,
    load_yaml,
    validate_model,
)

TEAM_FILE = "team.yaml"
SAMPLE_LEAD: dict[str, Any] = {
    "email": "sample.lead@example.com",
    "first_name": "Sam",
    "last_name": "Sample",
    "company": "Example Inc",
    "owner": "rep@example.com",
    "timezone": "America/New_York",
}
# The full sample's sender: its owner is in no team.yaml, and it must still sign like a full lead.
SAMPLE_SENDER = "Sam Rep <rep@example.com>"


class CatalogError(Exception):
    """The sequences folder has problems; `errors` holds one `file:line: problem` each."""

    def __init__(self, errors: list[SourceError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class UnknownSequence(LookupError):
    """No sequence of that name; the message lists the known ones."""


@dataclass
class Catalog:
    sequences: dict[str, SequenceSpec] = field(default_factory=dict)
    team: TeamSpec = field(default_factory=TeamSpec)
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[SourceError] = field(default_factory=list)  # worth saying, nothing stops

    def sequence(self, name: str) -> SequenceSpec:
        """The named sequence; UnknownSequence says which names there are."""
        spec = self.sequences.get(name)
        if spec is None:
            known = ", ".join(self.sequences) or "none"
            raise UnknownSequence(f"no sequence named {name!r} (known: {known})")
        return spec

    def triggered_by(self, event_type: str) -> list[SequenceSpec]:
        return [s for s in self.sequences.values() if event_type in s.trigger]

    def known_events(self) -> frozenset[str]:
        triggers = {t for s in self.sequences.values() for t in s.trigger}
        return BUILTIN_EVENTS | triggers


def _sequence_files(folder: Path) -> list[Path]:
    files = [*folder.glob("*.yaml"), *folder.glob("*.yml")]
    return sorted(p for p in files if p.name not in (TEAM_FILE, "team.yml"))


def load_catalog(
    sequences_dir: Path, renderer: Renderer, environ: Mapping[str, str | None] | None = None
) -> Catalog:
    """Load and check everything (team.yaml's secrets against `environ`, Settings.environment);
    raises CatalogError listing every problem, or returns it all."""
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
        problems = _check_references(
            spec, documents[name], known, renderer, catalog.team, catalog.warnings
        )
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


def _load_team(
    path: Path, errors: list[SourceError], environ: Mapping[str, str | None]
) -> TeamSpec:
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


def context_for(
    lead: dict[str, Any],
    spec: SequenceSpec,
    step: str,
    team: TeamSpec,
    unsubscribe_url: str,
    default_from: str | None = None,
) -> dict[str, Any]:
    """What a template sees when rendered to be looked at, not sent (the check, the preview);
    `owner` as a send would have it: the lead's owner in team.yaml, else the sender used."""
    return build_context(
        lead=lead,
        owner=lead_owner_context(spec, lead.get("owner"), team=team, default_from=default_from),
        sequence=spec,
        step=step,
        unsubscribe_url=unsubscribe_url,
    )


def _check_references(
    spec: SequenceSpec,
    document: YamlDocument,
    known: frozenset[str],
    renderer: Renderer,
    team: TeamSpec,
    warnings: list[SourceError],
) -> list[SourceError]:
    """Exit events, templates and task texts, rendered on sample data; errors returned."""
    errors = [
        document.error(
            ("exit_on", index),
            f"exit_on: unknown event type {event_type!r} (not built in, and no sequence "
            f"triggers on it)",
        )
        for index, event_type in enumerate(spec.exit_on)
        if event_type not in known
    ]
    first_email = next((step.id for step in spec.steps if step.email), None)
    for index in range(len(spec.steps)):
        found = _check_step(spec, index, document, renderer, team, first_email=first_email)
        errors += [problem for problem, fatal in found if fatal]
        warnings += [problem for problem, fatal in found if not fatal]
    return errors


def _check_step(
    spec: SequenceSpec,
    index: int,
    document: YamlDocument,
    renderer: Renderer,
    team: TeamSpec,
    *,
    first_email: str | None,
) -> list[tuple[SourceError, bool]]:
    """(problem, is it an error) for one step; a warning does not stop anything from running."""
    step = spec.steps[index]
    where = ("steps", index, "email" if step.email else "task")
    unsubscribe = "https://example.com/unsubscribe/sample"
    context = context_for(SAMPLE_LEAD, spec, step.id, team, unsubscribe, SAMPLE_SENDER)
    try:
        if step.task:
            renderer.render_text(step.task, context)
            return []
        assert step.email is not None
        path = template_path(step.email)
        if not renderer.exists(step.email):
            missing = f"template {path!r} not found in {renderer.templates_dir}"
            return [(document.error(where, missing), True)]
        email = renderer.render_email(step.email, context)
    except RenderError as exc:
        return [(document.error(where, f"step {step.id!r}: {exc}"), True)]
    if not email.subject and not step.thread:
        return [(document.error(where, f"{path}: empty subject"), True)]
    if email.subject and step.thread and step.id != first_email:
        ignored = (
            f"step {step.id!r}: with thread: true the subject is \"Re: <first email's "
            f'subject>"; the subject block of {path} is ignored'
        )
        return [(document.error(("steps", index, "thread"), ignored), False)]
    return []
