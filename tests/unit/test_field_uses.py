"""The sparse-lead analysis: which names a template needs, read from its syntax tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.harness import write_files
from worker.specs.field_uses import email_field_uses, text_field_uses
from worker.specs.rendering import Renderer
from worker.specs.sparse_lead import first_missing


def needed(tmp_path: Path, files: dict[str, str], name: str = "main") -> set[tuple[str, int, str]]:
    """(file, line, field) of each unguarded name beyond `lead` and `owner` themselves."""
    write_files(tmp_path, files)
    uses = email_field_uses(Renderer(tmp_path), name)
    return {(u.template, u.line, u.field) for u in uses if len(u.path) > 1}


def email(text: str, subject: str = "S") -> str:
    return (
        f"{{% block subject %}}{subject}{{% endblock %}}\n{{% block text %}}{text}{{% endblock %}}"
    )


def test_a_name_without_a_default_is_reported_at_its_line(tmp_path: Path) -> None:
    """The control case: a bare `lead.first_name` on the second line."""
    assert needed(tmp_path, {"main.j2": email("Hi {{ lead.first_name }}")}) == {
        ("main.j2", 2, "lead.first_name")
    }


def test_a_name_guarded_by_default_is_not_reported(tmp_path: Path) -> None:
    """`| default(...)` and its short form `| d(...)` give a fallback."""
    text = "Hi {{ lead.first_name | default('there') }} {{ lead.company | d('you') | upper }}"
    assert needed(tmp_path, {"main.j2": email(text)}) == set()


def test_a_default_guards_only_the_last_part_of_a_name(tmp_path: Path) -> None:
    """`lead.address.city | default` still fails when `lead.address` is missing."""
    text = "{{ lead.address.city | default('-') }}"
    assert needed(tmp_path, {"main.j2": email(text)}) == {("main.j2", 2, "lead.address")}


def test_a_filter_before_the_default_does_not_guard(tmp_path: Path) -> None:
    """`lead.company | upper | default(...)` fails in `upper`, before the default."""
    text = "{{ lead.company | upper | default('x') }}"
    assert needed(tmp_path, {"main.j2": email(text)}) == {("main.j2", 2, "lead.company")}


def test_a_name_inside_if_on_itself_is_guarded_and_the_else_is_not(tmp_path: Path) -> None:
    """`{% if lead.company %}` proves the name in its body only."""
    text = "{% if lead.company %}at {{ lead.company }}{% else %}{{ lead.company }}{% endif %}"
    assert needed(tmp_path, {"main.j2": email(text)}) == {("main.j2", 2, "lead.company")}


def test_is_defined_guards_its_branch_and_is_undefined_the_else(tmp_path: Path) -> None:
    """Both presence tests, with `elif`, `and` and `not`."""
    text = (
        "{% if lead.a is defined and lead.b is defined %}{{ lead.a }}{{ lead.b }}"
        "{% elif lead.c is undefined %}{{ lead.d }}"
        "{% elif not lead.e %}-{% else %}{{ lead.c }}{{ lead.e }}{% endif %}"
    )
    assert needed(tmp_path, {"main.j2": email(text)}) == {("main.j2", 2, "lead.d")}


def test_or_and_conditional_expressions_give_fallbacks(tmp_path: Path) -> None:
    """`a or b` tests a; `x if x else y` uses x only where it was proven."""
    text = (
        "{{ lead.first_name or 'there' }} {{ lead.company if lead.company else 'you' }}"
        "{{ lead.tz if lead.zone else '' }}"
    )
    assert needed(tmp_path, {"main.j2": email(text)}) == {("main.j2", 2, "lead.tz")}


def test_a_name_inside_an_include_is_reported_in_the_included_file(tmp_path: Path) -> None:
    """The included file and its own line are named, not the includer's."""
    files = {
        "main.j2": email("Hi\n{% include 'parts/sign.j2' %}"),
        "parts/sign.j2": "Best,\n{{ owner.name }}\n{{ owner.phone | default('') }}",
    }
    assert needed(tmp_path, files) == {("parts/sign.j2", 2, "owner.name")}


