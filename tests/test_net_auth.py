"""Auth: API-key signing (RSA-PSS, Ed25519) as httpx.Auth, key-file permissions, the legacy token flow."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kalshibot.errors import CredentialError, exit_code
from kalshibot.kalshi.signing import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify
from kalshibot.net.auth import KalshiAuth, LegacyTokenAuth, load_private_key


def _pem(kind: str) -> bytes:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pems() -> dict[str, bytes]:
    return {"rsa": _pem("rsa"), "ed25519": _pem("ed25519")}


def _write(tmp_path: Path, data: bytes, mode: int) -> Path:
    p = tmp_path / "kalshi-key.pem"
    p.write_bytes(data)
    os.chmod(p, mode)
    return p


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_signed_requests_verify_and_skip_query(kind: str, pems: dict[str, bytes], tmp_path: Path) -> None:
    signer = load_private_key(_write(tmp_path, pems[kind], 0o600))
    assert signer.key_type == kind
    auth = KalshiAuth("key-1", signer, clock_ms=lambda: 1_703_123_456_789)
    assert auth.sign_in_thread is (kind == "rsa")  # RSA signing stays off the event loop
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as client:
        await client.get("http://sim/trade-api/v2/portfolio/orders", params={"limit": 5})
        await client.get("http://sim/trade-api/v2/portfolio/balance")
    r = seen[0]
    assert r.headers[HEADER_KEY] == "key-1"
    assert r.headers[HEADER_TIMESTAMP] == "1703123456789"
    pub = signer.public_key()
    assert verify(pub, 1_703_123_456_789, "GET", "/trade-api/v2/portfolio/orders", r.headers[HEADER_SIGNATURE])
    assert not verify(pub, 1_703_123_456_789, "GET", "/trade-api/v2/portfolio/orders?limit=5", "x")
    assert auth.signatures == 2  # one signature per request sent, never more
    ws = await auth.ws_headers("ws://sim/trade-api/ws/v2")
    assert verify(pub, 1_703_123_456_789, "GET", "/trade-api/ws/v2", ws[HEADER_SIGNATURE])
    assert "PRIVATE" not in repr(auth) and "PRIVATE" not in repr(signer)


def test_key_file_with_loose_permissions_is_a_credential_error(pems: dict[str, bytes], tmp_path: Path) -> None:
    p = _write(tmp_path, pems["ed25519"], 0o644)
    with pytest.raises(CredentialError) as ei:
        load_private_key(p)
    assert exit_code(ei.value) == 3
    assert str(p) in str(ei.value) and "0644" in str(ei.value)
    assert "BEGIN" not in str(ei.value)


def test_bad_or_missing_key_file(tmp_path: Path) -> None:
    bad = _write(tmp_path, b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", 0o600)
    with pytest.raises(CredentialError) as ei:
        load_private_key(bad)
    assert str(bad) in str(ei.value) and "not a key" not in str(ei.value)
    with pytest.raises(CredentialError):
        load_private_key(tmp_path / "missing.pem")


def test_pem_content_is_accepted_directly(pems: dict[str, bytes]) -> None:
    assert load_private_key(pems["rsa"].decode()).key_type == "rsa"


# ------------------------------------------------------------------------------------------------- legacy
class FakeLoginServer:
    """Tokens expire after ``lifetime_ms`` of the injected clock; every login issues a new token."""

    def __init__(self, clock: list[int], lifetime_ms: int) -> None:
        self.clock = clock
        self.lifetime_ms = lifetime_ms
        self.tokens: dict[str, int] = {}
        self.logins = 0
        self.calls = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/login"):
            self.logins += 1
            tok = f"tok-{self.logins}"
            self.tokens[tok] = self.clock[0] + self.lifetime_ms
            return httpx.Response(200, json={"member_id": "m1", "token": tok})
        self.calls += 1
        tok = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.tokens.get(tok, -1) <= self.clock[0]:
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "token expired"}})
        return httpx.Response(200, json={"ok": True})


async def test_legacy_logs_in_once_refreshes_before_expiry_and_after_401() -> None:
    clock = [1_000_000]
    server = FakeLoginServer(clock, lifetime_ms=60_000)
    auth = LegacyTokenAuth(
        "http://sim/trade-api/v2", "me@x", "hunter2", token_lifetime_s=60, refresh_margin_s=5, clock_ms=lambda: clock[0]
    )
    with structlog.testing.capture_logs() as logs:
        async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(server.handler)) as c:
            for _ in range(5):
                assert (await c.get("http://sim/trade-api/v2/portfolio/balance")).status_code == 200
            assert server.logins == 1  # never per request
            clock[0] += 56_000  # inside the refresh margin: refreshed proactively, no 401 seen
            assert (await c.get("http://sim/trade-api/v2/portfolio/balance")).status_code == 200
            assert server.logins == 2
            server.tokens.clear()  # server-side revocation: one 401, one login, one retry
            calls = server.calls
            assert (await c.get("http://sim/trade-api/v2/portfolio/balance")).status_code == 200
            assert server.logins == 3 and server.calls == calls + 2
    text = repr(logs) + repr(auth)
    assert "hunter2" not in text and "tok-" not in text


def test_legacy_refused_for_kalshi() -> None:
    for url, env in (
        ("https://external-api.kalshi.com/trade-api/v2", None),
        ("http://127.0.0.1:1/trade-api/v2", "prod"),
    ):
        with pytest.raises(CredentialError, match="removed /login in 2026"):
            LegacyTokenAuth(url, "a", "b", environment=env)
