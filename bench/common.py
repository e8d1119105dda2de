"""Shared plumbing for the benchmarks: databases, the config, `serve` subprocesses, statistics.

Nothing here is imported by the app; the app is run the way production runs it (`contato-bot serve`).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_DIR", "/tmp/contato-bench"))
PG_ADMIN_URL = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
WEBHOOK_SECRET = "bench-webhook-secret"
WINDOW_CHANNELS = [f"wa{i}" for i in range(10)]  # sandbox channels the seeded rows live on
D360_CHANNEL = "d360"  # the 360dialog channel webhooks are posted to
ALERT_SLACK_CHANNEL = "CALERTS"
APP_PATHS = ("bot", "pyproject.toml")  # what `dirty` means for the measured app: its code changed
# PostgreSQL databases are named `<prefix>_<benchmark>`: give two benchmark runs at once (from
# two checkouts) different prefixes, and different BENCH_DIRs, so neither drops the other's.
PG_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")
STARTED = datetime.now(UTC)  # when this benchmark process started: the run's date


def database_url(kind: str, name: str, *, fresh: bool = True) -> str:
    """A database for one benchmark: a SQLite file under WORK, or `<PG_PREFIX>_<name>` on PostgreSQL
    (dropped and created again when `fresh`)."""
    if kind == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / f"{name}.db"
        if fresh:
            for suffix in ("", "-wal", "-shm", "-writer.lock"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    if kind != "postgres":
        raise SystemExit(f"--db must be sqlite or postgres, not {kind!r}")
    db = f"{PG_PREFIX}_{name}"
    if fresh:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {db}"))
        admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db


def write_config(path: Path, *, scan_seconds: int = 3600, lead_minutes: int = 60) -> Path:
    """Ten sandbox channels (wa0..wa9) and one 360dialog channel (d360), one team for everyone
    with an alert channel."""
    channels = "\n".join(
        f"  - {{id: {cid}, name: WA {cid}, number: '+55 11 4000-{1000 + i}', bsp: sandbox}}"
        for i, cid in enumerate(WINDOW_CHANNELS)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""language: pt-BR
alerts:
  scan_seconds: {scan_seconds}
templates:
  ttl_seconds: 86400
teams:
  - id: suporte
    name: Suporte
    members: ["*"]
    alert_channel: {ALERT_SLACK_CHANNEL}
    alert_lead_minutes: {lead_minutes}
    channels: [{", ".join(WINDOW_CHANNELS)}, {D360_CHANNEL}]
channels:
{channels}
  - id: {D360_CHANNEL}
    name: Vendas
    number: "+55 11 4000-0001"
    bsp: 360dialog
    base_url: http://127.0.0.1:9/
    api_key_env: BENCH_D360_KEY
    webhook_secret_env: BENCH_WEBHOOK_SECRET
"""
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(db_url: str, slack_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_url,
        DATABASE_URL=db_url,
        BENCH_D360_KEY="bench-key",
        BENCH_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOG_LEVEL="WARNING",
    )
    return env