def test_an_include_inside_a_guard_keeps_the_guard(tmp_path: Path) -> None:
    """`{% if owner.name %}{% include ... %}` protects the names the include uses."""
    files = {
        "main.j2": email("{% if owner.name %}{% include 'sign.j2' %}{% endif %}"),
        "sign.j2": "{{ owner.name }} {{ owner.title }}",
    }
    assert needed(tmp_path, files) == {("sign.j2", 1, "owner.title")}


def test_blocks_of_an_extended_layout_are_read_as_the_child_defines_them(
    tmp_path: Path,
) -> None:
    """The child's override is what renders (at the child's line), and `super()` renders the
    parent's; the parent's guard around a block carries into the child's override."""
    files = {
        "base.j2": (
            "{% block subject %}{{ lead.company }}{% endblock %}\n"
            "{% block text %}{% block body %}{{ lead.replaced }}{% endblock %}\n"
            "{% if owner.name %}{% block sign %}{% endblock %}{% endif %}{% endblock %}"
        ),
        "main.j2": (
            '{% extends "base.j2" %}\n'
            "{% block body %}{{ super() }} {{ lead.first_name }}{% endblock %}\n"
            "{% block sign %}{{ owner.name }}{% endblock %}\n"
            "{% block subject %}About {{ lead.topic }}{% endblock %}"
        ),
    }
    assert needed(tmp_path, files) == {
        ("base.j2", 2, "lead.replaced"),  # through super()
        ("main.j2", 2, "lead.first_name"),
        ("main.j2", 4, "lead.topic"),  # the parent's subject (lead.company) is overridden
    }


def test_a_block_rendered_on_its_own_loses_the_guard_around_it(tmp_path: Path) -> None:
    """render_email renders `text` by itself too: a guard around the block does not hold."""
    files = {"main.j2": "{% if lead.x %}" + email("{{ lead.x }}") + "{% endif %}"}
    assert needed(tmp_path, files) == {("main.j2", 2, "lead.x")}


def test_loop_variables_macros_and_sets_are_not_context_names(tmp_path: Path) -> None:
    """Local names are the template's own; what they are built from is still checked."""
    text = (
        "{% set greeting = lead.first_name | default('Hi') %}{{ greeting.upper() }}"
        "{% macro sign(who) %}{{ who.name }}{% endmacro %}{{ sign(owner) }}"
        "{% for tag in lead.tags %}{{ tag.label }} {{ loop.index }}{% endfor %}"
    )
    assert needed(tmp_path, {"main.j2": email(text)}) == {("main.j2", 2, "lead.tags")}


def test_a_task_text_is_analysed_like_a_template(tmp_path: Path) -> None:
    """Task texts have no file: their uses carry an empty template name and line 1."""
    uses = text_field_uses(Renderer(tmp_path), "Call {{ lead.first_name }} at {{ lead.phone }}")
    assert {(u.template, u.line, u.field) for u in uses if len(u.path) > 1} == {
        ("", 1, "lead.first_name"),
        ("", 1, "lead.phone"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "{% if lead.company %}at {{ lead.company }}{% endif %}",
        "{% if lead.company is defined %}at {{ lead.company }}{% endif %}",
        "{{ lead.company or 'somewhere' }}",
        "{{ lead.company if lead.company else '' }}",
    ],
)
def test_what_the_analysis_calls_guarded_renders_for_a_lead_without_the_field(
    tmp_path: Path, text: str
) -> None:
    """The guards the analysis accepts also hold at run time (`if x` on a missing name is false)."""
    assert needed(tmp_path, {"main.j2": email(text)}) == set()
    context = {"lead": {"email": "a@example.com"}, "owner": {}}
    assert "at " not in Renderer(tmp_path).render_email("main", context).text


def test_a_constant_subscript_is_a_name_and_a_method_is_present(tmp_path: Path) -> None:
    """`lead["company"]` needs lead.company; `lead.get(...)` is a dict method every lead has."""
    text = "{{ lead['company'] }} {{ lead.get('first_name', 'there') }}"
    uses = needed(tmp_path, {"main.j2": email(text)})
    assert uses == {("main.j2", 2, "lead.company"), ("main.j2", 2, "lead.get")}
    context = {"lead": {"email": "a@example.com"}}
    assert first_missing(("lead", "company"), context) == ("lead", "company")
    assert first_missing(("lead", "get"), context) is None
