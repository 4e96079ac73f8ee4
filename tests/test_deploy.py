"""The deployment files: Dockerfile, .dockerignore, docker-compose.yml, .env.example, the scheduler
and the proxy's nginx.conf.

Docker cannot run where the tests run, so most of these read the files as a reviewer would and
check that they agree with each other and with the code: the CLI's sub-commands, the settings,
the API's port and paths. The scheduler's shell code is run for real: its start-up with a stand-in
for crond, and its job against a local HTTP server, with this machine's wget in place of busybox's.
The proxy runs for real in tests/test_proxy.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app.cli import build_parser
from app.cli.serve import GRACEFUL_SHUTDOWN_SECONDS
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
CRONTAB = ROOT / "deploy" / "scheduler" / "crontab"
POST_SH = ROOT / "deploy" / "scheduler" / "post.sh"
NGINX_CONF = ROOT / "deploy" / "proxy" / "nginx.conf"

IMAGE_SERVICES = ("migrate", "api", "worker")
"""The services that run the linecast image built from the Dockerfile."""
CONTEXT = {
    "app",
    "model",
    "preprocessing",
    "migrations",
    "alembic.ini",
    "pyproject.toml",
    "requirements.txt",
    "README.md",
}
"""What the image needs from the repository, and nothing else."""
CRON_JOBS = {"RETRAIN_CRON": "/v1/retrain", "DRIFT_CRON": "/v1/drift/run"}
"""The crontab's placeholders (replaced by the schedules when the scheduler starts) and the API
path each job posts to."""
SCHEDULES = {"RETRAIN_CRON": "*/15 8-17 * * 1-5", "DRIFT_CRON": "5 * * * *"}
"""Valid schedules for the start-up tests."""
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY")
# `$${` is Compose's escape for a literal `$` (shell code in a command), not a variable.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
"""Minute, hour, day of month, month, day of week (0 and 7 are both Sunday)."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return read_dockerfile(DOCKERFILE)


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines as Compose reads them; single or double quotes around a value dropped."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not NAME=value: {line!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        assert name not in values, f"{path.name}: {name} set twice"
        values[name] = value
    return values


def read_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continued lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an ENTRYPOINT/CMD; the shell form would not receive signals as PID 1."""
    value = json.loads(arguments)
    assert isinstance(value, list), f"not the exec (JSON array) form: {arguments}"
    return value


def compose_variables(text: str) -> set[str]:
    return set(COMPOSE_VARIABLE.findall(text))


@dataclass
class NginxBlock:
    """One nginx directive: its arguments, quotes removed, and its block's directives if any."""

    name: str
    args: list[str]
    children: list[NginxBlock] = field(default_factory=list)

    def all(self, name: str, *args: str) -> list[NginxBlock]:
        """The directives `name` in this block whose arguments start with `args`."""
        return [d for d in self.children if d.name == name and d.args[: len(args)] == list(args)]

    def one(self, name: str, *args: str) -> NginxBlock:
        (directive,) = self.all(name, *args)
        return directive


NGINX_TOKEN = re.compile(r"""\s+|#[^\n]*|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|[{};]|[^\s{};'"#]+""")


def read_nginx(path: Path) -> NginxBlock:
    """nginx's configuration syntax as far as this file uses it: directives, blocks, comments,
    quoted strings (which may hold braces and semicolons)."""
    root = NginxBlock("main", [])
    stack, words = [root], []
    for match in NGINX_TOKEN.finditer(path.read_text()):
        token = match.group()
        if token.isspace() or token.startswith("#"):
            continue
        if token in ("{", ";"):
            directive = NginxBlock(words[0], words[1:])
            stack[-1].children.append(directive)
            if token == "{":
                stack.append(directive)
            words = []
        elif token == "}":
            assert not words, f"{path.name}: a directive without ';' before '}}'"
            stack.pop()
        else:
            words.append(nginx_unquote(token) if token[0] in "'\"" else token)
    assert len(stack) == 1 and not words, f"{path.name}: unbalanced braces"
    return root


def nginx_unquote(token: str) -> str:
    """A quoted string's text, with nginx's escapes (`\\n`, `\\t`, `\\r`, `\\'`, ...) undone."""
    escapes = {"n": "\n", "t": "\t", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), token[1:-1])


