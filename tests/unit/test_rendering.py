"""The sandboxed renderer: what a template may and may not do, and what comes out of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testkit.harness import write_files
from worker.specs.rendering import Renderer, RenderError


def context(**lead: Any) -> dict[str, Any]:
    """A fresh context for a lead with these fields (email always set)."""
    return {
        "lead": {"email": "ana@example.com", **lead},
        "owner": {"email": "rep@acme.test", "name": "Rep"},
        "sequence": {"name": "s", "description": ""},
        "step": {"id": "one"},
        "unsubscribe_url": "https://followup.test/unsubscribe/x",
    }


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    return Renderer(tmp_path)


def email_with(tmp_path: Path, text_block: str, **blocks: str) -> str:
    """Write a template whose text block is `text_block`; returns its name."""
    parts = [f"{{% block {name} %}}{body}{{% endblock %}}" for name, body in blocks.items()]
    body = "".join(parts) + f"{{% block text %}}{text_block}{{% endblock %}}"
    if "subject" not in blocks:
        body = "{% block subject %}Subject{% endblock %}" + body
    write_files(tmp_path, {"probe.j2": body})
    return "probe"


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "lead.__class__",
        "cycler.__init__.__globals__",
        "joiner.__init__.__globals__",
        "lipsum.__globals__",
        "self.__dict__",
        "''.__class__.__mro__[1].__subclasses__()",
        "lead.email.__class__.__base__",
        "(lead.items()|list)[0].__class__",
    ],
)
def test_sandbox_escapes_fail_with_a_render_error(
    tmp_path: Path, renderer: Renderer, expression: str
) -> None:
    """Templates cannot reach Python internals; the attempt is a RenderError, not output."""
    name = email_with(tmp_path, f"{{{{ {expression} }}}}")
    with pytest.raises(RenderError, match=r"SecurityError.*unsafe"):
        renderer.render_email(name, context())


def test_huge_ranges_are_refused_by_the_sandbox(tmp_path: Path, renderer: Renderer) -> None:
    """`range(10**9)` would take the worker's memory; the sandbox caps ranges."""
    name = email_with(tmp_path, "{% for i in range(10**9) %}x{% endfor %}")
    with pytest.raises(RenderError, match="Range too big"):
        renderer.render_email(name, context())


def test_a_template_cannot_mutate_the_data_it_is_given(tmp_path: Path, renderer: Renderer) -> None:
    """Context dicts are shared between blocks (and the sample lead between checks): read-only."""
    lead = context(first_name="Ana")
    name = email_with(tmp_path, "{{ lead.clear() }}{{ lead.first_name }}")
    with pytest.raises(RenderError, match="SecurityError"):
        renderer.render_email(name, lead)
    assert lead["lead"]["first_name"] == "Ana"


def test_an_undefined_name_is_a_render_error_naming_it(tmp_path: Path, renderer: Renderer) -> None:
    """A missing field must not silently render as an empty string in a real email."""
    name = email_with(tmp_path, "Hi {{ lead.first_name }}")
    with pytest.raises(RenderError, match=r"^probe\.j2:1: lead\.first_name is undefined$"):
        renderer.render_email(name, context())


def test_an_undefined_top_level_name_is_a_render_error(tmp_path: Path, renderer: Renderer) -> None:
    """Typos in top-level names fail too."""
    name = email_with(tmp_path, "{{ leed.first_name }}")
    with pytest.raises(RenderError, match=r"^probe\.j2:1: leed is undefined$"):
        renderer.render_email(name, context())


def test_default_gives_a_fallback_for_a_missing_field(tmp_path: Path, renderer: Renderer) -> None:
    """`| default("there")` is the documented way to handle optional fields."""
    name = email_with(tmp_path, 'Hi {{ lead.first_name | default("there") }}')
    assert renderer.render_email(name, context()).text == "Hi there\n"
    assert renderer.render_email(name, context(first_name="Ana")).text == "Hi Ana\n"


