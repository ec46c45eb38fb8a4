"""docker-compose.yml, the Dockerfile and deploy/ checked without a Docker engine: every command
is a real `followup` command, every variable it needs is set and valid, ports do not clash,
start-up waits for the migration, and every metric a rule or panel names is exported."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from prometheus_client import REGISTRY

from worker.cli.app import app
from worker.engine.db import make_engine
from worker.engine.metrics_state import StateCollector
from worker.engine.schema import prepare_schema
from worker.engine.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
FOLLOWUP = {name: s for name, s in SERVICES.items() if s.get("command", [""])[0] == "followup"}
LONG_RUNNING = ("api", "scheduler", "worker")
NEEDS = {  # what each command needs beyond the defaults, in a deployment of several containers
    "api": {"FOLLOWUP_DATABASE_URL", "FOLLOWUP_REDIS_URL", "FOLLOWUP_SECRET_KEY"},
    "scheduler": {"FOLLOWUP_DATABASE_URL", "FOLLOWUP_REDIS_URL", "FOLLOWUP_SECRET_KEY"},
    "worker": {
        "FOLLOWUP_DATABASE_URL",
        "FOLLOWUP_REDIS_URL",
        "FOLLOWUP_SECRET_KEY",
        "FOLLOWUP_SMTP_URL",
    },
    "db upgrade": {"FOLLOWUP_DATABASE_URL"},
    "inbox": {"FOLLOWUP_DATABASE_URL", "FOLLOWUP_REDIS_URL"},  # events go to the workers
}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """What compose would substitute: `${X:-default}` its default, `${X:?why}` a set value."""

    def one(match: re.Match[str]) -> str:
        kind, rest = match[2], match[3] or ""
        return rest if kind == "-" else "a-value-the-operator-sets-in-.env-0123456789"

    return INTERPOLATION.sub(one, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in (service.get("environment") or {}).items()}


def command_path(args: list[str]) -> str:
    """Parse `followup ARGS` with the real CLI (the leaf's options checked): e.g. "db upgrade"."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while isinstance(getattr(command, "commands", None), dict):
        if not rest and getattr(command, "invoke_without_command", False):
            break  # a group that runs by itself (`followup inbox`: the watcher)
        assert rest and rest[0] in command.commands, f"no command {' '.join([*path, *rest[:1]])}"
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    command.make_context(" ".join(path), rest)  # raises on an unknown option or bad value
    return " ".join(path)


@pytest.mark.parametrize("name", sorted(FOLLOWUP))
def test_every_service_runs_a_real_followup_command_with_what_it_needs(name: str) -> None:
    """The command parses with the CLI itself; the variables it needs are set, their values
    load as Settings, and the hosts in its URLs are services of this file."""
    service = FOLLOWUP[name]
    path = command_path(service["command"][1:])
    assert path in NEEDS, f"{name}: `followup {path}` is not a known service command"
    env = environment(service)
    assert NEEDS[path] <= set(env), f"{name} lacks {NEEDS[path] - set(env)}"
    settings = Settings.from_mapping(env)
    for url in (settings.database_url, settings.redis_url, settings.smtp_url):
        if url and "://" in url:
            assert urlsplit(url).hostname in SERVICES, f"{name}: {url} names no service"
    assert settings.database_url.startswith("postgresql"), "containers cannot share SQLite"


def test_api_scheduler_and_worker_start_after_the_migration_succeeded() -> None:
    """`migrate` (followup db upgrade, run once) waits for a healthy PostgreSQL; the processes
    wait for it to complete, since they refuse a database that is behind."""
    migrate = SERVICES["migrate"]
    assert command_path(migrate["command"][1:]) == "db upgrade"
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["postgres"]["healthcheck"]["test"]
    for name in LONG_RUNNING:
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port."""
    found = []
    for entry in service.get("ports", []):
        address, host, container = interpolate(entry).rsplit(":", 2)
        found.append((address, int(host), int(container)))
    return found


def test_published_ports_are_on_loopback_and_do_not_clash() -> None:
    """Every published port binds 127.0.0.1 by default (security review), none is used twice."""
    published = [port for service in SERVICES.values() for port in _published(service)]
    assert all(address == "127.0.0.1" for address, _, _ in published), published
    hosts = [host for _, host, _ in published]
    assert len(hosts) == len(set(hosts)), hosts


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_each_process_is_checked_on_readyz_at_the_port_it_listens_on(name: str) -> None:
    """The healthcheck asks /readyz where the process serves it: the API's --port, else
    FOLLOWUP_METRICS_PORT, which is also the port published for Prometheus."""
    service = FOLLOWUP[name]
    args = service["command"]
    env = environment(service)
    port = int(args[args.index("--port") + 1]) if "--port" in args else None
    port = port or int(env["FOLLOWUP_METRICS_PORT"])
    assert env.get("FOLLOWUP_METRICS_HOST", "0.0.0.0") == "0.0.0.0" or name == "api"
    assert [container for _, _, container in _published(service)] == [port]
    test = service["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "worker.engine.probe"]
    assert test[4] == f"http://127.0.0.1:{port}/readyz"
    assert (REPOSITORY / "worker/engine/probe.py").is_file()


def test_the_inbox_watcher_runs_beside_the_scheduler_with_its_own_metrics_port() -> None:
    """`followup inbox` is a service of its own, after the migration, with a /readyz check."""
    inbox = FOLLOWUP["inbox"]
    assert inbox["command"] == ["followup", "inbox"]
    assert environment(inbox)["FOLLOWUP_METRICS_PORT"] == "9103"
    assert "9103/readyz" in " ".join(inbox["healthcheck"]["test"])
    assert inbox["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_dockerfile_installs_the_lock_runs_unprivileged_and_checks_health() -> None:
    """From the lock with hashes (before the code, for caching), the project without
    resolving, a non-root user, a HEALTHCHECK; every COPY source exists."""
    lines = [
        line.strip()
        for line in (REPOSITORY / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    text = "\n".join(lines)
    assert lines[0].startswith("FROM python:3.11")
    lock = text.index("pip install --require-hashes -r requirements/main.lock")
    assert lock < text.index("COPY worker") < text.index("pip install --no-deps")
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert text.index("USER ") > text.index("pip install --no-deps")
    assert "HEALTHCHECK" in text and "worker.engine.probe" in text
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPOSITORY / source).exists(), source


def exported_names(folder: Path) -> set[str]:
    """Every sample name followup can export: the process metrics, and the state read at
    scrape time (collected here from a fresh database and a stub broker)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    engine = make_engine(f"sqlite:///{folder / 'followup.db'}")
    prepare_schema(engine)
    state = StateCollector(engine, lambda: datetime.now(UTC), lambda: ({"touches": 0}, {}))
    names = set()
    for family in [*REGISTRY.collect(), *state.collect()]:
        for suffix in suffixes.get(family.type, [""]):
            names.add(family.name + suffix)
    engine.dispose()
    return names


def _expressions() -> list[str]:
    rules = yaml.safe_load((REPOSITORY / "deploy/alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((REPOSITORY / "deploy/grafana-dashboard.json").read_text("utf-8"))
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return exprs


def test_alert_rules_and_dashboard_name_only_exported_metrics(tmp_path: Path) -> None:
    """A renamed metric breaks its panel and its alert silently; here it fails the build."""
    import worker.engine.queue_metrics  # noqa: F401  # registers the queue metrics

    known = exported_names(tmp_path)
    used = {name for expr in _expressions() for name in re.findall(r"followup_[a-z_]+", expr)}
    assert used and used <= known, used - known


def test_the_three_alerts_the_operators_asked_for_are_there() -> None:
    """Backlog growing, lag over a minute, send failures over 5% (each with a `for`)."""
    rules = yaml.safe_load((REPOSITORY / "deploy/alerts.yml").read_text(encoding="utf-8"))
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {"FollowupBacklogGrowing", "FollowupSchedulerLag", "FollowupSendFailures"} <= set(alerts)
    assert "> 60" in alerts["FollowupSchedulerLag"]["expr"]
    assert "> 0.05" in alerts["FollowupSendFailures"]["expr"]
    assert all(rule.get("for") for rule in alerts.values())


def test_prometheus_scrapes_the_ports_the_compose_services_serve() -> None:
    """Each scrape target is a compose service and the port it publishes or listens on."""
    config = yaml.safe_load((REPOSITORY / "deploy/prometheus.yml").read_text(encoding="utf-8"))
    for job in config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            assert host in SERVICES, target
            assert int(port) in [c for _, _, c in _published(SERVICES[host])], target
    assert (REPOSITORY / "deploy" / config["rule_files"][0]).is_file()
