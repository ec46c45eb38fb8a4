"""A/B variants: assignment is a stable hash that follows the weights; the statistics behind the
report; the verdicts; and a variants: block written wrong names its file and line."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testkit.harness import write_files
from worker.compliance.stats import sends_needed, two_proportion_test, wilson_interval
from worker.compliance.variants import VariantRow, judge
from worker.specs.catalog import CatalogError, load_catalog
from worker.specs.rendering import Renderer
from worker.specs.variants import VariantSpec, assignment_point, choose_variant

LEADS = 10_000
TOLERANCE = 0.03  # six standard errors of a share at 10,000 leads (at most 0.005 each)


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(
        st.floats(min_value=0.2, max_value=20, allow_nan=False), min_size=2, max_size=5
    ),
    salt=st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=8),
)
def test_assignment_is_stable_and_follows_the_weights(weights: list[float], salt: str) -> None:
    """Over 10,000 leads each variant's share is its weight's share within 3 points, and asking
    again (a retry, a restart, a re-render) always gives the same variant."""
    variants = [VariantSpec(email=f"t/v{n}", weight=w) for n, w in enumerate(weights)]
    emails = [f"lead{n}.{salt}@example.com" for n in range(LEADS)]
    chosen = [choose_variant(variants, lead_email=e, sequence="s", step="intro") for e in emails]
    counts = Counter(v.name for v in chosen)
    total = sum(weights)
    for variant in variants:
        assert abs(counts[variant.name] / LEADS - variant.weight / total) < TOLERANCE
    again = [
        choose_variant(variants, lead_email=e, sequence="s", step="intro") for e in emails[:500]
    ]
    assert again == chosen[:500]


def test_the_point_depends_on_lead_sequence_and_step_only() -> None:
    """Case and spaces of the address do not move a lead; another step or sequence draws anew."""
    point = assignment_point("Ana@Example.com ", "s", "intro")
    assert point == assignment_point("ana@example.com", "s", "intro")
    assert 0 <= point < 1
    assert point != assignment_point("ana@example.com", "s", "bump")
    assert point != assignment_point("ana@example.com", "other", "intro")


def test_wilson_interval_matches_the_textbook_values() -> None:
    """Known values: 10 of 100 gives (0.0552, 0.1744); 0 of 50 still has an upper bound."""
    low, high = wilson_interval(10, 100) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.0552, 0.1744)
    low, high = wilson_interval(0, 50) or (1, 1)
    assert low == 0 and round(high, 4) == 0.0713
    assert wilson_interval(0, 0) is None


def test_the_two_proportion_test_matches_a_worked_example() -> None:
    """20/200 against 40/200: pooled rate 0.15, z = 0.1 / sqrt(0.15 * 0.85 * 2/200) = 2.8006,
    two-sided p = 0.0051."""
    tested = two_proportion_test(20, 200, 40, 200)
    assert tested is not None
    z, p = tested
    assert math.isclose(z, 2.8006, abs_tol=1e-4) and round(p, 4) == 0.0051
    assert two_proportion_test(0, 100, 0, 100) is None  # no replies anywhere: nothing to test


def test_sends_needed_grows_as_the_difference_shrinks() -> None:
    """5% vs 10% needs about 435 sends each at alpha 0.05 and 80% power; 5% vs 6% far more."""
    assert sends_needed(0.05, 0.10, alpha=0.05) == 435
    assert (sends_needed(0.05, 0.06, alpha=0.05) or 0) > 8000
    assert sends_needed(0.05, 0.05, alpha=0.05) is None


def rows(*figures: tuple[str, int, int]) -> list[VariantRow]:
    return judge([VariantRow("s", "intro", name, sent, replies) for name, sent, replies in figures])


def test_no_winner_is_named_before_the_minimum_sample() -> None:
    """A big gap on 60 sends each is still 'collecting', however small its p-value."""
    control, other = rows(("a", 60, 1), ("b", 60, 15))
    assert (control.verdict, other.verdict) == ("control", "collecting")
    assert other.p_value is not None and other.p_value < 0.001


def test_a_clear_difference_past_the_minimum_names_the_winner() -> None:
    """200 sends each, 10% against 20%: b wins; its interval and p-value are reported."""
    control, other = rows(("a", 200, 20), ("b", 200, 40))
    assert other.verdict == "winner" and control.verdict == "control"
    assert other.ci_low is not None and other.ci_low < 0.2 < (other.ci_high or 0)


def test_a_small_difference_is_no_difference_and_says_how_many_sends_would_tell() -> None:
    """10% against 11% on 300 each is within chance."""
    _, other = rows(("a", 300, 30), ("b", 300, 33))
    assert other.verdict == "no difference"
    assert (other.sends_needed or 0) > 10_000


def test_with_three_variants_the_test_is_stricter_and_a_worse_one_is_said() -> None:
    """Bonferroni: each comparison at 0.025; c below the control is 'worse'."""
    control, b, c = rows(("a", 400, 80), ("b", 400, 100), ("c", 400, 40))
    assert c.verdict == "worse"
    assert b.p_value is not None and b.p_value > 0.025 and b.verdict == "no difference"
    assert control.verdict == "control"


def test_when_every_other_variant_is_worse_the_first_is_the_winner() -> None:
    """The control can win too."""
    control, other = rows(("a", 300, 60), ("b", 300, 20))
    assert (control.verdict, other.verdict) == ("winner", "worse")


SEQUENCE = """name: s
trigger: lead.mql
steps:
  - id: intro
    variants:
      - email: t/a
      - email: t/b
        weight: 3
