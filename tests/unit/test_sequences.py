"""Sequence folder validation: every kind of problem is reported as `file:line: problem`."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.harness import write_files
from worker.specs.catalog import Catalog, CatalogError, load_catalog
from worker.specs.rendering import Renderer

TEMPLATES = {
    "t/hello.j2": """
        {% block subject %}Hello {{ lead.first_name }}{% endblock %}
        {% block text %}Hi {{ lead.first_name | default("there") }}{% endblock %}
    """,
    "t/loop.j2": """
        {% block subject %}Hello{% endblock %}
        {% block text %}{% include "t/loop.j2" %}{% endblock %}
    """,
    "t/broken.j2": """
        {% block subject %}Hello{% endblock %}
        {% block text %}Hi {{ lead.nickname }}{% endblock %}
    """,
}

GOOD = """\
name: good
trigger: lead.mql
steps:
  - id: intro
    email: t/hello
"""


def load(tmp_path: Path, files: dict[str, str]) -> Catalog:
    """Write a sequences folder beside the shared templates and load it."""
    write_files(tmp_path / "sequences", files)
    write_files(tmp_path / "templates", TEMPLATES)
    return load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))


def problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """The one-line errors a folder produces (it must produce some)."""
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, files)
    return [str(error) for error in caught.value.errors]


def lines(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, int | None]]:
    """(file name, line) of each error."""
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, files)
    return [(error.path.name, error.line) for error in caught.value.errors]


def test_a_valid_folder_loads_every_sequence(tmp_path: Path) -> None:
    """The control case: the GOOD sequence used below is itself valid."""
    catalog = load(tmp_path, {"good.yaml": GOOD})
    assert list(catalog.sequences) == ["good"]
    assert catalog.triggered_by("lead.mql")[0].steps[0].id == "intro"


THREADED = """\
name: threaded
trigger: lead.mql
steps:
  - id: intro
    email: t/hello
    thread: true
  - id: bump
    email: t/hello
    thread: true
"""


def test_a_thread_step_with_its_own_subject_is_a_warning_naming_its_line(tmp_path: Path) -> None:
    """thread: true replies as "Re: <first subject>": a later step's own subject block is
    ignored, which the catalog says at the `thread:` line without refusing the folder."""
    catalog = load(tmp_path, {"threaded.yaml": THREADED})
    assert list(catalog.sequences) == ["threaded"]
    [warning] = catalog.warnings
    assert (warning.path.name, warning.line) == ("threaded.yaml", 9)
    assert "step 'bump': with thread: true the subject is" in warning.problem
    assert "the subject block of t/hello.j2 is ignored" in warning.problem


def test_the_repository_sequences_are_valid() -> None:
    """The sample sequences, team.yaml and templates shipped with the project pass the check."""
    root = Path(__file__).resolve().parents[2]
    catalog = load_catalog(root / "sequences", Renderer(root / "templates"))
    assert {"mql-follow-up", "webinar-nurture"} <= set(catalog.sequences)
    assert catalog.team.owners


def test_invalid_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    """An unclosed flow list is reported where the parser gives up."""
    path = tmp_path / "sequences" / "bad.yaml"
    found = problems(tmp_path, {"bad.yaml": "name: bad\ntrigger: [lead.mql\nsteps: []\n"})
    assert found == [f"{path}:3: invalid YAML: expected ',' or ']', but got ':'"]


def test_a_tab_indentation_is_invalid_yaml_at_its_line(tmp_path: Path) -> None:
    """Tabs cannot indent YAML; the line with the tab is named."""
    assert lines(tmp_path, {"bad.yaml": "name: bad\n\ttrigger: lead.mql\n"}) == [("bad.yaml", 2)]


def test_a_duplicate_key_names_the_second_occurrence(tmp_path: Path) -> None:
    """PyYAML silently keeps the last duplicate; we refuse it at the repeated line."""
    path = tmp_path / "sequences" / "dup.yaml"
    text = GOOD.replace("trigger: lead.mql\n", "trigger: lead.mql\ntrigger: form.submitted\n")
    assert problems(tmp_path, {"dup.yaml": text}) == [f"{path}:3: duplicate key 'trigger'"]


def test_a_duplicate_key_inside_a_step_names_its_line(tmp_path: Path) -> None:
    """Nested mappings are checked too."""
    assert lines(tmp_path, {"dup.yaml": GOOD + "    email: t/hello\n"}) == [("dup.yaml", 6)]


def test_an_unknown_key_names_its_line(tmp_path: Path) -> None:
    """Extra keys are forbidden, so a misspelt `exit_on` is not silently ignored."""
    path = tmp_path / "sequences" / "extra.yaml"
    found = problems(tmp_path, {"extra.yaml": GOOD + "exit_onn: [email.replied]\n"})
    assert found == [f"{path}:6: unknown key 'exit_onn'"]


def test_an_unknown_key_inside_a_step_names_its_line(tmp_path: Path) -> None:
    """A misspelt step key is reported at that key, not at the step."""
    found = problems(tmp_path, {"extra.yaml": GOOD + "    wiat: 1d\n"})
    assert found == [f"{tmp_path / 'sequences' / 'extra.yaml'}:6: unknown key 'wiat'"]


def test_a_missing_required_key_is_reported(tmp_path: Path) -> None:
    """Without a trigger nothing could enroll; the file's first line is named."""
    path = tmp_path / "sequences" / "missing.yaml"
    found = problems(tmp_path, {"missing.yaml": GOOD.replace("trigger: lead.mql\n", "")})
    assert found == [f"{path}:1: missing required key 'trigger'"]


