"""The simulator's Kalshi auth, checked with an independent implementation of the signing recipe (API.md §2.1)
written here from the documentation, not with the project's signer."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshibot.sim.testing import TestSim, running_sim

BAL = "/trade-api/v2/portfolio/balance"


def _indep_sign(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, text: str) -> str:
    data = text.encode("utf-8")
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        sig = key.sign(data)
    return base64.b64encode(sig).decode()


def _indep_headers(
    key_id: str,
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    method: str,
    url_path: str,
    ts_ms: int | None = None,
    sign_query: bool = False,
) -> dict[str, str]:
    ts = str(ts_ms if ts_ms is not None else int(time.time() * 1000))
    path = url_path if sign_query else url_path.split("?")[0]
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": ts,
        "KALSHI-ACCESS-SIGNATURE": _indep_sign(key, ts + method + path),
    }


def _register(sim: TestSim, kind: str) -> tuple[str, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey]:
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = f"indep-{kind}"
    sim.add_api_key(key_id, pem)
    return key_id, key


def _assert_401(r: httpx.Response, code: str) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == code
    assert "Retry-After" not in r.headers


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_independent_signatures_accepted_and_bad_ones_refused(kind: str) -> None:
    async with running_sim(scenario="none") as sim:
        key_id, key = _register(sim, kind)
        async with httpx.AsyncClient(base_url=sim.base_url) as c:
            r = await c.get(BAL, headers=_indep_headers(key_id, key, "GET", BAL))
            assert r.status_code == 200, r.text
            assert r.json()["balance"] == 1_000_000  # $10,000 in cents

            # the query is not signed (API.md §2.1): a correct signature with a query in the URL works...
            url = "/trade-api/v2/portfolio/orders?limit=5"
            r = await c.get(url, headers=_indep_headers(key_id, key, "GET", url))
            assert r.status_code == 200, r.text
            # ...and a signature over the path *with* the query is refused
            _assert_401(
                await c.get(url, headers=_indep_headers(key_id, key, "GET", url, sign_query=True)), "invalid_signature"
            )
            # wrong method signed
            _assert_401(await c.get(BAL, headers=_indep_headers(key_id, key, "POST", BAL)), "invalid_signature")
            # tampered signature
            h = _indep_headers(key_id, key, "GET", BAL)
            sig = bytearray(base64.b64decode(h["KALSHI-ACCESS-SIGNATURE"]))
            sig[0] ^= 1
            h["KALSHI-ACCESS-SIGNATURE"] = base64.b64encode(bytes(sig)).decode()
            _assert_401(await c.get(BAL, headers=h), "invalid_signature")
            # stale and future timestamps (window 30 s)
            now = sim.clock()
            _assert_401(
                await c.get(BAL, headers=_indep_headers(key_id, key, "GET", BAL, now - 31_000)),
                "timestamp_out_of_window",
            )
            _assert_401(
                await c.get(BAL, headers=_indep_headers(key_id, key, "GET", BAL, now + 31_000)),
                "timestamp_out_of_window",
            )
            ok = await c.get(BAL, headers=_indep_headers(key_id, key, "GET", BAL, now - 20_000))
            assert ok.status_code == 200
            # unknown key id
            _assert_401(await c.get(BAL, headers=_indep_headers("nobody", key, "GET", BAL)), "unknown_api_key")
            # incomplete headers and no headers
            h = _indep_headers(key_id, key, "GET", BAL)
            del h["KALSHI-ACCESS-SIGNATURE"]
            _assert_401(await c.get(BAL, headers=h), "incomplete_authentication_headers")
            _assert_401(await c.get(BAL), "missing_authentication")
            h = _indep_headers(key_id, key, "GET", BAL)
            h["KALSHI-ACCESS-TIMESTAMP"] = "yesterday"
            _assert_401(await c.get(BAL, headers=h), "invalid_timestamp")


async def test_public_market_data_needs_no_key_but_bad_signature_is_refused() -> None:
    async with running_sim(scenario="none") as sim:
        key_id, key = _register(sim, "ed25519")
        async with httpx.AsyncClient(base_url=sim.base_url) as c:
            for path in (
                "/trade-api/v2/markets",
                "/trade-api/v2/exchange/status",
                "/trade-api/v2/events",
                "/trade-api/v2/series",
                "/trade-api/v2/markets/trades",
            ):
                r = await c.get(path)
                assert r.status_code == 200, (path, r.text)
            h = _indep_headers(key_id, key, "GET", "/trade-api/v2/events")
            _assert_401(await c.get("/trade-api/v2/markets", headers=h), "invalid_signature")


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
async def test_websocket_handshake_needs_a_valid_signature(kind: str) -> None:
    async with running_sim(scenario="none") as sim:
        key_id, key = _register(sim, kind)
        ws_path = "/trade-api/ws/v2"
        async with websockets.connect(sim.ws_url, additional_headers=_indep_headers(key_id, key, "GET", ws_path)) as ws:
            await ws.send('{"id": 1, "cmd": "list_subscriptions"}')
            assert '"type":"ok"' in str(await ws.recv())
        for headers in (
            {},
            _indep_headers(key_id, key, "GET", "/trade-api/v2/markets"),  # signed for another path
            _indep_headers(key_id, key, "GET", ws_path, sim.clock() - 60_000),  # stale
            _indep_headers("unknown", key, "GET", ws_path),
        ):
            with pytest.raises(websockets.InvalidStatus) as ei:
                async with websockets.connect(sim.ws_url, additional_headers=headers):
                    pass
            assert ei.value.response.status_code == 401
            assert b'"error"' in ei.value.response.body


async def test_legacy_login_only_when_enabled_and_token_expires() -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.rest_url) as c:
        r = await c.post("/login", json={"email": "a@b.c", "password": "pw"})
        assert r.status_code == 404
    now = [1_800_000_000_000]
    async with (
        running_sim(scenario="none", legacy_logins={"a@b.c": "pw"}, token_lifetime_s=60, clock=lambda: now[0]) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as c,
    ):
        r = await c.post("/login", json={"email": "a@b.c", "password": "wrong"})
        _assert_401(r, "invalid_credentials")
        r = await c.post("/login", json={"email": "a@b.c", "password": "pw"})
        assert r.status_code == 200
        token = r.json()["token"]
        assert r.json()["member_id"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/portfolio/balance", headers=bearer)).status_code == 200
        now[0] += 61_000
        _assert_401(await c.get("/portfolio/balance", headers=bearer), "invalid_token")
        # logout invalidates a fresh token
        token2 = (await c.post("/login", json={"email": "a@b.c", "password": "pw"})).json()["token"]
        b2 = {"Authorization": f"Bearer {token2}"}
        assert (await c.post("/logout", headers=b2)).status_code == 200
        _assert_401(await c.get("/portfolio/balance", headers=b2), "invalid_token")