"""
BODY = "{% block subject %}Hi{% endblock %}{% block text %}Hi {{ unsubscribe_url }}{% endblock %}"
TEMPLATES = {name: BODY for name in ("t/a.j2", "t/b.j2")}


def errors(tmp_path: Path, text: str) -> list[tuple[int | None, str]]:
    write_files(tmp_path / "sequences", {"s.yaml": text})
    write_files(tmp_path / "templates", TEMPLATES)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))
    return [(e.line, e.problem) for e in caught.value.errors]


def test_a_good_variants_step_loads_and_pins_every_variants_template(tmp_path: Path) -> None:
    """The control case: both templates travel with the pinned version."""
    write_files(tmp_path / "sequences", {"s.yaml": SEQUENCE})
    write_files(tmp_path / "templates", TEMPLATES)
    catalog = load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))
    spec = catalog.sequences["s"]
    assert set(spec.templates) == {"t/a.j2", "t/b.j2"}
    assert [v.name for v in spec.steps[0].variants or []] == ["t/a", "t/b"]


@pytest.mark.parametrize(
    ("change", "line", "fragment"),
    [
        (("weight: 3", "weight: 0"), 8, "weight: Input should be greater than 0"),
        (("weight: 3", "weight: -2"), 8, "weight: Input should be greater than 0"),
        (("email: t/b", "email: t/nope"), 7, "template 't/nope.j2' not found"),
        (("email: t/b", "email: t/a"), 4, "variant 't/a' is listed twice"),
        (
            ("    variants:", "    email: t/a\n    variants:"),
            4,
            "exactly one of 'email', 'variants'",
        ),
        (("      - email: t/b\n        weight: 3\n", ""), None, None),
    ],
)
def test_a_bad_variants_block_names_the_file_and_line(
    tmp_path: Path, change: tuple[str, str], line: int | None, fragment: str | None
) -> None:
    """Weights that are not positive, a missing template, a variant twice, email beside
    variants: each is refused at its line, so nothing starts. (One variant alone is fine.)"""
    text = SEQUENCE.replace(*change)
    if line is None:
        write_files(tmp_path / "sequences", {"s.yaml": text})
        write_files(tmp_path / "templates", TEMPLATES)
        load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))
        return
    [(found_line, problem)] = errors(tmp_path, text)
    assert found_line == line and fragment is not None and fragment in problem, problem


def test_the_sparse_lead_check_reads_each_variant_at_its_own_line(tmp_path: Path) -> None:
    """A variant that needs a first name a lead may not have is named at that variant's line."""
    from worker.specs.sparse_lead import sparse_lead_warnings

    needs_name = BODY.replace(
        "Hi {{ unsubscribe_url }}", "Hi {{ lead.first_name }} {{ unsubscribe_url }}"
    )
    write_files(tmp_path / "sequences", {"s.yaml": SEQUENCE})
    write_files(tmp_path / "templates", {"t/a.j2": BODY, "t/b.j2": needs_name})
    renderer = Renderer(tmp_path / "templates")
    catalog = load_catalog(tmp_path / "sequences", renderer)
    [warning] = sparse_lead_warnings(catalog, renderer, default_from=None)
    assert (warning.path.name, warning.line) == ("b.j2", 1)
    assert warning.problem.startswith("lead.first_name has no default")
    assert warning.problem.endswith(f"used by {tmp_path / 'sequences' / 's.yaml'}:7 step 'intro'")
