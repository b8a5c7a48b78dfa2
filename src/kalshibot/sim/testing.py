"""An in-process simulator for tests: ``async with running_sim(**overrides) as sim:``.

The yielded :class:`SimServer` listens on an ephemeral loopback port in the caller's event loop, with a freshly
generated Ed25519 key registered as one user account:

* ``sim.test_key_id``, ``sim.test_private_key_pem`` (PKCS#8 bytes), ``sim.test_user_id``, ``sim.test_signer``;
* ``sim.signed_headers(method, path)``: the three Kalshi auth headers for a request *now* (``path`` may be relative
  to ``/trade-api/v2`` or absolute; a query is stripped before signing);
* ``sim.ws_headers()``: the headers for the WebSocket handshake.

``overrides`` are :class:`SimConfig` fields (``scenario="none"`` starts with no markets; ``faults_enabled=True``
mounts the admin endpoint; ``rate_limit_tier="off"`` for load tests). :func:`add_test_market` adds an open market
for tests that need one without a scenario. :func:`write_private_key_file` writes a key to a 0600 file for CLI
tests. :func:`eventually` waits for a condition (never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from kalshibot.kalshi.keys import KeyPair, generate_keypair, write_private_key
from kalshibot.kalshi.signing import Signer, auth_headers
from kalshibot.sim.server import SimConfig, SimServer
from kalshibot.sim.ws import WS_PATH

T = TypeVar("T")
REST_PREFIX = "/trade-api/v2"


class TestSim(SimServer):
    """A :class:`SimServer` plus a registered test key (see the module docstring)."""

    __test__ = False  # not a pytest test class

    def __init__(self, config: SimConfig, key_type: str = "ed25519") -> None:
        super().__init__(config)
        pair: KeyPair = generate_keypair("rsa" if key_type == "rsa" else "ed25519")
        self.test_key_id = pair.key_id
        self.test_private_key_pem = pair.private_pem
        self.test_public_key_pem = pair.public_pem
        self.test_signer = Signer.from_pem(pair.private_pem)
        self.test_user_id = self.add_api_key(pair.key_id, pair.public_pem)

    def signed_headers(self, method: str, path: str, *, key_id: str | None = None) -> dict[str, str]:
        full = path if path.startswith("/trade-api/") else REST_PREFIX + path
        return auth_headers(self.test_signer, key_id or self.test_key_id, method, full.split("?", 1)[0], self.clock())

    def ws_headers(self) -> dict[str, str]:
        return self.signed_headers("GET", WS_PATH)

    def new_user(self, balance_micros: int | None = None) -> tuple[str, Signer, str]:
        """Another account: (key_id, signer, user_id)."""
        pair = generate_keypair("ed25519")
        user_id = self.add_api_key(pair.key_id, pair.public_pem, balance_micros)
        return pair.key_id, Signer.from_pem(pair.private_pem), user_id


@asynccontextmanager
async def running_sim(key_type: str = "ed25519", **overrides: Any) -> AsyncIterator[TestSim]:
    overrides.setdefault("port", 0)
    overrides.setdefault("host", "127.0.0.1")
    sim = TestSim(SimConfig(**overrides), key_type=key_type)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def add_test_market(
    sim: SimServer,
    ticker: str = "TEST-MKT",
    *,
    event_ticker: str = "TEST-EVT",
    series_ticker: str = "TEST",
    lifetime_ms: int = 3_600_000,
) -> Any:
    """An open market (linear-cent grid) on the sim's exchange, closing after ``lifetime_ms``."""
    ex = sim.exchange
    now = sim.clock()
    if series_ticker not in ex.series_by_ticker:
        ex.add_series(series_ticker, f"{series_ticker} series")
    if event_ticker not in ex.events_by_ticker:
        ex.add_event(event_ticker, series_ticker, f"{event_ticker} event", now_ms=now)
    m = ex.add_market(ticker, event_ticker, open_ts_ms=now - 1, close_ts_ms=now + lifetime_ms, now_ms=now)
    ex.advance(now)
    sim.poke()
    return m


def write_private_key_file(pem: bytes, directory: Path | str | None = None) -> Path:
    """Write a private key to a fresh file with mode 0600 (for CLI tests); returns its path."""
    d = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="kalshibot-key-"))
    path = d / "kalshi-key.pem"
    write_private_key(path, pem)
    return path


async def eventually(
    cond: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling helper's deadline, not an I/O timeout
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """Poll ``cond`` until it returns a truthy value (awaiting it if it is a coroutine); AssertionError on
    timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        v = cond()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