def test_html_is_autoescaped_while_subject_and_text_are_not(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Plain-text parts show data verbatim; the HTML part cannot be injected into."""
    name = email_with(
        tmp_path,
        "Hi {{ lead.first_name }}",
        subject="About {{ lead.first_name }}",
        html="<p>Hi {{ lead.first_name }}</p>",
    )
    email = renderer.render_email(name, context(first_name="<script>alert(1)</script>"))
    assert email.subject == "About <script>alert(1)</script>"
    assert email.text == "Hi <script>alert(1)</script>\n"
    assert email.html == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_an_email_without_an_html_block_has_no_html_part(
    tmp_path: Path, renderer: Renderer
) -> None:
    """The html block is optional."""
    name = email_with(tmp_path, "Hi")
    assert renderer.render_email(name, context()).html is None


def test_a_template_without_a_text_block_is_a_render_error(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Every email needs a plain-text part."""
    write_files(tmp_path, {"notext.j2": "{% block subject %}S{% endblock %}"})
    with pytest.raises(RenderError, match=r"notext\.j2: no \{% block text %\}"):
        renderer.render_email("notext", context())


@pytest.mark.parametrize(
    "evil",
    [
        "Ana\r\nBcc: victim@example.com",
        "Ana\nBcc: x@y.z",
        "Ana\rX",
        "Ana\u2028X",
        "Ana\x0bX",
        "Ana\x85X",
    ],
)
def test_line_breaks_cannot_end_up_in_the_subject(
    tmp_path: Path, renderer: Renderer, evil: str
) -> None:
    """Lead data with CR/LF (or other line separators) is folded into one subject line."""
    name = email_with(tmp_path, "x", subject="Hi {{ lead.first_name }}\n  again")
    subject = renderer.render_email(name, context(first_name=evil)).subject
    assert not any(c in subject for c in "\r\n\u2028\x0b\x85")
    assert subject.startswith("Hi Ana ") and subject.endswith(" again")


def test_extends_and_include_work_inside_the_templates_folder(
    tmp_path: Path, renderer: Renderer
) -> None:
    """A layout fills shared parts; a child overrides blocks; includes pull in snippets."""
    write_files(
        tmp_path,
        {
            "layouts/base.j2": """
            {% block subject %}{% endblock %}
            {% block text %}Hi {{ lead.first_name }},
            {% block body %}{% endblock %}
            {% include "parts/footer.j2" %}{% endblock %}
            {% block html %}<p>{% block html_body %}{% endblock %}</p>{% endblock %}
        """,
            "parts/footer.j2": "Unsubscribe: {{ unsubscribe_url }}",
            "mql/intro.j2": """
            {% extends "layouts/base.j2" %}
            {% block subject %}Intro for {{ lead.company }}{% endblock %}
            {% block body %}Body text.{% endblock %}
            {% block html_body %}<b>{{ lead.company }}</b>{% endblock %}
        """,
        },
    )
    email = renderer.render_email("mql/intro", context(first_name="Ana", company="A&B"))
    assert email.subject == "Intro for A&B"
    assert email.text == "Hi Ana,\nBody text.\nUnsubscribe: https://followup.test/unsubscribe/x\n"
    assert email.html == "<p><b>A&amp;B</b></p>"


def test_include_cannot_leave_the_templates_folder(tmp_path: Path) -> None:
    """`../` in an include is not resolved outside the folder."""
    write_files(
        tmp_path,
        {
            "secret.txt": "TOP SECRET",
            "templates/up.j2": "{% block subject %}S{% endblock %}"
            "{% block text %}{% include '../secret.txt' %}"
            "{% endblock %}",
        },
    )
    with pytest.raises(RenderError, match="not found"):
        Renderer(tmp_path / "templates").render_email("up", context())


def test_a_missing_include_names_the_missing_file(tmp_path: Path, renderer: Renderer) -> None:
    """The error says which include is missing, not that the email template itself is."""
    write_files(
        tmp_path,
        {
            "main.j2": "{% block subject %}S{% endblock %}{% block text %}"
            "{% include 'parts/gone.j2' %}{% endblock %}"
        },
    )
    with pytest.raises(RenderError) as caught:
        renderer.render_email("main", context())
    assert str(caught.value) == "main.j2: template 'parts/gone.j2' not found"


def test_a_template_that_includes_itself_is_a_render_error(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Endless recursion must not escape as a RecursionError and kill the worker's message."""
    write_files(
        tmp_path,
        {
            "loop.j2": "{% block subject %}S{% endblock %}"
            "{% block text %}{% include 'loop.j2' %}{% endblock %}"
        },
    )
    with pytest.raises(RenderError, match="RecursionError"):
        renderer.render_email("loop", context())
    with pytest.raises(RenderError, match="RecursionError"):
        renderer.render_text("{% include 'loop.j2' %}", context())


def test_a_missing_template_is_a_render_error(renderer: Renderer) -> None:
    """A step pointing at a deleted template fails clearly."""
    with pytest.raises(RenderError, match=r"nope\.j2"):
        renderer.render_email("nope", context())


def test_a_syntax_error_is_a_render_error(tmp_path: Path, renderer: Renderer) -> None:
    """Broken Jinja is reported, not raised as a raw TemplateSyntaxError."""
    name = email_with(tmp_path, "{{ lead. }}")
    with pytest.raises(RenderError, match="TemplateSyntaxError"):
        renderer.render_email(name, context())


def test_a_task_text_renders_on_one_line(renderer: Renderer) -> None:
    """Task texts are short one-liners; whitespace and line breaks collapse."""
    text = renderer.render_text(
        "Call {{ lead.first_name }}\n  about   {{ lead.company }}",
        context(first_name="Ana", company="Acme"),
    )
    assert text == "Call Ana about Acme"


def test_a_task_text_with_an_undefined_name_is_a_render_error(renderer: Renderer) -> None:
    """Task texts are as strict as emails."""
    with pytest.raises(RenderError, match=r"^lead\.nickname is undefined$"):
        renderer.render_text("Call {{ lead.nickname }}", context())


def test_a_render_error_names_the_template_the_failing_line_and_the_field(
    tmp_path: Path, renderer: Renderer
) -> None:
    """A name missing in a layout: the email's template, the layout's file:line, the full name."""
    write_files(
        tmp_path,
        {
            "layouts/base.j2": "{% block subject %}S{% endblock %}\n"
            "{% block text %}{% block body %}{% endblock %}\n"
            "{{ owner.name | default(owner.email) }}{% endblock %}",
            "mql/last.j2": '{% extends "layouts/base.j2" %}\n{% block body %}Bye{% endblock %}',
        },
    )
    with pytest.raises(RenderError) as caught:
        renderer.render_email("mql/last", {**context(), "owner": {}})
    error = caught.value
    assert str(error) == "mql/last.j2 (layouts/base.j2:3): owner.email is undefined"
    assert (error.where, error.field) == ("layouts/base.j2:3", "owner.email")


def test_a_missing_nested_custom_field_is_named_by_its_whole_path(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Custom fields can hold mappings: the error names `lead.address.city`, not just `city`."""
    name = email_with(tmp_path, "{{ lead.first_name }}\n{{ lead.address.city }}")
    with pytest.raises(RenderError, match=r"^probe\.j2:2: lead\.address\.city is undefined$"):
        renderer.render_email(name, context(first_name="Ana", address={"zip": "1000"}))


def test_if_on_a_missing_name_is_false_rather_than_an_error(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Undefined names stay errors when printed, but `{% if x %}` may ask whether one is there."""
    name = email_with(tmp_path, "{% if lead.company %}at {{ lead.company }}{% endif %}.")
    assert renderer.render_email(name, context()).text == ".\n"
    assert renderer.render_email(name, context(company="Acme")).text == "at Acme.\n"
