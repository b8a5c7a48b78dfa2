"""Authentication for REST and the WebSocket handshake: API-key signing and the legacy login token.

Theory of operation
-------------------
* :class:`KalshiAuth` is an ``httpx.Auth`` that adds Kalshi's three signature headers (API.md §2.1) to each request
  as it is sent: the path is the URL path without its query, the timestamp is taken at send time, so a request is
  signed exactly once per attempt and never ahead of time. RSA-PSS costs ~0.7 ms and releases the GIL, so on the
  async path it runs in a worker thread (``asyncio.to_thread``) and the event loop (the feed) keeps running;
  Ed25519 (about 16x cheaper, the README's recommendation) signs inline. The same signer produces the handshake
  headers for ``/trade-api/ws/v2`` (API.md §2.2) via :meth:`KalshiAuth.ws_headers`.
* :class:`LegacyTokenAuth` is the guide's "token-refreshing auth client": ``POST /login`` once, cache the bearer
  token, log in again shortly before its configured lifetime ends, and once more on a 401 (API.md §2.3). Kalshi
  removed ``/login`` in 2026, so it refuses Kalshi's hosts and serves the simulator and explicit URLs only.
* :func:`load_private_key` refuses a key file readable by group or others (like ssh) with a
  :class:`CredentialError` (exit code 3). No secret ever reaches a message, a repr or a log line: errors name the
  file, never its content.

Both auth classes expose ``async ws_headers(ws_url) -> dict[str, str]`` (:class:`WsAuth`); it is async because the
legacy flow may have to log in first.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import AsyncGenerator, Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import httpx
import structlog

from kalshibot.errors import CredentialError
from kalshibot.kalshi.signing import Signer, auth_headers
from kalshibot.net.rest_models import LoginResponse

if TYPE_CHECKING:
    from kalshibot.settings.models import Settings

log = structlog.get_logger(__name__)

WS_PATH = "/trade-api/ws/v2"
KALSHI_HOST_SUFFIXES = ("kalshi.com", "kalshi.co")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class WsAuth(Protocol):
    async def ws_headers(self, ws_url: str) -> dict[str, str]: ...


# ------------------------------------------------------------------------------------------------- key files
def load_private_key(path_or_pem: str | bytes | os.PathLike[str]) -> Signer:
    """A :class:`Signer` from a PEM string/bytes or a key file path. The key type (RSA or Ed25519) comes from
    the PEM. A file whose mode grants any access to group or others is refused, as ssh refuses such keys."""
    if isinstance(path_or_pem, bytes) or (isinstance(path_or_pem, str) and "-----BEGIN" in path_or_pem):
        return Signer.from_pem(path_or_pem)
    path = Path(path_or_pem)
    try:
        st = path.stat()
    except OSError as e:
        raise CredentialError(f"key file {path}: cannot read ({e.strerror or type(e).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CredentialError(f"key file {path}: not a regular file")
    if st.st_mode & 0o077:
        raise CredentialError(
            f"key file {path}: permissions {stat.S_IMODE(st.st_mode):04o} are too open "
            "(readable by group or others); run: chmod 600 " + str(path)
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CredentialError(f"key file {path}: cannot read ({e.strerror or type(e).__name__})") from None
    try:
        return Signer.from_pem(data)
    except CredentialError as e:
        raise CredentialError(f"key file {path}: {e}") from None


def _signed_path(request: httpx.Request) -> str:
    # the path as sent (percent-encoding preserved), query stripped (API.md §2.1)
    return request.url.raw_path.split(b"?", 1)[0].decode("ascii")


# ------------------------------------------------------------------------------------------------ API keys
class KalshiAuth(httpx.Auth):
    """API-key request signing (RSA-PSS or Ed25519) as an ``httpx.Auth``."""

    def __init__(
        self,
        key_id: str,
        signer: Signer,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        sign_in_thread: bool | None = None,
    ) -> None:
        self.key_id = key_id
        self._signer = signer
        self._clock_ms = clock_ms
        # RSA releases the GIL while signing: keep it off the event loop. Ed25519 is cheaper than a thread hop.
        self.sign_in_thread = signer.key_type == "rsa" if sign_in_thread is None else sign_in_thread
        self.signatures = 0  # requests signed (never more than requests sent)

    @property
    def key_type(self) -> str:
        return self._signer.key_type

    def headers(self, method: str, path: str) -> dict[str, str]:
        self.signatures += 1
        return auth_headers(self._signer, self.key_id, method, path, self._clock_ms())

    async def aheaders(self, method: str, path: str) -> dict[str, str]:
        if self.sign_in_thread:
            return await asyncio.to_thread(self.headers, method, path)
        return self.headers(method, path)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers(request.method, _signed_path(request)))
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers.update(await self.aheaders(request.method, _signed_path(request)))
        yield request

    async def ws_headers(self, ws_url: str) -> dict[str, str]:
        """Handshake headers: ``ts + "GET" + "/trade-api/ws/v2"`` signed (API.md §2.2)."""
        return await self.aheaders("GET", urlsplit(ws_url).path or WS_PATH)

    def __repr__(self) -> str:
        return f"KalshiAuth(key_id={self.key_id!r}, key_type={self._signer.key_type!r})"


# ---------------------------------------------------------------------------------------------- legacy login
def is_kalshi_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == s or host.endswith("." + s) for s in KALSHI_HOST_SUFFIXES)


class LegacyTokenAuth(httpx.Auth):
    """The guide's email/password flow (``POST /login`` -> bearer token), for the simulator and explicit URLs.

    The token is fetched once and reused; it is refreshed ``refresh_margin_s`` before ``token_lifetime_s`` (the
    lifetime was never published, API.md §2.3: it is configuration) and once after a 401. Never per request."""

    requires_response_body = True

    def __init__(
        self,
        rest_url: str,
        email: str,
        password: str,
        *,
        environment: str | None = None,
        token_lifetime_s: float = 1800.0,
        refresh_margin_s: float = 60.0,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if environment in ("demo", "prod") or is_kalshi_url(rest_url):
            raise CredentialError(
                "legacy email/password login is not available on Kalshi: Kalshi removed /login in 2026; "
                "use an API key (key id + private key file) instead"
            )
        self.login_url = rest_url.rstrip("/") + "/login"
        self.email = email
        self._password = password
        self.token_lifetime_ms = int(token_lifetime_s * 1000)
        self.refresh_margin_ms = int(min(refresh_margin_s, token_lifetime_s / 2) * 1000)
        self._clock_ms = clock_ms
        self._token: str | None = None
        self._expires_ms = 0
        self._generation = 0  # bumps at every login, so concurrent 401s re-login once, not once each
        self._lock = asyncio.Lock()
        self.logins = 0

    def _fresh(self) -> bool:
        return self._token is not None and self._clock_ms() < self._expires_ms - self.refresh_margin_ms

    def _login_request(self) -> httpx.Request:
        return httpx.Request("POST", self.login_url, json={"email": self.email, "password": self._password})

    def _accept(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise CredentialError(f"login to {self.login_url} refused (HTTP {response.status_code})")
        try:
            self._token = LoginResponse.model_validate_json(response.content).token
        except ValueError:
            raise CredentialError(f"login to {self.login_url}: response has no token") from None
        self._expires_ms = self._clock_ms() + self.token_lifetime_ms
        self._generation += 1
        self.logins += 1
        log.info("legacy login", url=self.login_url, generation=self._generation)

    def invalidate(self) -> None:
        self._token = None

    # httpx reads response bodies for auth flows only in the default flows (requires_response_body); these are
    # overridden, so they read the login answer themselves.
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._fresh():
            login = yield self._login_request()
            login.read()
            self._accept(login)
        gen = self._generation
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401 and gen == self._generation:
            login = yield self._login_request()
            login.read()
            self._accept(login)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    login = yield self._login_request()
                    await login.aread()
                    self._accept(login)
        gen = self._generation
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            async with self._lock:
                if gen == self._generation:  # nobody logged in again since this request was sent
                    login = yield self._login_request()
                    await login.aread()
                    self._accept(login)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    async def ws_headers(self, ws_url: str) -> dict[str, str]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    async with httpx.AsyncClient(timeout=10.0) as client:
                        self._accept(await client.send(self._login_request()))
        return {"Authorization": f"Bearer {self._token}"}

    def __repr__(self) -> str:
        return f"LegacyTokenAuth(login_url={self.login_url!r}, email={self.email!r})"


__all__ = [
    "KalshiAuth",
    "LegacyTokenAuth",
    "WsAuth",
    "auth_from_settings",
    "is_kalshi_url",
    "load_private_key",
    "wall_clock_ms",
]


def auth_from_settings(settings: Settings, rest_url: str) -> KalshiAuth | LegacyTokenAuth:
    """The auth the configuration asks for (``auth.mode``), with secrets from the environment / ``.env``."""
    sec = settings.secrets
    if settings.auth.mode == "legacy":
        if sec.email is None or sec.password is None:
            raise CredentialError("auth.mode legacy needs KALSHI_EMAIL and KALSHI_PASSWORD")
        return LegacyTokenAuth(
            rest_url,
            sec.email.get_secret_value(),
            sec.password.get_secret_value(),
            environment=settings.environment,
            token_lifetime_s=settings.auth.legacy_token_lifetime_s,
        )
    if sec.api_key_id is None:
        raise CredentialError("KALSHI_API_KEY_ID is not set")
    if sec.private_key_pem is not None:
        signer = load_private_key(sec.private_key_pem.get_secret_value())
    elif sec.private_key_path is not None:
        signer = load_private_key(sec.private_key_path)
    else:
        raise CredentialError("set KALSHI_PRIVATE_KEY_PATH (a PEM file, mode 0600) or KALSHI_PRIVATE_KEY")
    return KalshiAuth(sec.api_key_id.get_secret_value(), signer)
