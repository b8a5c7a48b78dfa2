"""The simulator as a server: one ASGI app (Starlette on uvicorn) on one port, REST under ``/trade-api/v2`` and the
WebSocket at ``/trade-api/ws/v2`` (API.md §1), plus ``kalshibot sim``.

:class:`SimServer` owns the pure :class:`~kalshibot.sim.exchange.Exchange`, the scenario driver, the
:class:`~kalshibot.sim.auth.Authenticator`, the WebSocket hub and the fault injector. It runs uvicorn inside the
caller's event loop (port 0 = ephemeral; the real port is read from the bound socket) and steps the scenario in
wall-clock time in a background task: sleep until the driver's next wake-up (or until a REST write pokes it), then
``driver.step(now)`` and ``exchange.advance(now)``. Timestamps are always wall clock (CONTRACTS.md "Time"); ``speed``
only compresses the scenario's schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from kalshibot.errors import ConfigError, CredentialError, UsageError
from kalshibot.sim import choices
from kalshibot.sim.auth import Authenticator
from kalshibot.sim.faults import FaultInjector
from kalshibot.sim.simbridge import SimBridge
from kalshibot.sim.ws import WsHub


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0
    scenario: str = "default"  # a bundled scenario name or a YAML path
    seed: int = 1
    speed: float = 1.0
    balance: float = 10_000.0  # dollars, for every API key's account
    rate_limit_tier: str = "basic"  # basic|advanced|premier|paragon|prime|off
    faults_enabled: bool = False
    legacy_logins: dict[str, str] = field(default_factory=dict)  # email -> password
    token_lifetime_s: int = choices.TOKEN_LIFETIME_S
    ts_window_ms: int = choices.TS_WINDOW_MS
    clock: Callable[[], int] = wall_clock_ms
    ping_interval_s: float = choices.PING_INTERVAL_S
    # scripted faults: [{"at_s": scenario seconds after start, "fault": NAME, ...params}] (docs/simulator.md);
    # a scenario object with a ``faults`` attribute adds its own
    fault_script: list[dict[str, Any]] = field(default_factory=list)
    log_level: str = "warning"


class _HeartbeatWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, pinging with the body ``heartbeat`` as Kalshi does (API.md §5.5)."""

    def send_keepalive_ping(self) -> None:
        self.ping_timer = None
        if self.close_sent or self.transport.is_closing():
            return
        self.pending_ping_payload = choices.PING_PAYLOAD
        self.ping_sent_at = self.loop.time()
        self.conn.send_ping(choices.PING_PAYLOAD)
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.ping_timeout is not None:
            self.pong_timer = self.loop.call_later(self.ping_timeout, self.keepalive_timeout)
        else:
            self.schedule_ping()


