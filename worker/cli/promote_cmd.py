"""`followup sequences promote NAME STEP VARIANT`: the winner becomes the step's only variant
for new enrollments (running ones keep their pinned version)."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli.common import console, fail
from worker.cli.context import cli_context
from worker.specs.catalog import CatalogError, load_catalog
from worker.specs.promotion import PromotionError, promote_text, write_atomically


def register(sequences: typer.Typer) -> None:
    sequences.command("promote")(promote)


def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="sequence name")],
    step: Annotated[str, typer.Argument(help="step id")],
    variant: Annotated[str, typer.Argument(help="the variant's id (its template by default)")],
) -> None:
    """Make VARIANT the only variant of STEP: rewrites the sequence file, so the next load pins a
    new version; enrollments already running keep the version they started with."""
    cli = cli_context(ctx)
    loaded = cli.catalog()
    spec = loaded.sequence(name)
    found = spec.step(step)
    if found is None or found.variants is None:
        with_variants = [s.id for s in spec.steps if s.variants] or ["none"]
        fail(
            f"{name} has no step {step!r} with variants (steps with variants: "
            f"{', '.join(with_variants)})"
        )
    names = [v.name for v in found.variants]
    winner = next((v for v in found.variants if variant in (v.name, v.email)), None)
    if winner is None:
        fail(
            f"step {step!r} of {name} has no variant {variant!r} (its variants: {', '.join(names)})"
        )
    if names == [winner.name]:
        console.print(f"{winner.name} is already the only variant of {name} / {step}")
        return
    path = loaded.catalog.files[name]
    try:
        text = promote_text(path.read_text(encoding="utf-8"), step, winner, was=names)
    except PromotionError as exc:
        fail(f"{path}: {exc}")
    write_atomically(path, text)
    try:
        pinned = load_catalog(
            loaded.settings.sequences_dir, loaded.renderer, loaded.settings.environment
        )
    except CatalogError as exc:  # cannot happen for a file that checked before; say so if it does
        fail(f"{path} was rewritten but no longer checks: {exc.errors[0]}")
    console.print(
        f"promoted {winner.name} in {name} / {step} ({path}): new enrollments run version "
        f"{pinned.sequence(name).version[:12]}; running enrollments keep the one they started with",
        highlight=False,
    )
