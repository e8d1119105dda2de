"""The ceiling for #2: a bare uvicorn endpoint that reads the body and answers 200, served the way
`contato-bot serve` serves the app (uvicorn defaults, no access log: `bot.serve` turns it off)."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def receive(request: Request) -> Response:
    await request.body()
    return JSONResponse({"ok": True})


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = Starlette(
    routes=[
        Route("/webhooks/{channel_id}", receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info", access_log=False)
