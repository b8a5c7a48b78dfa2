"""The daemon's loopback HTTP control server and the ``kalshibot status|halt|resume`` client.

Endpoints: ``GET /metrics`` (Prometheus), ``GET /healthz`` (503 when the feed is stale or the loop is stuck),
``GET /status`` (JSON: positions, orders, PnL, risk per market), ``POST /halt``, ``POST /resume``. It binds to
127.0.0.1 by default and never shows a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kalshibot.errors import UsageError


@dataclass
class ControlHandlers:
    status: Callable[[], dict[str, Any]]
    health: Callable[[], tuple[bool, dict[str, Any]]]
    halt: Callable[[str], None]
    resume: Callable[[], Awaitable[None] | None]  # may be async: the answer waits until the resume took effect
    metrics: Callable[[], bytes]


def build_app(h: ControlHandlers) -> Starlette:
    async def metrics(_: Request) -> Response:
        return Response(h.metrics(), media_type="text/plain; version=0.0.4")

    async def healthz(_: Request) -> Response:
        ok, detail = h.health()
        return JSONResponse({"ok": ok, **detail}, status_code=200 if ok else 503)

    async def status(_: Request) -> Response:
        return JSONResponse(h.status())

    async def halt(request: Request) -> Response:
        reason = request.query_params.get("reason", "operator")
        h.halt(reason)
        return JSONResponse({"ok": True, "state": "HALTED"})

    async def resume(_: Request) -> Response:
        done = h.resume()
        if done is not None:
            await done
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/status", status),
            Route("/halt", halt, methods=["POST"]),
            Route("/resume", resume, methods=["POST"]),
        ]
    )


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal capture: the daemon owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ControlServer:
    """uvicorn in the daemon's own event loop, on a loopback socket (port 0 = ephemeral)."""

    def __init__(self, handlers: ControlHandlers, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._app = build_app(handlers)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", access_log=False, lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="control-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        if self._sock is not None:
            self._sock.close()


def control_address_file(state_dir: str) -> str:
    return f"{state_dir}/control.json"


def control_main(args: argparse.Namespace) -> int:
    """``kalshibot status|halt|resume``: talk to a running daemon's control endpoint (address from logs/state)."""
    from kalshibot.config import load_settings

    settings = load_settings(args.config, require_secrets=False)
    state_dir = f"{settings.logging.dir}/state"
    try:
        with open(control_address_file(state_dir)) as f:
            url = json.load(f)["url"]
    except (OSError, ValueError, KeyError):
        url = f"http://{settings.control.host}:{settings.control.port}"
    try:
        if args.command == "status":
            r = httpx.get(f"{url}/status", timeout=5)
        else:
            r = httpx.post(f"{url}/{args.command}", timeout=5)
    except httpx.HTTPError as e:
        raise UsageError(f"no running daemon answered at {url} ({type(e).__name__})") from e
    print(json.dumps(r.json(), indent=2, sort_keys=True))
    return 0 if r.is_success else 1