class _DenialNoiseFilter(logging.Filter):
    """uvicorn logs "returned without completing handshake" even after a proper HTTP denial response (our 401 to an
    unsigned WebSocket upgrade): that is the intended outcome, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_DenialNoiseFilter())


class _InProcessServer(uvicorn.Server):
    """uvicorn without its signal capture: the embedding program (``sim_main``, the daemon, pytest) owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class SimServer:
    """The simulator server. ``async with SimServer(cfg) as sim:`` or ``await start()`` / ``await stop()``."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = self.config.clock
        self.auth = Authenticator(self.clock, self.config.ts_window_ms, self.config.token_lifetime_s)
        self.faults = FaultInjector(self, enabled=self.config.faults_enabled)
        self.hub = WsHub(self)
        self.bridge = SimBridge(self, self.hub)
        for email, password in self.config.legacy_logins.items():
            self.auth.add_login(email, password, self.bridge.ensure_user(f"login:{email}", None))
        from kalshibot.sim.rest import build_app  # late: rest imports this module's types

        self.app = build_app(self)
        self._uvicorn: _InProcessServer | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._driver_task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._port = 0
        self._wake = asyncio.Event()

    # -- public API --------------------------------------------------------------------------------------------
    @property
    def exchange(self) -> Any:
        return self.bridge.exchange

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self._port}"

    @property
    def rest_url(self) -> str:
        return self.base_url + "/trade-api/v2"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self._port}/trade-api/ws/v2"

    def add_api_key(self, key_id: str, public_key_pem: bytes | str, balance_micros: int | None = None) -> str:
        """Register a key as one user account (starting with ``balance_micros``, default ``--balance``); returns
        the user id. Re-registering a key id keeps its account."""
        user_id = self.bridge.ensure_user(key_id, balance_micros)
        self.auth.add_key(key_id, public_key_pem, user_id)
        return user_id

    def poke(self) -> None:
        """Wake the driver loop now (a write may have created work for ``advance``)."""
        self._wake.set()

    async def start(self) -> None:
        if self._serve_task is not None:
            return
        self._wake = asyncio.Event()
        # scenario and fault script first: a bad one fails before anything listens
        start_ms = self.clock()
        self.bridge.start(start_ms)
        script = [*getattr(self.bridge.scenario, "faults", ()), *self.config.fault_script]
        self.faults.load_script(script, start_ms, self.config.speed)
        # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on an accepted connection only when the
        # socket says it is TCP, and accepted sockets inherit the listener's proto. Without it Nagle held back the
        # second write of every response (uvicorn writes the head and the body separately) until the client's
        # delayed ACK: ~40 ms per request after the first on a connection (issue 9, figure 6)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as e:
            sock.close()
            raise UsageError(f"cannot listen on {self.config.host}:{self.config.port}: {e.strerror}") from e
        sock.listen(2048)
        sock.setblocking(False)
        self._sock = sock
        self._port = sock.getsockname()[1]
        ucfg = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level=self.config.log_level,
            access_log=False,
            ws=_HeartbeatWebSocketProtocol,
            ws_ping_interval=self.config.ping_interval_s,
            ws_ping_timeout=max(self.config.ping_interval_s, 20.0),
            ws_per_message_deflate=False,
            ws_max_queue=1024,
            timeout_keep_alive=30,
            backlog=2048,
        )
        self._uvicorn = _InProcessServer(ucfg)
        self._serve_task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]), name="sim-uvicorn")
        while not self._uvicorn.started:
            if self._serve_task.done():
                self._serve_task.result()  # raise the startup error
                raise RuntimeError("uvicorn stopped during startup")
            await asyncio.sleep(0.005)
        self._driver_task = asyncio.create_task(self._drive(), name="sim-driver")

    async def stop(self) -> None:
        if self._driver_task is not None:
            self._driver_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver_task
            self._driver_task = None
        self.faults.shutdown()
        if self._uvicorn is not None and self._serve_task is not None:
            await self.hub.close_all(1001, "server shutting down")
            self._uvicorn.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._serve_task), timeout=5)
            except TimeoutError:
                self._uvicorn.force_exit = True
                with contextlib.suppress(BaseException):
                    await self._serve_task
            self._serve_task = None
            self._uvicorn = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- the wall-clock driver loop ----------------------------------------------------------------------------
    async def _drive(self) -> None:
        while True:
            now = self.clock()
            self.bridge.step(now)
            self.faults.fire_scheduled(now)
            wake = self.bridge.next_wakeup_ms()
            due = self.faults.next_scheduled_ms()
            if due is not None:
                wake = due if wake is None else min(wake, due)
            # never sleep more than 1 s: expirations and group windows are checked in advance()
            delay_s = 1.0 if wake is None else min(1.0, max(0.0, (wake - self.clock()) / 1000))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay_s)


# ------------------------------------------------------------------------------------------------ the CLI command
def _config_from_args(args: argparse.Namespace) -> SimConfig:
    logins: dict[str, str] = {}
    for item in getattr(args, "legacy_login", []) or []:
        email, sep, password = item.partition(":")
        if not sep or not email or not password:
            raise ConfigError("expected EMAIL:PASSWORD", field="--legacy-login")
        logins[email] = password
    return SimConfig(
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        seed=args.seed,
        speed=args.speed,
        balance=args.balance,
        rate_limit_tier=args.rate_limit_tier,
        faults_enabled=bool(args.faults),
        legacy_logins=logins,
    )


def _keys_from_args(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    ids = list(getattr(args, "api_key_ids", []) or [])
    paths = list(getattr(args, "public_keys", []) or [])
    if len(ids) != len(paths):
        raise ConfigError("--api-key-id and --public-key must come in pairs", field="--public-key")
    out: list[tuple[str, bytes]] = []
    for key_id, path in zip(ids, paths):
        try:
            out.append((key_id, Path(path).read_bytes()))
        except OSError as e:
            raise CredentialError(f"{path}: cannot read public key: {e.strerror}") from e
    return out


async def _serve_until_signalled(config: SimConfig, keys: list[tuple[str, bytes]]) -> None:
    sim = SimServer(config)
    for key_id, pem in keys:
        sim.add_api_key(key_id, pem)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    try:
        print(f"listening on {sim.base_url}", flush=True)
        await stop.wait()
    finally:
        await sim.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def sim_main(args: argparse.Namespace) -> int:
    """``kalshibot sim``: print ``listening on http://H:P`` (the real port) and serve until SIGINT/SIGTERM."""
    config = _config_from_args(args)
    keys = _keys_from_args(args)
    asyncio.run(_serve_until_signalled(config, keys))
    sys.stdout.flush()
    return 0


__all__ = ["SimConfig", "SimServer", "sim_main", "wall_clock_ms"]