def sign(body: bytes, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's request signature headers: v0=HMAC-SHA256("v0:{ts}:{body}")."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


# ---- the app being measured ----------------------------------------------------------------------


def git_state(root: Path, paths: Sequence[str] = ()) -> dict[str, Any]:
    """The checkout's commit (short sha) and whether its tracked files (under `paths`, if given)
    differ from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout

    sha = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--", *paths)
    if sha is None or status is None:
        return {"root": str(root), "commit": None, "dirty": None}
    lines = status.splitlines()
    return {
        "root": str(root),
        "commit": sha.strip(),
        "dirty": any(not line.startswith("??") for line in lines),
        "untracked_files": sum(1 for line in lines if line.startswith("??")),
    }


@dataclass(frozen=True)
class App:
    """The checkout whose `bot` package is measured: `contato-bot` subprocesses run its code
    (PYTHONPATH and cwd = root, ahead of the venv's editable install), and so does the bench
    process itself (see `select_app`)."""

    root: Path

    def env(self, db_url: str, slack_url: str) -> dict[str, str]:
        return {**serve_env(db_url, slack_url), "PYTHONPATH": str(self.root)}

    def command(self, config: Path, *args: str) -> list[str]:
        """`contato-bot --config CONFIG ARGS`: the venv's script (pyproject: bot.cli:main), or
        `python -m bot.cli` when the venv has none."""
        script = Path(sys.executable).parent / "contato-bot"
        exe = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
        return [*exe, "--config", str(config), *args]

    def bot_file(self) -> str:
        """Where a `contato-bot` subprocess imports `bot` from: must be this checkout."""
        done = subprocess.run(
            [sys.executable, "-c", "import bot; print(bot.__file__)"],
            env={**os.environ, "PYTHONPATH": str(self.root)},
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        )
        found = done.stdout.strip()
        if not Path(found).resolve().is_relative_to(self.root):
            raise SystemExit(f"a subprocess with PYTHONPATH={self.root} imports bot from {found}")
        return found

    def describe(self) -> dict[str, Any]:
        """What the JSON records about the measured code."""
        import bot

        return {
            **git_state(self.root),
            "bot_file_subprocess": self.bot_file(),
            "bot_file_bench": bot.__file__,
        }


def add_app_args(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """Options every benchmark shares: which checkout to measure, where the JSON goes, and (for
    those that run `serve`) how many ingestion workers run beside it."""
    parser.add_argument(
        "--app-root",
        default=os.environ.get("BENCH_APP_ROOT"),
        help="measure the `bot` code of this checkout (default: $BENCH_APP_ROOT, else this one)",
    )
    parser.add_argument("--out", help="write the JSON here too (default: BENCH_DIR/result-NAME-DB[-wN].json)")
    if workers:
        parser.add_argument(
            "--workers",
            type=int,
            default=0,
            help="0: serve ingests in-process (no --ingest flag passed: runs on older code); "
            "N: `serve --ingest off` plus N `contato-bot worker` processes",
        )
        parser.add_argument(
            "--worker-args",
            default="",
            help='extra arguments for each worker, e.g. "--batch 64 --poll-seconds 0.2"',
        )


def select_app(args: argparse.Namespace) -> App:
    """The measured checkout. When the bench process's own `bot` comes from elsewhere, re-run this
    benchmark with this checkout's `bench` and `tests` and the app's `bot` (see `bench_path`), so
    the seed's migrations, the expiry scan and the row counts use the measured code too."""
    import bot

    root = Path(args.app_root or ROOT).resolve()
    if not (root / "bot" / "__init__.py").is_file():
        raise SystemExit(f"--app-root {root}: no bot/ package there")
    current = Path(bot.__file__).resolve().parent.parent
    if current != root:
        if os.environ.get("BENCH_REEXEC") == str(root):
            raise SystemExit(f"re-run with the app at {root} still imports bot from {current}")
        python_path, cwd = bench_path(root)
        env = {
            **os.environ,
            "PYTHONPATH": python_path,
            "BENCH_REEXEC": str(root),
            "BENCH_APP_ROOT": str(root),
        }
        os.chdir(cwd)
        spec = sys.modules["__main__"].__spec__
        assert spec is not None, "run the benchmarks with python -m bench.NAME"
        os.execve(sys.executable, [sys.executable, "-m", spec.name, *sys.argv[1:]], env)
    return App(root)


def bench_path(app_root: Path) -> tuple[str, Path]:
    """(PYTHONPATH, cwd) for a bench module that imports the app (`python -m bench.X`): this
    checkout's `bench` and `tests`, the app root's `bot`. For another checkout, a directory holding
    only links to `bench` and `tests` goes first (`python -m` also puts the cwd first on sys.path,
    so that directory is the cwd: it holds no bot/)."""
    if app_root == ROOT:
        return str(ROOT), ROOT
    overlay = WORK / "overlay"
    overlay.mkdir(parents=True, exist_ok=True)
    for name in ("bench", "tests"):
        link = overlay / name
        if link.is_symlink() and link.resolve() != ROOT / name:
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    return os.pathsep.join([str(overlay), str(app_root)]), overlay


@dataclass
class Running:
    """`serve` and its ingestion workers, as started by `start_app`."""

    serve: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {"serve": self.serve, **{f"worker{i + 1}": w for i, w in enumerate(self.workers)}}

    def check_alive(self) -> None:
        for name, proc in self.processes().items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; see {WORK}/*.log")

    def stop(self) -> None:
        for proc in [*self.workers, self.serve]:
            stop(proc)


def start_app(
    app: App,
    config: Path,
    db_url: str,
    slack_url: str,
    port: int,
    *,
    workers: int = 0,
    worker_args: Sequence[str] = (),
    ingest_off: bool = False,
) -> Running:
    """`contato-bot serve` exactly as production starts it, on 127.0.0.1:port, from the app's
    checkout. With workers, `serve --ingest off` and that many `contato-bot worker` processes
    (each with a /metrics port: it answering is the sign the worker is up); `ingest_off` with no
    workers: `serve --ingest off` alone, deliveries only stored (bench.drain)."""
    env = app.env(db_url, slack_url)
    serve_args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers or ingest_off:
        serve_args += ["--ingest", "off"]  # only then: older code has no --ingest
    WORK.mkdir(parents=True, exist_ok=True)
    serve = subprocess.Popen(
        app.command(config, *serve_args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(WORK / f"serve-{port}.log", "wb"),  # noqa: SIM115 - lives as long as the process
        cwd=app.root,
    )
    running = Running(serve)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", serve)
        for i in range(workers):
            metrics = free_port()
            running.workers.append(
                subprocess.Popen(
                    app.command(config, "worker", "--metrics-port", str(metrics), *worker_args),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=open(WORK / f"worker-{port}-{i + 1}.log", "wb"),  # noqa: SIM115
                    cwd=app.root,
                )
            )
            wait_healthy(f"http://127.0.0.1:{metrics}", running.workers[-1], path="/metrics")
    except BaseException:
        running.stop()
        raise
    return running


def wait_healthy(
    base_url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120, path: str = "/healthz"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}; see the logs in {WORK}")
        try:
            if httpx.get(base_url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base_url} did not become healthy in {timeout} s")


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
    }


def emit(name: str, result: dict[str, Any], app: App, *, tag: str = "", out: str | None = None) -> None:
    """Print the result as one JSON document, stamped with when it ran, the commit of the code it
    measured, the command line and the database kind; keep a copy under WORK (and at `out`)."""
    spec = sys.modules["__main__"].__spec__
    module = spec.name if spec is not None else sys.argv[0]
    measured = app.describe()
    stamped = {
        "benchmark": name,
        "date": STARTED.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "commit": f"{measured['commit'] or 'unknown'}{'-dirty' if measured['dirty'] else ''}",
        "app": measured,
        "bench": git_state(ROOT),
        "command": shlex.join(["python", "-m", module, *sys.argv[1:]]),
        "argv": sys.argv[1:],
        "db": result.get("db", "x"),
        "machine": machine(),
        **result,
    }
    text_out = json.dumps(stamped, indent=2, default=str)
    print(text_out)
    WORK.mkdir(parents=True, exist_ok=True)
    suffix = f"-{tag}" if tag else ""
    (WORK / f"result-{name}-{stamped['db']}{suffix}.json").write_text(text_out)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text_out)


def py_spy_record(out: Path) -> list[str]:
    """py-spy (from the venv) recording raw stacks into `out`: add `-p PID` or `-- COMMAND`."""
    spy = str(Path(sys.executable).parent / "py-spy")
    return [spy, "record", "--format", "raw", "--nonblocking", "-o", str(out)]


def attach_py_spy(pid: int, out: Path, *, subprocesses: bool = False) -> subprocess.Popen[bytes]:
    """py-spy recording the running process `pid` (and its children) into `out`, given a second
    to attach; stop it with SIGINT, then wait, to have the file written."""
    extra = ["--subprocesses"] if subprocesses else []
    spy = subprocess.Popen(
        [*py_spy_record(out), *extra, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(1)
    return spy
