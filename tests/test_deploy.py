"""Makefile, Dockerfile and docker-compose.yml, checked without a Docker engine.

The compose file is read as YAML; every command it runs is parsed by the real `tickcast` CLI and
every variable it sets by the real Settings, so renaming an option or a setting breaks here.
The Makefile is asked by `make -n` what each target would install on a clean clone.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from core.config import KafkaSettings, Settings
from tickcast.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_ENV = ROOT / ".env"
DOCKERFILE = ROOT / "Dockerfile"
MAKEFILE = ROOT / "Makefile"
#: The top-level keys docker-compose 1.29 accepts, besides extension fields (x-...).
COMPOSE_1_KEYS = {"version", "services", "volumes", "networks", "secrets", "configs"}
TICKCAST_SERVICES = ("trainer", "worker", "producer", "api")
PLAIN_ENV = {"MLFLOW_TRACKING_URI", "KAFKA_BOOTSTRAP_SERVERS"}


# --- helpers -----------------------------------------------------------------------------------


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict]:
    return load_compose()["services"]


def words(value: str | list) -> list[str]:
    """A compose command or entrypoint, string or list form, as argv words."""
    return shlex.split(value) if isinstance(value, str) else [str(w) for w in value]


def env_of(service: dict) -> dict[str, str]:
    """A service's environment, list or mapping form, as strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def tickcast_env() -> dict[str, str]:
    """Every variable set on a tickcast service, plus the TICKCAST_ ones of the Dockerfile."""
    merged = {n: v for n, v in dockerfile_env().items() if n.startswith("TICKCAST_")}
    for name in TICKCAST_SERVICES:
        merged.update(env_of(services()[name]))
    return merged


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    return result


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in instructions():
        if keyword == "ENV":
            env.update(token.split("=", 1) for token in shlex.split(args))
    return env


def setting_field(name: str) -> tuple[str, str]:
    """TICKCAST_SECTION__FIELD -> (section, field) of Settings, or an assertion error saying why."""
    assert name.startswith("TICKCAST_"), f"{name} is neither TICKCAST_... nor {sorted(PLAIN_ENV)}"
    parts = name.removeprefix("TICKCAST_").lower().split("__")
    assert len(parts) == 2, f"{name}: expected TICKCAST_<SECTION>__<FIELD>"
    section, field = parts
    assert section in Settings.model_fields, f"{name}: Settings has no section {section!r}"
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    assert field in model.model_fields, f"{name}: {model.__name__} has no field {field!r}"
    return section, field


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_parses_and_shares_one_tickcast_block() -> None:
    compose = load_compose()
    shared = compose["x-tickcast"]
    assert shared["build"]["context"] == "."
    for name in TICKCAST_SERVICES:
        service = compose["services"][name]
        assert service["build"] == shared["build"], f"{name} does not use the x-tickcast build"
        assert service["image"] == shared["image"]
        for var, value in env_of(shared).items():
            assert env_of(service).get(var) == value, f"{name} lost {var} from x-tickcast"
    api = compose["services"]["api"]
    assert api["command"] == ["api"] and "8000:8000" in api["ports"]


def test_compose_top_level_is_one_that_docker_compose_1_accepts() -> None:
    """docker-compose 1.29 rejects a top-level `name:` (measured: "'name' does not match any of
    the regexes: '^x-'"); docker compose v2 calls `version:` obsolete."""
    keys = set(load_compose())
    unknown = {key for key in keys - COMPOSE_1_KEYS if not key.startswith("x-")}
    assert not unknown, f"docker-compose 1.x rejects top-level {sorted(unknown)}"
    assert "version" not in keys


def test_the_project_name_comes_from_the_env_file_beside_the_compose_file() -> None:
    """Both docker compose v2 and docker-compose 1.x read .env from the project folder."""
    assert COMPOSE_ENV.parent == COMPOSE.parent
    lines = [line for line in COMPOSE_ENV.read_text().splitlines() if line.strip()]
    variables = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    assert variables == {"COMPOSE_PROJECT_NAME": "tickcast"}, "no secrets in a committed file"
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines(), "keep .env out of images"


def test_kafka_is_apache_kafka_in_kraft_mode_with_enough_partitions() -> None:
    kafka = services()["kafka"]
    env = env_of(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    roles = env["KAFKA_PROCESS_ROLES"].split(",")
    assert "controller" in roles and "broker" in roles
    assert int(env["KAFKA_NUM_PARTITIONS"]) >= 6
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    # the controller listener is the one the quorum votes on
    voter_port = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].rsplit(":", 1)[1]
    assert f"CONTROLLER://:{voter_port}" in env["KAFKA_LISTENERS"].split(",")
    health = " ".join(words(kafka["healthcheck"]["test"]))
    assert "/opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --list" in health


