"""Finding 12 (sandbox): a template author cannot build a multi-megabyte string in one
operation: `%`, `|format`, `|center` and the other width, padding and repetition operations are
bounded like `*` already was, and a rendered block stops at 1 MB."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.specs.rendering import Renderer, RenderError

BIG = 5_000_000  # the 5 MB strings of the report

AMPLIFIERS = [
    f'{{{{ "%{BIG}s" % "x" }}}}',
    f'{{{{ "%.{BIG}f" % 1.5 }}}}',
    '{{ "%*s" % (5000000, "x") }}',
    f'{{{{ "%{BIG}s"|format("x") }}}}',
    f'{{{{ "x"|center({BIG}) }}}}',
    f'{{{{ "x".center({BIG}) }}}}',
    f'{{{{ "x".ljust({BIG}) }}}}',
    f'{{{{ "x".rjust({BIG}) }}}}',
    f'{{{{ "1".zfill({BIG}) }}}}',
    f'{{{{ "{{:>{BIG}}}".format("x") }}}}',
    f'{{{{ "{{x:>{BIG}}}".format_map({{"x": 1}}) }}}}',
    f'{{{{ "x"|indent({BIG}, true) }}}}',
    '{{ ("\t" * 60000).expandtabs(100) }}',
    '{{ ("x" * 60000)|replace("x", "yyyyyyyyyy") }}',
    '{{ ("x" * 60000).replace("", "yy") }}',
    '{{ range(60000)|join("yyyyyyyyyy") }}',
    '{{ ("y" * 60000).join(["a", "b", "c"]) }}',
    '{{ ("x " * 50000)|wordwrap(1, wrapstring="yyyyyyyyyy") }}',
    "{{ [1, [2, [3]]]|tojson(indent=5000000) }}",
    '{{ [1]|batch(5000000, "x")|list }}',
    '{{ [1]|slice(5000000, "x")|list }}',
]


@pytest.mark.parametrize("source", AMPLIFIERS)
def test_one_operation_cannot_build_megabytes(source: str) -> None:
    """Finding 12: each of these would allocate megabytes; each is a RenderError instead."""
    with pytest.raises(RenderError, match=r"at most (100000|16)|not allowed"):
        Renderer(Path(".")).render_text(source, {})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ "%-6s|" % "ab" }}', "ab |"),
        ('{{ "%05.1f"|format(3.14159) }}', "003.1"),
        ('{{ "ab"|center(6) }}', "ab"),
        ('{{ "{:>4}".format(7) }}', "7"),
        ('{{ "a b"|replace(" ", "-") }}', "a-b"),
        ("{{ [1, 2]|join(', ') }}", "1, 2"),
        ('{{ "%(n)s!" % {"n": "hi"} }}', "hi!"),
        ("{{ 7 % 3 }}", "1"),
    ],
)
def test_ordinary_formatting_still_works(source: str, expected: str) -> None:
    """Finding 12: the bounds are far above anything an email needs."""
    assert Renderer(Path(".")).render_text(source, {}) == expected


def test_a_rendered_block_stops_at_a_megabyte(tmp_path: Path) -> None:
    """Finding 12: loops of small pieces are capped by the size of what the block renders."""
    (tmp_path / "t.j2").write_text(
        "{% block subject %}s{% endblock %}{% block text %}"
        "{% for i in range(100000) %}{{ 'x' * 99 }}{% endfor %}{% endblock %}"
    )
    with pytest.raises(RenderError, match="1000000 characters"):
        Renderer(tmp_path).render_email("t", {})
