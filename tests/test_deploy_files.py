"""The container and process files (issue 12), checked without Docker: the Dockerfile by a small
line parser, compose.yaml as YAML, the systemd unit by sections, and the README section that runs
them."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, `\\` continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends in a continuation"
    return instructions


def values(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions if name == keyword]


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in values(instructions, "ENV"):
        for word in shlex.split(arguments):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def test_dockerfile_base_user_entrypoint_and_cmd() -> None:
    instructions = dockerfile()
    assert instructions[0][0] == "FROM"
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", values(instructions, "FROM")[-1])
    users = values(instructions, "USER")
    assert users, "the image must not run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    keywords = [name for name, _ in instructions]
    # The user is switched before the process starts, and no RUN comes after it as root.
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert json.loads(values(instructions, "ENTRYPOINT")[-1]) == ["contato-bot"]
    assert json.loads(values(instructions, "CMD")[-1]) == ["serve"]


def test_dockerfile_healthcheck_volume_port_and_constraints() -> None:
    instructions = dockerfile()
    healthcheck = values(instructions, "HEALTHCHECK")
    assert len(healthcheck) == 1
    assert "/healthz" in healthcheck[0] and "urllib" in healthcheck[0] and "curl" not in healthcheck[0]
    assert "PORT" in healthcheck[0]  # asks the port the server listens on
    volumes = [v for arguments in values(instructions, "VOLUME") for v in json.loads(arguments)]
    assert "/data" in volumes
    env = env_of(instructions)
    assert env["DATABASE_URL"] == "sqlite:////data/contato.db"  # the SQLite file on the volume
    assert env["PORT"] == "3000" and "3000" in values(instructions, "EXPOSE")[-1]
    assert Path(env["CONTATO_CONFIG"]).name == "contato.yml"
    assert any("constraints.txt" in arguments and name == "COPY" for name, arguments in instructions), (
        "the constraints file is copied into the build"
    )
    installs = [run for run in values(instructions, "RUN") if "pip install" in run]
    assert installs and all(re.search(r"(-c|--constraint) constraints\.txt", run) for run in installs)


def test_dockerignore_keeps_secrets_data_and_the_venv_out() -> None:
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", ".env", "*.db", "contato.yml"} <= patterns
    # ... but not what the build copies.
    copied = {word for arguments in values(dockerfile(), "COPY") for word in arguments.split()[:-1]}
    assert copied and not copied & patterns


def test_compose_postgres_two_web_instances_and_workers() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    contato = {name: s for name, s in services.items() if s.get("build") or "contato" in s.get("image", "")}
    apps = {name: s for name, s in contato.items() if s.get("command", ["serve"]) == ["serve"]}
    workers = {name: s for name, s in contato.items() if s.get("command") == ["worker"]}
    assert len(apps) == 2 and len(workers) == 1 and len(contato) == 3
    for name, service in contato.items():
        assert service["image"] == "contato-bot:latest", name  # one image for all
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://"), name
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"], name
        assert service["env_file"] == ".env", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
    published = []
    for name, app in apps.items():
        assert "/healthz" in " ".join(app["healthcheck"]["test"]), name
        assert app["environment"]["CONTATO_INGEST"] == "off", name  # the workers ingest
        published += [str(port).split(":")[0] for port in app["ports"]]
    assert len(published) == len(set(published)) == 2  # a port each
    (worker,) = workers.values()
    assert "ports" not in worker  # nothing to publish: it only talks to the database and Slack
    assert worker["healthcheck"] == {"disable": True}  # the image's check asks /healthz, which it has not
    assert worker["deploy"]["replicas"] >= 2  # several workers share the deliveries on PostgreSQL


def unit_sections(name: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for raw in (ROOT / "deploy" / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            sections[section] = []
            continue
        key, _, value = line.partition("=")
        sections[section].append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_runs_serve_as_a_user() -> None:
    sections = unit_sections("contato-bot.service")
    service = dict(sections["Service"])
    assert re.search(r"(^|/)contato-bot serve\b", service["ExecStart"])
    assert service["User"] and service["User"] not in ("root", "0")
    assert "Restart" in service
    assert dict(sections["Install"])["WantedBy"] == "multi-user.target"


def test_systemd_worker_unit_runs_the_worker_as_the_same_user() -> None:
    sections = unit_sections("contato-bot-worker.service")
    service = dict(sections["Service"])
    assert re.search(r"(^|/)contato-bot worker\b", service["ExecStart"])
    assert service["User"] == dict(unit_sections("contato-bot.service")["Service"])["User"]
    assert service["KillSignal"] == "SIGTERM" and "Restart" in service
    assert dict(sections["Install"])["WantedBy"] == "multi-user.target"


def test_readme_says_how_to_run_the_image_and_proxy() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Running the image")
    section = readme[start : readme.find("\n## ", start + 1)]
    for command in ("docker build", "docker run", "-v ", "--env-file", "docker compose up"):
        assert command in section, command
    assert "FORWARDED_ALLOW_IPS" in section and "--proxy-headers" in section
    assert "deploy/contato-bot.service" in section
