"""Shared plumbing for the benchmarks: databases, the config, `serve` subprocesses, statistics.

Nothing here is imported by the app; the app is run the way production runs it (`contato-bot serve`).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
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


def database_url(kind: str, name: str, *, fresh: bool = True) -> str:
    """A database for one benchmark: a SQLite file under WORK, or `bench_<name>` on PostgreSQL
    (dropped and created again when `fresh`)."""
    if kind == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / f"{name}.db"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    if kind != "postgres":
        raise SystemExit(f"--db must be sqlite or postgres, not {kind!r}")
    db = f"bench_{name}"
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


def start_serve(config: Path, db_url: str, slack_url: str, port: int) -> subprocess.Popen[bytes]:
    """`contato-bot serve` exactly as production starts it, on 127.0.0.1:port."""
    exe = str(Path(sys.executable).parent / "contato-bot")
    proc = subprocess.Popen(
        [exe, "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=serve_env(db_url, slack_url),
        stdout=subprocess.DEVNULL,
        stderr=open(WORK / f"serve-{port}.log", "wb"),  # noqa: SIM115 - lives as long as the process
        cwd=ROOT,
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}; see {WORK}/serve-*.log")
        try:
            if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base_url} did not become healthy in {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
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


def emit(name: str, result: dict[str, Any]) -> None:
    """Print the result as one JSON document (and keep a copy under WORK for the doc)."""
    result = {"benchmark": name, "machine": machine(), **result}
    out = json.dumps(result, indent=2, default=str)
    print(out)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / f"result-{name}-{result.get('db', 'x')}.json").write_text(out)