def test_a_bad_duration_names_its_line_and_the_accepted_forms(tmp_path: Path) -> None:
    """`wait: 2 fortnights` points at the wait line."""
    path = tmp_path / "sequences" / "wait.yaml"
    found = problems(tmp_path, {"wait.yaml": GOOD + "    wait: 2 fortnights\n"})
    assert found == [
        f"{path}:6: steps.0.wait: bad duration '2 fortnights': use <n>s, <n>m, <n>h, <n>d, "
        "<n>w or '<n> business days'"
    ]


def test_a_bad_sla_duration_names_its_line(tmp_path: Path) -> None:
    """SLA durations use the same forms as waits."""
    text = GOOD + "sla:\n  first_touch_within: 4 hours\n"
    assert lines(tmp_path, {"sla.yaml": text}) == [("sla.yaml", 7)]


def test_an_unknown_template_names_the_step_line(tmp_path: Path) -> None:
    """A step whose template file does not exist is found before anything runs."""
    path = tmp_path / "sequences" / "tpl.yaml"
    found = problems(tmp_path, {"tpl.yaml": GOOD.replace("t/hello", "t/nope")})
    assert found == [f"{path}:5: template 't/nope.j2' not found in {tmp_path / 'templates'}"]


def test_a_template_outside_the_templates_folder_is_refused(tmp_path: Path) -> None:
    """`..` cannot climb out of the templates folder."""
    found = problems(tmp_path, {"up.yaml": GOOD.replace("t/hello", "../secrets")})
    assert len(found) == 1 and "must stay inside the templates folder" in found[0]
    assert lines(tmp_path, {"up.yaml": GOOD.replace("t/hello", "../secrets")}) == [("up.yaml", 4)]


def test_an_unknown_time_zone_names_its_line(tmp_path: Path) -> None:
    """Zones are checked against the IANA database."""
    path = tmp_path / "sequences" / "zone.yaml"
    found = problems(tmp_path, {"zone.yaml": GOOD + "default_timezone: Mars/Olympus\n"})
    assert found == [
        f"{path}:6: default_timezone: unknown time zone 'Mars/Olympus' (use an IANA name)"
    ]


def test_an_unknown_send_window_zone_names_its_line(tmp_path: Path) -> None:
    """The window's own zone is checked as well."""
    text = GOOD + "send_window:\n  hours: '09:00-17:00'\n  timezone: Europe/Atlantis\n"
    assert lines(tmp_path, {"window.yaml": text}) == [("window.yaml", 8)]