def nginx_seconds(value: str) -> float:
    """An nginx time (`10s`, `2m`, `500ms`, bare seconds) in seconds."""
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[unit]


def nginx_bytes(value: str) -> int:
    """An nginx size (`20m`, `16k`, bare bytes) in bytes: k and m are powers of 1024."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG])?", value).groups()
    return int(number) * 1024 ** {None: 0, "k": 1, "m": 2, "g": 3}[unit and unit.lower()]


def nginx_listen_port(conf: NginxBlock) -> int:
    (listen,) = conf.one("http").one("server").one("listen").args
    return int(listen.rsplit(":", 1)[-1])


def compose_seconds(value: str) -> float:
    """A compose duration such as `30s` or `1m30s`, in seconds."""
    parts = re.findall(r"(\d+)(h|m|s)", value)
    assert "".join(n + u for n, u in parts) == value, f"not a duration: {value}"
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def is_cron_schedule(expression: str) -> bool:
    """Whether `expression` is five cron fields: numbers in range, `*`, ranges, lists, steps."""
    fields = expression.split()
    return len(fields) == len(CRON_RANGES) and all(
        is_cron_item(item, low, high)
        for text, (low, high) in zip(fields, CRON_RANGES, strict=True)
        for item in text.split(",")
    )


def is_cron_item(item: str, low: int, high: int) -> bool:
    match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/[1-9]\d*)?", item)
    numbers = [int(n) for n in match.group(2, 3) if n is not None] if match else [-1]
    return all(low <= n <= high for n in numbers) and numbers == sorted(numbers)


def linecast_commands(
    dockerfile: list[tuple[str, str]], services: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """Every argument list given to the image's `linecast` entrypoint, by where it is written."""
    stage = final_stage(dockerfile)
    (cmd,) = (arguments for keyword, arguments in stage if keyword == "CMD")
    commands = {"Dockerfile CMD": exec_form(cmd)}
    for name in IMAGE_SERVICES:
        commands[f"compose {name}"] = services[name]["command"]
    runs = re.findall(r"docker compose run --rm api (.+)", ENV_EXAMPLE.read_text())
    assert runs, ".env.example no longer says how to create the scheduler's key"
    for i, run in enumerate(runs):
        commands[f".env.example run {i}"] = shlex.split(run)
    return commands


