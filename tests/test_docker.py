"""Static checks of docker/: Docker cannot run here, so the files are parsed instead.

They check that every container command names code that exists in this repository or
in the locked dependencies, that every variable the compose file reads is documented in
.env.example, and that the image follows the rules in the foundation issue.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
DOCKER_DIR = BASE_DIR / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
ENV_EXAMPLE = BASE_DIR / ".env.example"

WORKER_SERVICES = (
    "worker-webhooks",
    "worker-emails",
    "worker-seats",
    "worker-usage",
    "worker-default",
)
APP_SERVICES = ("migrate", "web", *WORKER_SERVICES, "beat", "flower")
EXPECTED_SERVICES = {"postgres", "redis", *APP_SERVICES}

# `${NAME}`, `${NAME:-default}`, `${NAME:?error}`; `$${NAME}` is an escaped literal `$`.
COMPOSE_VAR_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
# `NAME=value` or a commented-out `# NAME=value` in .env.example.
ENV_EXAMPLE_VAR_RE = re.compile(r"^\s*#?\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*=", re.MULTILINE)


# --- helpers -------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "compose.yaml must be a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    return load_compose()["services"]


def command_argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    assert command, "service has no command"
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    # `--opt=value` and `--opt value` are treated alike.
    split: list[str] = []
    for arg in argv:
        if arg.startswith("--") and "=" in arg:
            split.extend(arg.split("=", 1))
        else:
            split.append(arg)
    return split


def option_value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            return argv[i + 1]
    return None


def module_file(dotted: str) -> Path:
    """Source file of a module, first in this repository, then in the installed packages."""
    local = BASE_DIR.joinpath(*dotted.split("."))
    for candidate in (local.with_suffix(".py"), local / "__init__.py"):
        if candidate.is_file():
            return candidate
    spec = importlib.util.find_spec(dotted)
    assert spec is not None, f"module {dotted!r} not found"
    assert spec.origin, f"module {dotted!r} has no source file"
    return Path(spec.origin)


def top_level_names(path: Path) -> set[str]:
    """Names a module binds at top level (assignments, defs, classes, imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def assert_object_path(path: str, sep: str = ":") -> None:
    """`package.module:attr` (or `package.module.Class` with sep=".") exists in the source."""
    module, _, attr = path.rpartition(sep)
    assert module, f"{path!r} is not a module{sep}object path"
    assert attr, f"{path!r} is not a module{sep}object path"
    source = module_file(module)
    assert attr in top_level_names(source), f"{source} does not define {attr!r}"


def assert_celery_command(argv: list[str]) -> None:
    assert argv[0] == "celery", argv
    app = option_value(argv, "-A", "--app")
    assert app, f"celery command without -A: {argv}"
    # `celery -A saas` loads `saas.celery:app` (Celery looks for a `celery` submodule).
    assert "app" in top_level_names(module_file(f"{app}.celery")), f"{app}/celery.py has no `app`"


def assert_manage_command(argv: list[str]) -> None:
    from django.core.management import get_commands

    assert argv[:2] == ["python", "manage.py"], argv
    assert (BASE_DIR / "manage.py").is_file()
    assert argv[2] in get_commands(), f"manage.py has no {argv[2]!r} command"


def dockerfile_stages() -> list[list[str]]:
    """Dockerfile instructions (continuations joined), grouped by build stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def env_example_names() -> set[str]:
    if not ENV_EXAMPLE.is_file():
        pytest.fail(".env.example is missing: it must document every variable compose reads")
    return set(ENV_EXAMPLE_VAR_RE.findall(ENV_EXAMPLE.read_text()))


# --- compose: structure ----------------------------------------------------------------


def test_compose_has_every_service() -> None:
    assert set(services()) == EXPECTED_SERVICES


def test_compose_postgres_has_healthcheck_and_named_volume() -> None:
    compose = load_compose()
    postgres = compose["services"]["postgres"]
    assert str(postgres["image"]).startswith("postgres:17")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume_names = {str(v).split(":", 1)[0] for v in postgres["volumes"]}
    assert volume_names & set(compose.get("volumes") or {}), "postgres data needs a named volume"


def test_compose_redis_has_healthcheck() -> None:
    redis = services()["redis"]
    assert str(redis["image"]).startswith("redis:7")
    assert "ping" in redis["healthcheck"]["test"]


def test_compose_migrate_runs_once_after_postgres_is_healthy() -> None:
    migrate = services()["migrate"]
    assert command_argv(migrate)[:4] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate.get("restart") in ("no", None)
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", *WORKER_SERVICES, "beat"])
def test_compose_app_waits_for_migrations(name: str) -> None:
    depends_on = services()[name]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_app_services_use_the_image_production_settings_and_services(name: str) -> None:
    service = services()[name]
    assert service["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER_DIR / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert service["env_file"], "app services are configured by an env file"
    env = service["environment"]
    assert env["DJANGO_SETTINGS_MODULE"] == "saas.settings.production"
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")


def test_compose_env_file_is_git_ignored() -> None:
    """docker/.env holds production secrets: it must never be committed."""
    if shutil.which("git") is None or not (BASE_DIR / ".git").exists():
        pytest.skip("not a git checkout")
    env_files = {services()[name]["env_file"] for name in APP_SERVICES}
    for env_file in env_files:
        path = (DOCKER_DIR / env_file).resolve().relative_to(BASE_DIR)
        result = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", str(path)],
            cwd=BASE_DIR,
            check=False,
        )
        assert result.returncode == 0, f"{path} is not git-ignored"


def test_compose_flower_requires_basic_auth() -> None:
    flower = services()["flower"]
    assert "FLOWER_BASIC_AUTH" in flower["environment"]
    # `:?` makes compose refuse to start without it rather than serve Flower unprotected.
    assert "${FLOWER_BASIC_AUTH:?" in COMPOSE_FILE.read_text()


def published_ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, container port) of each published port; "" is every interface."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):  # long syntax
            published.append((str(port.get("host_ip", "")), str(port["target"])))
            continue
        parts = compose_interpolate(str(port), {}).split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        published.append((host_ip, parts[-1]))
    return published


def test_published_ports_parser_sees_every_interface() -> None:
    service = {
        "ports": ["8000:8000", "0.0.0.0:1:2", "127.0.0.1:${P:-3}:4", {"target": 5}],
    }
    assert published_ports(service) == [
        ("", "8000"),
        ("0.0.0.0", "2"),  # noqa: S104
        ("127.0.0.1", "4"),
        ("", "5"),
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES))
def test_compose_publishes_ports_on_the_host_loopback_only(name: str) -> None:
    """Production trusts X-Forwarded-Proto and X-Forwarded-For: only the TLS proxy on
    this host (or on the compose network) may reach gunicorn; Flower, PostgreSQL and
    Redis are for the operator, through an SSH tunnel."""
    for host_ip, target in published_ports(services()[name]):
        assert host_ip == "127.0.0.1", f"{name} publishes {target} on every interface"


def test_compose_web_is_published_and_takes_the_client_address_from_one_proxy() -> None:
    web = services()["web"]
    assert published_ports(web) == [("127.0.0.1", "8000")]
    env = web["environment"]
    assert env["ALLAUTH_TRUSTED_PROXY_COUNT"] == "${ALLAUTH_TRUSTED_PROXY_COUNT:-1}"
    # The app environment is still there underneath.
    assert env["DJANGO_SETTINGS_MODULE"] == "saas.settings.production"


# --- Flower: every page behind the basic auth, /metrics included -------------------------


def http_status(url: str, auth: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.fixture
def compose_flower() -> Iterator[str]:
    """compose's Flower command, run here (port and address changed): its base URL."""
    from saas.devtools.redis_server import free_port

    command = services()["flower"]["command"]
    assert isinstance(command, list)
    port = free_port()
    argv = [str(a) for a in command if not str(a).startswith("--port=")]
    argv[0] = str(Path(sys.executable).with_name("celery"))
    argv += [f"--port={port}", "--address=127.0.0.1"]
    env = {
        **os.environ,
        # Test settings and the suite's Redis (saas/settings/test.py exports REDIS_URL).
        "DJANGO_SETTINGS_MODULE": "saas.settings.test",
        "FLOWER_BASIC_AUTH": "ops:s3cret",
    }
    proc = subprocess.Popen(
        argv, cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http_status(f"{base}/healthcheck")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"Flower exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "Flower did not start"
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_compose_flower_asks_for_credentials_on_every_page_and_metrics(
    compose_flower: str,
) -> None:
    assert http_status(f"{compose_flower}/")[0] == 401
    assert http_status(f"{compose_flower}/metrics")[0] == 401
    assert http_status(f"{compose_flower}/metrics", auth="ops:wrong")[0] == 401
    status, body = http_status(f"{compose_flower}/metrics", auth="ops:s3cret")
    assert status == 200
    assert b"flower_" in body
    # The liveness probe says "OK" and nothing else.
    assert http_status(f"{compose_flower}/healthcheck") == (200, b"OK")


def test_dev_flower_uses_the_same_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from saas.devtools import flower

    started: list[list[str]] = []
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:pw")
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append(argv))
    flower.main()
    conf = option_value(command_argv({"command": started[0]}), "--conf")
    compose_conf = option_value(command_argv(services()["flower"]), "--conf")
    assert conf
    assert compose_conf
    assert Path(conf).resolve() == (BASE_DIR / compose_conf).resolve()


# --- compose: every command names real code ----------------------------------------------


def test_compose_web_runs_gunicorn_on_the_wsgi_application() -> None:
    argv = command_argv(services()["web"])
    assert argv[0] == "gunicorn"
    assert argv[1] == "saas.wsgi:application"
    assert_object_path(argv[1])
    assert option_value(argv, "--bind", "-b") == "0.0.0.0:8000"


@pytest.mark.parametrize("name", WORKER_SERVICES)
def test_compose_worker_runs_the_celery_app_on_one_queue_with_replicas(name: str) -> None:
    service = services()[name]
    argv = command_argv(service)
    assert_celery_command(argv)
    assert "worker" in argv
    queue = option_value(argv, "-Q", "--queues")
    assert queue is not None
    assert "," not in queue, "one queue per worker service"
    node = option_value(argv, "-n", "--hostname")
    assert node is not None
    # The healthcheck pings this very node.
    assert f"--destination {node.split('@')[0]}@$$HOSTNAME" in service["healthcheck"]["test"][1]
    assert isinstance(service["deploy"]["replicas"], int)
    assert service["deploy"]["replicas"] >= 1


def test_compose_workers_consume_every_queue_and_one_beat_runs() -> None:
    from django.conf import settings

    consumed = {option_value(command_argv(services()[name]), "-Q") for name in WORKER_SERVICES}
    assert consumed == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    beats = [n for n, s in services().items() if "beat" in (s.get("command") or [])]
    assert beats == ["beat"]
    assert "replicas" not in services()["beat"].get("deploy", {})


def test_compose_beat_uses_the_database_scheduler() -> None:
    argv = command_argv(services()["beat"])
    assert_celery_command(argv)
    assert "beat" in argv
    scheduler = option_value(argv, "--scheduler", "-S")
    assert scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert_object_path(scheduler)


def test_compose_flower_runs_against_the_celery_app() -> None:
    argv = command_argv(services()["flower"])
    assert_celery_command(argv)
    assert "flower" in argv
    # `celery flower` is a sub-command that the flower package plugs into celery.
    assert importlib.util.find_spec("flower") is not None


def test_compose_every_app_command_is_checked() -> None:
    """A new app service must get a command check above, not slip through."""
    for name in APP_SERVICES:
        argv = command_argv(services()[name])
        assert argv[0] in {"gunicorn", "celery", "python"}, (name, argv)
        if argv[0] == "python":
            assert_manage_command(argv)
        elif argv[0] == "celery":
            assert_celery_command(argv)
        else:
            assert_object_path(argv[1])


def test_object_path_check_rejects_what_does_not_exist() -> None:
    """The checks above can fail: a wrong attribute or module is reported."""
    with pytest.raises(AssertionError):
        assert_object_path("saas.wsgi:no_such_application")
    with pytest.raises(AssertionError):
        assert_object_path("saas.no_such_module:application")
    with pytest.raises(AssertionError):
        assert_manage_command(["python", "manage.py", "no_such_command"])


# --- compose: variables are documented --------------------------------------------------


def test_compose_variables_are_in_env_example() -> None:
    text = COMPOSE_FILE.read_text()
    used = set(COMPOSE_VAR_RE.findall(text))
    for name in APP_SERVICES:
        used.update(services()[name].get("environment") or {})
    missing = sorted(used - env_example_names())
    assert not missing, f"add to .env.example: {', '.join(missing)}"


def test_compose_variable_scan_ignores_escaped_dollars() -> None:
    assert COMPOSE_VAR_RE.findall("$${POSTGRES_USER} ${A:-x} ${B:?y} ${C}") == ["A", "B", "C"]


# --- Dockerfile -------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "expected a builder and a runtime stage"
    text = DOCKERFILE.read_text()
    assert re.search(r"python:3\.1[1-9]-slim", text), "base image must be a slim Python 3.11+"
    assert any(re.match(r"COPY\s+--from=\w+", line) for line in stages[-1]), (
        "the final stage must copy the build from an earlier stage"
    )


def test_dockerfile_installs_locked_dependencies_with_uv() -> None:
    # Instructions only: comments may mention what is forbidden.
    text = "\n".join(line for stage in dockerfile_stages() for line in stage)
    assert re.search(r"uv sync [^\n]*--frozen", text)
    assert re.search(r"uv sync [^\n]*--no-dev", text)
    assert "COPY pyproject.toml uv.lock" in text
    assert not re.search(r"curl[^\n]*\|\s*(ba)?sh", text), "no curl | sh installers"


def test_dockerfile_installs_the_workspace_members() -> None:
    """The emulator is a uv workspace member: the image must read and install it."""
    root = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    assert members
    builder = dockerfile_stages()[0]
    syncs = [i for i, line in enumerate(builder) if re.match(r"RUN uv sync ", line)]
    copy_all = builder.index("COPY . .")
    first, last = syncs[0], syncs[-1]
    assert first < copy_all < last, "dependencies first, then the code and the members"
    for member in members:
        assert (BASE_DIR / member / "pyproject.toml").is_file()
        assert f"COPY {member}/pyproject.toml {member}/" in builder[:first]
    assert "--no-install-workspace" in builder[first]
    assert "--no-install-workspace" not in builder[last]
    assert "--no-install-project" not in builder[last]


def test_dockerfile_runs_as_non_root() -> None:
    users = [line.split(None, 1)[1] for line in dockerfile_stages()[-1] if line.startswith("USER")]
    assert users, "the final stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_collects_static_with_production_settings_and_build_only_secrets() -> None:
    runs = [line for stage in dockerfile_stages() for line in stage if line.startswith("RUN")]
    collect = [line for line in runs if "collectstatic" in line]
    assert collect, "collectstatic must run at build time"
    assert "--noinput" in collect[0]
    assert "DJANGO_SETTINGS_MODULE=saas.settings.production" in collect[0]
    # The dummy secret is scoped to that RUN line, never baked into the image config.
    for stage in dockerfile_stages():
        for line in stage:
            assert not re.match(r"(ENV|ARG)\s+[^\n]*DJANGO_SECRET_KEY", line), line


def test_dockerfile_collectstatic_environment_satisfies_production_settings(
    tmp_path: Path,
) -> None:
    """The build-time RUN line gives production settings everything they refuse to
    start without, and nothing else from this machine."""
    (collect,) = [
        line
        for stage in dockerfile_stages()
        for line in stage
        if line.startswith("RUN") and "collectstatic" in line
    ]
    assignments = re.findall(r"\b([A-Z][A-Z0-9_]*)=(\S+)", collect.split("python", 1)[0])
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(assignments)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'build.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(BASE_DIR)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_dockerfile_starts_gunicorn_and_probes_healthz() -> None:
    final = dockerfile_stages()[-1]
    cmd = [line for line in final if line.startswith("CMD")]
    assert cmd, "the final stage needs a CMD"
    assert '"gunicorn", "saas.wsgi:application"' in cmd[-1]
    healthcheck = " ".join(line for line in final if line.startswith("HEALTHCHECK"))
    assert healthcheck, "the final stage needs a HEALTHCHECK"
    assert "curl" not in healthcheck, "slim images have no curl"
    assert "wget" not in healthcheck, "slim images have no wget"
    script = re.search(r"/app/(docker/\S+\.py)", healthcheck)
    assert script, healthcheck
    probe = (BASE_DIR / script.group(1)).read_text()
    assert "/healthz" in probe


def test_dockerfile_entrypoint_exists_waits_for_the_database_and_execs() -> None:
    entry = [line for line in dockerfile_stages()[-1] if line.startswith("ENTRYPOINT")]
    assert entry, "the final stage needs an ENTRYPOINT"
    assert "/app/docker/entrypoint.sh" in entry[-1]
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh")
    assert "ensure_connection" in text
    assert text.rstrip().endswith('exec "$@"')
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_healthcheck_host_header_is_an_allowed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location(
        "docker_healthcheck", DOCKER_DIR / "healthcheck.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "app.example.com,www.example.com")
    assert module.allowed_host() == "app.example.com"
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", ".example.com")
    assert module.allowed_host().endswith(".example.com")
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "*")
    assert module.allowed_host() == "localhost"


# --- docker/.env made from .env.example -------------------------------------------------


def env_example_values() -> dict[str, str]:
    """The active `NAME=value` lines of .env.example, as docker compose's env_file reads them."""
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


def compose_interpolate(value: str, env: dict[str, str]) -> str:
    """`${NAME}`, `${NAME:-default}` and `${NAME:?error}` as compose fills them in."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        assert op != ":?", f"compose would refuse to start: {arg}"
        return arg if op == ":-" else ""

    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, value)


def test_compose_interpolate() -> None:
    env = {"A": "a", "E": ""}
    assert compose_interpolate("${A}-${B:-b}-${E:-e}-${A:?x}", env) == "a-b-e-a"
    with pytest.raises(AssertionError):
        compose_interpolate("${B:?set B}", env)


def test_env_example_copied_to_docker_env_starts_production_securely(tmp_path: Path) -> None:
    """README: `cp .env.example docker/.env`, fill in the required values, `compose up`.

    An empty `NAME=` line reaches the container as an empty string, which django-environ
    does not treat as unset: an empty int fails to parse and an empty bool is False (e.g.
    SSL redirect off). Optional variables must be commented out or have real values.
    """
    if not ENV_EXAMPLE.is_file():
        pytest.fail(".env.example is missing")
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    env.update(env_example_values())
    # What an operator must fill in, then what compose's `environment:` sets on top.
    env.update(
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_ALLOWED_HOSTS="app.example.com",
        SITE_URL="https://app.example.com",
        STRIPE_SECRET_KEY="sk_test_" + "x" * 24,
        POSTGRES_PASSWORD="pw",
        FLOWER_BASIC_AUTH="ops:pw",
    )
    env.update(
        {
            key: compose_interpolate(value, env)
            for key, value in services()["web"]["environment"].items()
        }
    )
    env["DATABASE_URL"] = "postgres://saas:pw@postgres:5432/saas"
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SESSION_COOKIE_SECURE,"
        " s.ALLAUTH_TRUSTED_PROXY_COUNT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(BASE_DIR)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True", "True", "True", "1"], result.stdout