def test_duplicate_step_ids_name_the_repeated_step(tmp_path: Path) -> None:
    """The second `id: intro` is the one to rename, so its line is the one reported."""
    path = tmp_path / "sequences" / "steps.yaml"
    text = GOOD + "  - id: intro\n    email: t/hello\n    wait: 1d\n"
    assert problems(tmp_path, {"steps.yaml": text}) == [
        f"{path}:6: steps.1.id: duplicate step id 'intro'"
    ]


def test_a_template_that_fails_on_sample_data_names_the_step(tmp_path: Path) -> None:
    """An undefined name is caught by rendering every template on the sample lead."""
    path = tmp_path / "sequences" / "render.yaml"
    found = problems(tmp_path, {"render.yaml": GOOD.replace("t/hello", "t/broken")})
    assert found == [f"{path}:5: step 'intro': t/broken.j2:2: lead.nickname is undefined"]


def test_a_template_that_includes_itself_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Endless recursion is reported at the step like any other render failure."""
    found = problems(tmp_path, {"loop.yaml": GOOD.replace("t/hello", "t/loop")})
    assert len(found) == 1 and "RecursionError" in found[0]
    assert found[0].startswith(f"{tmp_path / 'sequences' / 'loop.yaml'}:5: step 'intro': ")


@pytest.mark.parametrize(
    "sender",
    [
        "owner",
        "events@acme.test",
        "Acme Events <events@acme.test>",
        '"Acme, Inc." <events@acme.test>',
    ],
)
def test_from_accepts_owner_an_address_or_a_named_address(tmp_path: Path, sender: str) -> None:
    """The forms SPEC section 5 lists for `from`."""
    catalog = load(tmp_path, {"good.yaml": GOOD + f"from: '{sender}'\n"})
    assert catalog.sequences["good"].sender == sender


@pytest.mark.parametrize(
    "sender", ["Acme Events <events at acme>", "events@acme_corp.test", "Acme Events", "rep"]
)
def test_a_malformed_from_names_its_line(tmp_path: Path, sender: str) -> None:
    """A bad sender would fail every email of the sequence; it is caught before anything runs."""
    found = problems(tmp_path, {"from.yaml": GOOD + f"from: '{sender}'\n"})
    assert found == [
        f"{tmp_path / 'sequences' / 'from.yaml'}:6: from: {sender!r} must be "
        "'owner', an address or 'Name <address>'"
    ]


def test_a_from_with_a_line_break_is_refused(tmp_path: Path) -> None:
    """A line break in a header value could inject headers."""
    found = problems(tmp_path, {"from.yaml": GOOD + 'from: "Acme\\nBcc: x@y.z <a@acme.test>"\n'})
    assert found == [f"{tmp_path / 'sequences' / 'from.yaml'}:6: from: must be on one line"]


def test_a_task_text_that_fails_on_sample_data_names_the_step(tmp_path: Path) -> None:
    """Task texts are templates too."""
    text = "trigger: lead.mql\nsteps:\n  - id: call\n    task: 'Call {{ lead.nickname }}'\n"
    assert lines(tmp_path, {"task.yaml": text}) == [("task.yaml", 4)]


def test_an_unknown_exit_event_names_its_line(tmp_path: Path) -> None:
    """`email.replyed` would never fire; it is an error, not a silent no-op."""
    path = tmp_path / "sequences" / "exit.yaml"
    found = problems(tmp_path, {"exit.yaml": GOOD + "exit_on: [meeting.booked, email.replyed]\n"})
    assert found == [
        f"{path}:6: exit_on: unknown event type 'email.replyed' (not built in, and no "
        "sequence triggers on it)"
    ]


def test_an_exit_event_another_sequence_triggers_on_is_known(tmp_path: Path) -> None:
    """Custom event types become known by being some sequence's trigger."""
    other = GOOD.replace("name: good", "name: other").replace("lead.mql", "demo.requested")
    catalog = load(tmp_path, {"good.yaml": GOOD + "exit_on: demo.requested\n", "other.yaml": other})
    assert catalog.sequences["good"].exit_on == ["demo.requested"]


