"""`contato-bot serve` on an inherited listening socket, so several processes share one address
(the kernel spreads the connections). Built exactly as bot.serve.run_serve builds the app; only
uvicorn's `fd=` differs. Used by bench.instances: `python -m bench.serve_shared CONFIG FD`."""

from __future__ import annotations

import sys

import uvicorn

from bot.app import build_asgi_app, build_bolt_app
from bot.config import Settings
from bot.runtime import build_runtime


def main() -> None:
    config_path, fd = sys.argv[1], int(sys.argv[2])
    rt = build_runtime(config_path, settings=Settings())
    bolt = build_bolt_app(rt)
    uvicorn.run(build_asgi_app(rt, bolt), fd=fd, log_level="info")


if __name__ == "__main__":
    main()