def test_services_reach_kafka_on_an_advertised_listener_and_agree_on_partitions() -> None:
    kafka_env = env_of(services()["kafka"])
    advertised = {
        listener.split("://", 1)[1]
        for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    for name in TICKCAST_SERVICES:
        env = env_of(services()[name])
        assert env["KAFKA_BOOTSTRAP_SERVERS"] in advertised, name
        # keyed by ticker: the worker's partitions must be the topics' partitions
        assert env["TICKCAST_KAFKA__PARTITIONS"] == kafka_env["KAFKA_NUM_PARTITIONS"], name


def test_mlflow_serves_a_sqlite_store_on_its_volume_and_accepts_the_services_host() -> None:
    mlflow = services()["mlflow"]
    assert mlflow["image"].startswith("ghcr.io/mlflow/mlflow")
    command = words(mlflow["command"])
    assert command[:2] == ["mlflow", "server"]
    options = dict(w.removeprefix("--").split("=", 1) for w in command[2:] if "=" in w)
    mounts = [volume.split(":")[1] for volume in mlflow["volumes"]]
    store = options["backend-store-uri"]
    assert store.startswith("sqlite:////")
    assert any(store.removeprefix("sqlite:///").startswith(m + "/") for m in mounts)
    assert any(options["artifacts-destination"].startswith(m) for m in mounts)
    assert options["host"] == "0.0.0.0"
    # MLflow >= 3.5 answers 403 to a Host header it does not allow (measured: mlflow:5000 is
    # refused by default); the services send the host of their MLFLOW_TRACKING_URI.
    allowed = options["allowed-hosts"].split(",")
    for name in TICKCAST_SERVICES:
        host = urlsplit(env_of(services()[name])["MLFLOW_TRACKING_URI"]).netloc
        assert host.endswith(":" + options["port"]), f"{name} calls MLflow on another port"
        assert any(fnmatch.fnmatch(host, pattern) for pattern in allowed), (name, host)


def test_every_tickcast_command_is_a_real_subcommand_with_real_options() -> None:
    registered = typer.main.get_command(app).commands
    runner = CliRunner()
    for name in TICKCAST_SERVICES:
        argv = words(services()[name]["command"])
        assert argv[0] in registered, f"{name}: `tickcast {argv[0]}` does not exist"
        result = runner.invoke(app, [*argv, "--help"])
        assert result.exit_code == 0, f"{name}: tickcast {shlex.join(argv)}\n{result.output}"
        # --help is eager, so it stops before values are converted: parse them for real too
        command = registered[argv[0]]
        command.make_context(argv[0], argv[1:]).close()


def test_an_unknown_option_would_be_caught() -> None:
    """The check above fails for an option the CLI does not have."""
    result = CliRunner().invoke(app, ["produce", "--no-such-option", "1", "--help"])
    assert result.exit_code != 0


def test_every_variable_on_tickcast_services_is_a_real_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = tickcast_env()
    assert env.keys() >= PLAIN_ENV
    assert "TICKCAST_DATA__DIR" in env, "the image sets its state folder"
    fields = {name: setting_field(name) for name in env if name not in PLAIN_ENV}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    for name, (section, field) in fields.items():
        value = getattr(getattr(settings, section), field)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()  # secrets print as stars
        assert str(value) == env[name], name
    assert settings.kafka.bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.mlflow.tracking_uri == env["MLFLOW_TRACKING_URI"]


def test_a_misspelt_setting_would_be_caught() -> None:
    with pytest.raises(AssertionError, match="no field 'partition'"):
        setting_field("TICKCAST_KAFKA__PARTITION")
    with pytest.raises(AssertionError, match="no section"):
        setting_field("TICKCAST_BUS__PARTITIONS")


def test_the_worker_can_scale() -> None:
    worker = services()["worker"]
    assert "container_name" not in worker
    for port in worker.get("ports", []):
        published = port.get("published") if isinstance(port, dict) else str(port).split(":")[:-1]
        assert not published, f"worker publishes a fixed host port ({port}): --scale would clash"


def test_start_order() -> None:
    compose = services()
    assert compose["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert compose["worker"]["depends_on"]["trainer"]["condition"] == (
        "service_completed_successfully"
    )
    assert compose["trainer"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert {"kafka", "worker"} <= compose["producer"]["depends_on"].keys()
    for one_shot in ("trainer", "producer"):
        assert compose[one_shot]["restart"] == "no", one_shot
        # the image's HEALTHCHECK probes the worker's metrics, which these never serve
        assert compose[one_shot]["healthcheck"] == {"disable": True}, one_shot
    assert "healthcheck" not in compose["worker"], "the worker uses the image's HEALTHCHECK"


@pytest.mark.slow
def test_trainer_trains_only_when_there_is_no_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = services()["trainer"]
    command = words(trainer["command"])
    assert "--if-no-champion" in command
    # Its synthetic model takes the `synthetic` alias, which the services serve.
    serve = trainer["environment"]["TICKCAST_MLFLOW__SERVE"]
    assert serve == "synthetic" and "synthetic" in command
    monkeypatch.setenv("TICKCAST_MLFLOW__SERVE", serve)
    tiny = [
        "--start",
        "2018-01-02",
        "--end",
        "2019-12-31",
        "--max-epochs",
        "1",
        "--hidden-size",
        "8",
    ]
    first = CliRunner().invoke(app, [*command, *tiny])
    assert first.exit_code == 0, first.output
    assert "v1" in first.output and "not training" not in first.output
    second = CliRunner().invoke(app, [*command, *tiny])
    assert second.exit_code == 0, second.output
    assert "synthetic v1 exists; not training" in second.output


# --- Makefile ----------------------------------------------------------------------------------


def pip_installs(target: str, venv: Path) -> list[str]:
    """The `pip install` commands `make TARGET` would run with no venv yet, as on a clean clone
    (`make -n` prints the commands and runs none)."""
    make = shutil.which("make")
    if not make:
        pytest.skip("make is not installed")
    result = subprocess.run(
        [make, "-n", "-f", str(MAKEFILE), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "/pip install" in line]


def test_up_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    installs = pip_installs("up", tmp_path / "venv")
    assert installs[0].endswith('pip install "torch==2.13.0"'), "torch first: else the CUDA build"
    assert installs[1].endswith("pip install -e ."), installs
    assert not [line for line in installs if "[dev]" in line], installs


@pytest.mark.parametrize("target", ["test", "lint", "format"])
def test_test_and_lint_add_the_dev_extras_after_torch(target: str, tmp_path: Path) -> None:
    installs = pip_installs(target, tmp_path / "venv")
    assert installs[0].endswith('pip install "torch==2.13.0"'), installs
    assert installs[-1].endswith('pip install -e ".[dev]"'), installs


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_base_user_and_entrypoint() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert any("useradd" in args and "--uid 10001" in args for k, args in steps if k == "RUN")
    entrypoint = next(args for keyword, args in steps if keyword == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["tickcast"]
    env = dockerfile_env()
    assert env["TICKCAST_DATA__DIR"] == "/data"
    assert any("chown 10001:10001 /data" in args for keyword, args in steps if keyword == "RUN"), (
        "the state folder must be writable by the user"
    )


def test_dockerfile_installs_cpu_torch_before_the_project() -> None:
    steps = instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1].strip('"') for k, a in steps if k == "ARG"}
    assert args["TORCH_SPEC"] == "torch==2.13.0"
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    runs = [a for k, a in steps if k == "RUN"]
    torch = next(i for i, a in enumerate(runs) if "${TORCH_SPEC}" in a)
    assert '--index-url "${TORCH_INDEX_URL}"' in runs[torch]
    project = next(
        i for i, a in enumerate(runs) if a.rstrip().endswith("pip install --no-cache-dir .")
    )
    assert torch < project
    assert all("--no-cache-dir" in a for a in runs if "pip install" in a)
    assert not any("[dev]" in a for a in runs)
    assert not any("apt-get install" in a for a in runs), "no build tools in the image"


def test_dockerfile_healthcheck_probes_the_worker_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client import start_http_server

    steps = instructions()
    health = next(args for keyword, args in steps if keyword == "HEALTHCHECK")
    argv = json.loads(health.split(" CMD ", 1)[1])
    assert argv[0] == "python"
    assert f"'{KafkaSettings().metrics_port}'" in argv[-1], "not the worker's default port"

    def probe(port: int) -> int:
        env = {**os.environ, "TICKCAST_KAFKA__METRICS_PORT": str(port)}
        return subprocess.run([sys.executable, *argv[1:]], env=env, timeout=30).returncode

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert probe(port) != 0, "healthy with nothing listening"
    server, thread = start_http_server(port, addr="127.0.0.1")
    try:
        assert probe(port) == 0
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_dockerignore_keeps_local_state_out_of_the_build() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for pattern in (".venv", ".git", ".tickcast", "**/__pycache__", "benchmarks/out"):
        assert pattern in ignored, pattern


# --- with a Docker engine only -----------------------------------------------------------------


def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip(
            "no Docker engine on this machine: compose config is checked by the YAML tests above"
        )
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # the project name comes from .env beside the file, not from here
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["name"] == "tickcast"


def test_docker_compose_1_config_is_valid(tmp_path: Path) -> None:
    """The standalone `docker-compose` (1.29 is Python: `pip install docker-compose==1.29.2`
    in a venv of its own); `config` needs no engine."""
    standalone = shutil.which("docker-compose")
    if not standalone:
        pytest.skip("docker-compose is not on PATH: the top-level keys are checked above")
    result = subprocess.run(
        [standalone, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