def test_a_step_with_both_email_and_task_names_the_step(tmp_path: Path) -> None:
    """A step does one thing: send an email or open a task."""
    found = problems(tmp_path, {"both.yaml": GOOD + "    task: Call them\n"})
    assert found == [
        f"{tmp_path / 'sequences' / 'both.yaml'}:4: steps.0: step 'intro' needs exactly one "
        "of 'email' or 'task'"
    ]


def test_a_step_with_neither_email_nor_task_is_refused(tmp_path: Path) -> None:
    """A step with only a wait does nothing, which is surely a mistake."""
    text = "trigger: lead.mql\nsteps:\n  - id: idle\n    wait: 1d\n"
    assert lines(tmp_path, {"idle.yaml": text}) == [("idle.yaml", 3)]


def test_duplicate_sequence_names_across_files_name_the_second_file(tmp_path: Path) -> None:
    """Two files claiming one name would make enrollments ambiguous."""
    files = {"a.yaml": GOOD, "b.yaml": GOOD}
    found = problems(tmp_path, files)
    folder = tmp_path / "sequences"
    assert found == [
        f"{folder / 'b.yaml'}:1: sequence name 'good' also used in {folder / 'a.yaml'}"
    ]


def test_the_name_defaults_to_the_file_name_and_clashes_with_an_explicit_one(
    tmp_path: Path,
) -> None:
    """A file without `name:` is named after itself, which may clash with another file."""
    unnamed = GOOD.replace("name: good\n", "")
    found = lines(tmp_path, {"a.yaml": GOOD, "good.yaml": unnamed})
    assert found == [("good.yaml", 1)]


@pytest.mark.parametrize(
    ("team", "line", "fragment"),
    [
        ("owners:\n  - email: not-an-email\n", 2, "owners.0.email: 'not-an-email' is not a valid"),
        ("owners:\n  - email: a@acme.test\n    nmae: Ana\n", 3, "unknown key 'nmae'"),
        ("strikes:\n  period: year\n", 2, "strikes.period: Input should be 'day', 'week'"),
        ("sla_plan:\n  revenue_goal: 100\n", 1, "missing required key 'marketing_share'"),
        (
            "owners:\n  - email: a@acme.test\n  - email: A@acme.test\n",
            1,
            "owner listed twice: a@acme.test",
        ),
        ("owners: [\n", 2, "invalid YAML"),
    ],
)
def test_a_bad_team_file_names_its_line(
    tmp_path: Path, team: str, line: int, fragment: str
) -> None:
    """team.yaml is validated with the sequences, with the same one-line errors."""
    found = problems(tmp_path, {"good.yaml": GOOD, "team.yaml": team})
    path = tmp_path / "sequences" / "team.yaml"
    assert any(
        problem.startswith(f"{path}:{line}: ") and fragment in problem for problem in found
    ), found


def test_every_problem_of_a_folder_is_reported_at_once(tmp_path: Path) -> None:
    """Fixing one error only to meet the next is tedious: all files are checked in one pass."""
    files = {
        "a.yaml": GOOD.replace("name: good", "name: a") + "colour: red\n",
        "b.yaml": GOOD.replace("name: good", "name: b").replace("t/hello", "t/nope"),
        "c.yaml": GOOD.replace("name: good", "name: c") + "    wait: soon\n",
    }
    assert sorted(lines(tmp_path, files)) == [("a.yaml", 6), ("b.yaml", 5), ("c.yaml", 6)]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ("send_window:\n  hours: '18:00-09:00'\n", 7),
        ("send_window:\n  hours: '9 to 5'\n", 7),
        ("send_window:\n  days: [mon, funday]\n", 7),
        ("send_window:\n  days: []\n", 7),
        ("holidays: ZZ\n", 6),
        ("sla:\n  min_touches: 6\n", 6),
        ("trigger: [Lead MQL]\n", None),
    ],
)
def test_other_field_errors_name_their_line(tmp_path: Path, extra: str, line: int | None) -> None:
    """Windows, holidays, SLA shape and event names are all checked at their line."""
    text = GOOD + extra
    if extra.startswith("trigger"):
        text = GOOD.replace("trigger: lead.mql\n", extra)
        line = 2
    assert lines(tmp_path, {"field.yaml": text}) == [("field.yaml", line)]