def test_compose_file_has_the_services_and_no_version_key(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    # `version` is obsolete in the Compose specification, and recent Compose warns about it.
    assert "version" not in compose
    assert set(services) == {"postgres", "migrate", "api", "proxy", "worker", "scheduler"}
    for name in IMAGE_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == services["api"]["image"], name
    for name, service in services.items():
        assert service["restart"] in {"no", "unless-stopped", "always", "on-failure"}, name
    assert services["migrate"]["restart"] == "no", "a one-shot migration is not restarted"


def test_postgres_keeps_its_data_in_a_volume_and_has_a_healthcheck(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    postgres = services["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    mounts = dict(volume.split(":", 1) for volume in postgres["volumes"])
    assert set(mounts.values()) == {"/var/lib/postgresql/data"}
    (volume,) = mounts
    assert volume in compose["volumes"], f"{volume} is not a named volume"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres, "the database is reachable by the services only"


def test_only_the_proxy_publishes_a_port_and_the_api_serves_the_network(
    services: dict[str, dict[str, Any]],
) -> None:
    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"proxy"}, "everything else is reached through the compose network"
    (mapping,) = services["proxy"]["ports"]
    host, container = str(mapping).split(":")
    assert host == "8000", "clients keep the port they used before the proxy"
    assert int(container) == nginx_listen_port(read_nginx(NGINX_CONF))
    assert [str(port) for port in services["api"]["expose"]] == ["8000"]
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose up --scale worker=4` (README) refuses a service with a fixed container
    name or a published host port: only one container could have either."""
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"] == ["worker"]


def test_api_starts_after_postgres_is_healthy_and_the_schema_migrated(
    services: dict[str, dict[str, Any]],
) -> None:
    api = services["api"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"] == api["depends_on"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["scheduler"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_only_the_api_keeps_the_images_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    # The image's HEALTHCHECK probes /healthz; a service serving no HTTP would be marked
    # unhealthy forever.
    assert "healthcheck" not in services["api"]
    for name in ("migrate", "worker"):
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_compose_fixes_the_settings_a_deployment_must_not_leave_to_defaults(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in IMAGE_SERVICES:
        service = services[name]
        environment = service["environment"]
        assert environment["LINECAST_ENVIRONMENT"] == "production", name
        assert environment["LINECAST_IN_PROCESS_JOBS"] == "false", name
        # With the password's `${...}` (whose message holds a `?`) as if it were set.
        url = urlsplit(re.sub(r"\$\{[^}]*\}", "set", environment["LINECAST_DATABASE_URL"]))
        assert (url.scheme, url.hostname, url.port) == ("postgresql+psycopg", "postgres", 5432)
        postgres = services["postgres"]["environment"]
        assert (url.username, url.path) == (
            postgres["POSTGRES_USER"],
            "/" + postgres["POSTGRES_DB"],
        ), name
        assert service["env_file"] == ".env", name


def test_every_variable_is_in_env_example_and_nothing_there_is_stale(
    services: dict[str, dict[str, Any]],
    env_example: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used = compose_variables(COMPOSE.read_text())
    assert used, "the compose file reads no variables: the pattern must be wrong"
    assert not used - set(env_example), "used in docker-compose.yml, missing from .env.example"
    # The rest reaches the linecast services through `env_file: .env` and must be a setting that
    # pydantic reads: a misspelt LINECAST_* name would be ignored without a word.
    settings = {f"LINECAST_{name.upper()}" for name in Settings.model_fields}
    through_env_file = set(env_example) - used
    assert through_env_file <= settings, "in .env.example, read by nothing"
    fixed = set().union(*(services[name]["environment"] for name in IMAGE_SERVICES))
    assert not through_env_file & fixed, "in .env.example, but overridden by the compose file"
    for name in list(os.environ):
        if name.startswith("LINECAST_"):
            monkeypatch.delenv(name)
    for name in through_env_file:
        monkeypatch.setenv(name, env_example[name])
    Settings()  # the example's values are ones the settings accept


def test_no_secret_has_a_value_in_the_compose_file_or_the_example(
    services: dict[str, dict[str, Any]], env_example: dict[str, str]
) -> None:
    text = COMPOSE.read_text()
    secrets = {
        name for name in compose_variables(text) | set(env_example) if SECRET_NAME.search(name)
    }
    assert secrets >= {"POSTGRES_PASSWORD", "LINECAST_ADMIN_KEY"}
    for name in secrets:
        assert not re.search(r"(?<!\$)\$\{" + name + r":?-", text), f"{name} has a default"
        assert env_example.get(name) == "", f"{name} has a value in .env.example"
    assert "${POSTGRES_PASSWORD:?" in text, "compose must refuse to start without the password"
    for service_name, service in services.items():
        for name, value in service.get("environment", {}).items():
            if SECRET_NAME.search(name):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", value), f"{service_name}: {name}"
        url = service.get("environment", {}).get("LINECAST_DATABASE_URL")
        if url is not None:
            assert re.search(r"://\w+:\$\{POSTGRES_PASSWORD:\?[^}]*\}@", url), service_name


@pytest.fixture(scope="module")
def nginx() -> NginxBlock:
    return read_nginx(NGINX_CONF)


def test_the_proxy_runs_the_official_image_with_our_config_read_only(
    services: dict[str, dict[str, Any]],
) -> None:
    proxy = services["proxy"]
    image, _, tag = proxy["image"].partition(":")
    assert image == "nginx" and tag and tag != "latest", "the official image, pinned"
    assert proxy["volumes"] == ["./deploy/proxy/nginx.conf:/etc/nginx/nginx.conf:ro"]
    port = nginx_listen_port(read_nginx(NGINX_CONF))
    assert f"http://127.0.0.1:{port}/healthz" in proxy["healthcheck"]["test"]


def test_the_proxy_times_out_slow_clients(nginx: NginxBlock) -> None:
    http = nginx.one("http")
    for name in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        (value,) = http.one(name).args
        assert 0 < nginx_seconds(value) <= 60, f"{name} {value}"
    assert 0 < nginx_seconds(http.one("keepalive_timeout").args[0]) <= 75
    assert http.one("server_tokens").args == ["off"]


def test_the_proxy_body_limit_is_the_apis(nginx: NginxBlock) -> None:
    limit = Settings.model_fields["max_request_bytes"].default
    (size,) = nginx.one("http").one("client_max_body_size").args
    assert nginx_bytes(size) == limit, "LINECAST_MAX_REQUEST_BYTES' default and the proxy's"
    server = nginx.one("http").one("server")
    assert server.one("error_page", "413").args == ["413", "@too_large"]
    status, body = server.one("location", "@too_large").one("return").args
    assert status == "413" and f"limit of {limit} bytes" in json.loads(body)["detail"]


def test_the_proxy_passes_to_the_api_with_forwarding_headers_and_time_enough(
    nginx: NginxBlock, services: dict[str, dict[str, Any]]
) -> None:
    location = nginx.one("http").one("server").one("location", "/")
    variable, upstream = location.one("set").args
    assert location.one("proxy_pass").args == [variable]
    url = urlsplit(upstream)
    assert (url.hostname, str(url.port)) == ("api", *map(str, services["api"]["expose"]))
    forwarded = {d.args[0]: d.args[1] for d in location.all("proxy_set_header")}
    assert forwarded["X-Forwarded-For"] == "$remote_addr"
    assert forwarded["X-Forwarded-Proto"] == "$scheme"
    assert forwarded["X-Request-ID"] == "$linecast_request_id"
    # No call of ours waits longer than the scheduler's wget, whose budget is 60 s.
    (read,) = location.one("proxy_read_timeout").args
    assert nginx_seconds(read) >= int(re.search(r"-T (\d+)", POST_SH.read_text()).group(1))


def test_the_proxy_denies_metrics(nginx: NginxBlock) -> None:
    server = nginx.one("http").one("server")
    status, body = server.one("location", "/metrics").one("return").args
    assert status == "404" and json.loads(body)["detail"] == "Not Found"
    # A prefix match, the only one besides "/": nothing more specific can win over it.
    prefixes = [d.args for d in server.all("location") if not d.args[0].startswith("@")]
    assert sorted(prefixes) == [["/"], ["/metrics"]]


def test_the_api_and_worker_stop_within_their_grace_period(
    services: dict[str, dict[str, Any]],
) -> None:
    # Docker's default is 10 s, then SIGKILL: a stop that needs longer must say so here. The
    # API waits for requests in flight first; tests/jobs/test_stopping.py times the rest.
    for name in ("api", "worker"):
        assert 10 < compose_seconds(services[name]["stop_grace_period"]) <= 60, name
    api_grace = compose_seconds(services["api"]["stop_grace_period"])
    assert api_grace >= GRACEFUL_SHUTDOWN_SECONDS + 10


def test_every_linecast_command_is_a_real_subcommand(
    dockerfile: list[tuple[str, str]], services: dict[str, dict[str, Any]]
) -> None:
    # Parsed as the image's entrypoint would parse them: a sub-command or option renamed in
    # app/cli/ fails here, not in the first deployment.
    (entrypoint,) = (args for keyword, args in final_stage(dockerfile) if keyword == "ENTRYPOINT")
    assert exec_form(entrypoint) == ["linecast"]
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = set(action.choices)
    for where, argv in linecast_commands(dockerfile, services).items():
        assert argv[0] != "linecast", f"{where}: the entrypoint is linecast already: {argv}"
        assert argv[0] in known, f"{where}: no sub-command {argv[0]!r} in {sorted(known)}"
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: linecast rejects the arguments {argv}")


def test_dockerfile_builds_cpu_torch_in_two_stages_and_runs_as_non_root(
    dockerfile: list[tuple[str, str]],
) -> None:
    bases = [args.split()[0] for keyword, args in dockerfile if keyword == "FROM"]
    assert len(bases) >= 2
    assert set(bases) - {"builder"} == {"python:3.11-slim"}
    runs = [args for keyword, args in dockerfile if keyword == "RUN"]
    (torch,) = (run for run in runs if "torch" in run)
    # The lock's torch line (the CPU build), from the CPU index; then the lock itself.
    assert "\"$(grep '^torch==' requirements.txt)\"" in torch
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch
    assert "pip install -r requirements.txt" in torch
    assert "torch==2.13.0+cpu" in (ROOT / "requirements.txt").read_text().splitlines()
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the final stage runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_copies_exactly_the_build_context(dockerfile: list[tuple[str, str]]) -> None:
    sources = set()
    for keyword, arguments in dockerfile:
        words = arguments.split()
        if keyword in {"COPY", "ADD"} and not words[0].startswith("--from="):
            assert keyword == "COPY", "ADD fetches and unpacks; COPY only copies"
            sources |= {source.rstrip("/") for source in words[:-1]}
    assert sources == CONTEXT
    # An allowlist: everything is excluded, then exactly what the Dockerfile copies let back in.
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == CONTEXT


def test_dockerfile_healthcheck_probes_healthz_without_curl(
    dockerfile: list[tuple[str, str]],
) -> None:
    (check,) = (args for keyword, args in final_stage(dockerfile) if keyword == "HEALTHCHECK")
    command = exec_form(check[check.index("CMD ") + len("CMD ") :])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/healthz" in command[2]
    assert not [args for _, args in dockerfile if "curl" in args], "curl is not in the image"
    (cmd,) = (args for keyword, args in final_stage(dockerfile) if keyword == "CMD")
    assert exec_form(cmd)[-2:] == ["--port", "8000"], "the healthcheck probes port 8000"


@pytest.mark.parametrize("expression", ["0 3 * * *", "*/15 8-17 * * 1-5", "30 2 1,15 * 0"])
def test_the_cron_check_accepts(expression: str) -> None:
    assert is_cron_schedule(expression)


@pytest.mark.parametrize("expression", ["0 3 * *", "0 3 * * * *", "60 3 * * *", "0 3 * 0 *"])
def test_the_cron_check_refuses(expression: str) -> None:
    assert not is_cron_schedule(expression)


def crontab_jobs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_crontab_runs_retrain_and_drift_on_valid_schedules(
    services: dict[str, dict[str, Any]], env_example: dict[str, str]
) -> None:
    jobs = dict(job.split(" ", 1) for job in crontab_jobs(CRONTAB.read_text()))
    assert set(jobs) == set(CRON_JOBS)
    assert "./deploy/scheduler:/scheduler:ro" in services["scheduler"]["volumes"]
    for token, path in CRON_JOBS.items():
        assert shlex.split(jobs[token])[:3] == ["/bin/sh", "/scheduler/post.sh", path]
        (default,) = re.findall(rf"\$\{{{token}:-([^}}]*)\}}", COMPOSE.read_text())
        assert default == env_example[token]
        assert is_cron_schedule(default)
    assert env_example["RETRAIN_CRON"] == "0 3 * * *"


def test_scheduler_posts_to_the_api_service() -> None:
    script = POST_SH.read_text()
    match = re.search(r"\$\{API_URL:-([^}]+)\}", script)
    assert match, "post.sh has no default API URL"
    url = urlsplit(match.group(1))
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", "api", 8000, "")
    assert "--post-data" in script
    assert '"Authorization: Bearer ${LINECAST_ADMIN_KEY}"' in script


def test_the_schedulers_shell_code_leaves_its_variables_to_the_shell(
    services: dict[str, dict[str, Any]],
) -> None:
    # A single `$` would be filled in by Compose from the host's environment when the file is
    # read, not by the container's shell from the scheduler's.
    script = services["scheduler"]["command"][-1]
    assert not compose_variables(script), "write `$$` for the shell's variables"


@pytest.fixture
def scheduler_start(services: dict[str, dict[str, Any]], tmp_path: Path) -> str:
    """The scheduler's start-up script, writing its crontab to `tmp_path / "root"`.

    `crond` on the PATH (see `run_shell`) is a stand-in that writes its arguments to
    `tmp_path / "crond-args"`: the real one would wait for the schedule.
    """
    shell, flags, script = services["scheduler"]["command"]
    assert (shell, flags) == ("/bin/sh", "-euc")
    assert all(token in script for token in CRON_JOBS)
    script = script.replace("$$", "$")  # Compose's escape, undone as Compose does
    script = script.replace("/scheduler/crontab", str(CRONTAB))
    script = script.replace("/etc/crontabs/root", str(tmp_path / "root"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    crond = bin_dir / "crond"
    crond.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "crond-args"}\n')
    crond.chmod(0o755)
    return script


def run_shell(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `argv` in `tmp_path` with only `env`, `HOME` and a `PATH` that puts `tmp_path/bin`
    first; no proxy variables, so local requests stay local. The timeout only keeps a hung shell
    from stalling the suite."""
    env |= {"HOME": str(tmp_path), "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(
        argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )


def test_scheduler_start_writes_the_schedule_into_the_crontab(
    scheduler_start: str, tmp_path: Path
) -> None:
    done = run_shell(
        ["sh", "-euc", scheduler_start],
        tmp_path,
        LINECAST_ADMIN_KEY="lc_abcdefghijkl_secret",
        **SCHEDULES,
    )
    assert done.returncode == 0, done.stderr
    templates = crontab_jobs(CRONTAB.read_text())
    expected = [
        SCHEDULES[line.split(" ", 1)[0]] + " " + line.split(" ", 1)[1] for line in templates
    ]
    assert crontab_jobs((tmp_path / "root").read_text()) == expected
    assert (tmp_path / "crond-args").read_text().split() == ["-f", "-d", "8"]


@pytest.mark.parametrize(
    ("schedules", "key", "message"),
    [
        ({"RETRAIN_CRON": "0 3 * *"}, "lc_abcdefghijkl_secret", "RETRAIN_CRON needs 5 fields"),
        ({"DRIFT_CRON": "* * * * * *"}, "lc_abcdefghijkl_secret", "DRIFT_CRON needs 5 fields"),
        ({}, "", "LINECAST_ADMIN_KEY is empty"),
    ],
)
def test_scheduler_refuses_to_start_misconfigured(
    scheduler_start: str, tmp_path: Path, schedules: dict[str, str], key: str, message: str
) -> None:
    done = run_shell(
        ["sh", "-euc", scheduler_start],
        tmp_path,
        LINECAST_ADMIN_KEY=key,
        **{**SCHEDULES, **schedules},
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "crond-args").exists()


@dataclass
class RetrainStub:
    """A local HTTP server standing in for the API: it records requests, answers `status`."""

    status: int = 202
    requests: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    """(path, Authorization, Content-Type, body) of each POST."""
    url: str = ""


@pytest.fixture
def retrain_stub() -> Iterator[RetrainStub]:
    stub = RetrainStub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            stub.requests.append(
                (self.path, self.headers["Authorization"], self.headers["Content-Type"], body)
            )
            answer = b'{"queued": 2}'
            self.send_response(stub.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()


def run_post(
    stub: RetrainStub, key: str, tmp_path: Path, path: str = "/v1/retrain"
) -> subprocess.CompletedProcess[str]:
    if shutil.which("wget") is None:
        pytest.skip("wget is not installed; the scheduler image has busybox's")
    return run_shell(["sh", str(POST_SH), path], tmp_path, API_URL=stub.url, LINECAST_ADMIN_KEY=key)


@pytest.mark.parametrize("path", sorted(CRON_JOBS.values()))
def test_each_job_posts_with_the_admin_key(
    retrain_stub: RetrainStub, tmp_path: Path, path: str
) -> None:
    done = run_post(retrain_stub, "lc_abcdefghijkl_secret", tmp_path, path)
    assert done.returncode == 0, done.stderr
    assert retrain_stub.requests == [
        (path, "Bearer lc_abcdefghijkl_secret", "application/json", b"{}")
    ]
    assert f'POST {path}: {{"queued": 2}}' in done.stdout


def test_retrain_fails_loudly_when_the_api_refuses(
    retrain_stub: RetrainStub, tmp_path: Path
) -> None:
    retrain_stub.status = 401
    done = run_post(retrain_stub, "lc_abcdefghijkl_revoked", tmp_path)
    assert done.returncode == 1
    assert f"POST {retrain_stub.url}/v1/retrain failed" in done.stderr
    assert len(retrain_stub.requests) == 1


def test_retrain_sends_nothing_without_a_key(retrain_stub: RetrainStub, tmp_path: Path) -> None:
    done = run_post(retrain_stub, "", tmp_path)
    assert done.returncode == 2
    assert "LINECAST_ADMIN_KEY is empty" in done.stderr
    assert retrain_stub.requests == []
