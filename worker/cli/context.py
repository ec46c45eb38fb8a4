"""The CLI's one injection point: Typer's context object carries the settings, the clock and
the runtime factory, so tests can point every command at their own database and virtual time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

import typer
from sqlmodel import Session

from worker.cli.common import EXIT_FOUND_ERRORS, fail, print_catalog_errors
from worker.engine.clock import Clock, SystemClock, system_clock
from worker.engine.db import make_engine, reading
from worker.engine.logs import configure_logging
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.schema import SchemaError, prepare_schema
from worker.engine.settings import ConfigError, Settings
from worker.specs.catalog import Catalog, CatalogError, UnknownSequence, load_catalog
from worker.specs.rendering import Renderer
from worker.specs.sequences import SequenceSpec

RuntimeFactory = Callable[[Settings, Clock], Runtime]


def default_runtime(settings: Settings, clock: Clock) -> Runtime:
    return build_runtime(settings, clock=clock)


@dataclass(frozen=True)
class LoadedCatalog:
    """The sequences folder as a command reads it: settings, renderer and the checked catalog."""

    settings: Settings
    renderer: Renderer
    catalog: Catalog

    def sequence(self, name: str) -> SequenceSpec:
        try:
            return self.catalog.sequence(name)
        except UnknownSequence as exc:
            fail(str(exc))


@dataclass
class CliContext:
    """What every command reaches through `ctx.obj`; run_cli builds the default one."""

    settings: Settings | None = None  # None: read the environment and .env when first needed
    clock: Clock = field(default_factory=SystemClock)
    make_runtime: RuntimeFactory = default_runtime

    def load_settings(self) -> Settings:
        """Read once per command; logging then takes its format and secrets from them."""
        if self.settings is None:
            try:
                self.settings = Settings.load()
            except ConfigError as exc:
                fail(str(exc))
            configure_logging(self.settings.log_format, secrets=self.settings.secret_values())
            if self.settings.clock_offset_seconds and type(self.clock) is SystemClock:
                self.clock = system_clock(self.settings.clock_offset_seconds)  # tests only
        return self.settings

    def require_secret(self) -> str:
        try:
            return self.load_settings().require_secret()
        except ConfigError as exc:
            fail(str(exc))

    @contextmanager
    def runtime(self, *, need_secret: bool = False) -> Iterator[Runtime]:
        """Settings -> checked catalog -> runtime, closed when the command is done; a bad
        sequence folder stops here with exit 1."""
        config = self.load_settings()
        _require_folder(config)
        if need_secret:
            self.require_secret()
        try:
            rt = self.make_runtime(config, self.clock)
        except CatalogError as exc:
            _fail_on_catalog(exc, config, "; nothing was started")
        except (SchemaError, ValueError) as exc:
            fail(str(exc))
        try:
            yield rt
        finally:
            rt.close()

    def catalog(self, *, required: bool = True) -> LoadedCatalog:
        """The sequences folder loaded and checked; `required=False`: none is an empty catalog."""
        config = self.load_settings()
        renderer = Renderer(config.templates_dir)
        if not required and not config.sequences_dir.is_dir():
            return LoadedCatalog(config, renderer, Catalog())
        _require_folder(config)
        try:
            catalog = load_catalog(config.sequences_dir, renderer, config.environment)
            return LoadedCatalog(config, renderer, catalog)
        except CatalogError as exc:
            _fail_on_catalog(exc, config)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session on the database, for commands that need no runtime; the schema
        check reads the stamp without SQLite's write lock (a new database is created)."""
        engine = make_engine(self.load_settings().database_url)
        try:
            try:
                prepare_schema(engine)
            except SchemaError as exc:
                fail(str(exc))
            with reading(engine) as session:
                yield session
        finally:
            engine.dispose()


def cli_context(ctx: typer.Context) -> CliContext:
    """The context run_cli passed in, or a default one (Typer's own test runner passes none)."""
    return ctx.ensure_object(CliContext)


def _require_folder(config: Settings) -> None:
    if not config.sequences_dir.is_dir():
        fail(f"sequences folder {config.sequences_dir} not found (set FOLLOWUP_SEQUENCES_DIR)")


def _fail_on_catalog(exc: CatalogError, config: Settings, suffix: str = "") -> NoReturn:
    print_catalog_errors(exc)
    fail(f"{len(exc.errors)} problem(s) in {config.sequences_dir}{suffix}", EXIT_FOUND_ERRORS)
