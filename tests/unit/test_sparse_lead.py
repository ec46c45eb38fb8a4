"""sequences check's sparse lead: warnings at the template's file:line and the step's."""

from __future__ import annotations

from pathlib import Path

from testkit.harness import write_files
from worker.specs.catalog import load_catalog
from worker.specs.rendering import Renderer
from worker.specs.sparse_lead import sparse_lead_warnings

SEQUENCE = """\
name: signed
trigger: lead.mql
steps:
  - id: hello
    email: t/hello
  - id: call
    task: "Call {{ lead.first_name }} about {{ lead.company | default('it') }}"
  - id: bye
    email: t/bye
"""
TEMPLATES = {
    "t/base.j2": """\
        {% block subject %}{% endblock %}
        {% block text %}Hi {{ lead.first_name | default("there") }},
        {% block body %}{% endblock %}
        {{ owner.name }} <{{ owner.email }}>{% endblock %}
    """,
    "t/hello.j2": """\
        {% extends "t/base.j2" %}
        {% block subject %}About {{ lead.company }}{% endblock %}
    """,
    "t/bye.j2": """\
        {% extends "t/base.j2" %}
        {% block subject %}Bye{% endblock %}
        {% block body %}{{ (lead.company | default(none)).upper() }}{% endblock %}
    """,
}


def warnings(tmp_path: Path, default_from: str | None, sequence: str = SEQUENCE) -> list[str]:
    write_files(tmp_path / "sequences", {"signed.yaml": sequence})
    write_files(tmp_path / "templates", TEMPLATES)
    renderer = Renderer(tmp_path / "templates")
    catalog = load_catalog(tmp_path / "sequences", renderer)
    return [str(w) for w in sparse_lead_warnings(catalog, renderer, default_from=default_from)]


def test_each_name_a_sparse_lead_lacks_is_a_warning_at_its_file_and_line(tmp_path: Path) -> None:
    """Template names point at the template's line and the step using it; a task's at its step."""
    seq, templates = tmp_path / "sequences" / "signed.yaml", tmp_path / "templates" / "t"
    assert warnings(tmp_path, "Sales <sales@acme.test>") == [
        f"{seq}:7: step 'call': task text: lead.first_name has no default: "
        "a lead without first_name fails to render",
        f"{templates / 'bye.j2'}:3: fails for a lead with only an email: "
        f"UndefinedError: 'None' has no attribute 'upper'; used by {seq}:9 step 'bye'",
        f"{templates / 'hello.j2'}:2: lead.company has no default: a lead without company "
        f"fails to render; used by {seq}:5 step 'hello'",
    ]


def test_owner_names_warn_only_when_there_is_no_sender_to_take_them_from(tmp_path: Path) -> None:
    """With FOLLOWUP_DEFAULT_FROM `owner` is always complete; without it ownerless leads lack it."""
    found = warnings(tmp_path, None)
    base = tmp_path / "templates" / "t" / "base.j2"
    seq = tmp_path / "sequences" / "signed.yaml"
    owner_lines = [w for w in found if "owner." in w]
    assert owner_lines == [
        f"{base}:4: owner.{name} has no default, and a lead without an owner has no sender to "
        "take it from (set FOLLOWUP_DEFAULT_FROM, or a `from:` in the sequence); "
        f"used by {seq}:5 step 'hello' and 1 more step(s)"
        for name in ("email", "name")
    ]


def test_an_explicit_from_signs_for_ownerless_leads(tmp_path: Path) -> None:
    """A sequence with its own `from:` has a sender for every lead, default or not."""
    found = warnings(tmp_path, None, SEQUENCE + 'from: "Events <events@acme.test>"\n')
    assert not [w for w in found if "owner." in w]


def test_the_repository_templates_work_for_a_lead_with_only_an_email() -> None:
    """The shipped sequences pass `sequences check --strict`, with or without a default sender."""
    repository = Path(__file__).resolve().parents[2]
    renderer = Renderer(repository / "templates")
    catalog = load_catalog(repository / "sequences", renderer)
    for default_from in (None, "Sales <sales@acme.test>"):
        assert sparse_lead_warnings(catalog, renderer, default_from=default_from) == []
