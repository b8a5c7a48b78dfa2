"""Clock-skew thresholds, and no secret (key, signature, password, token) in captured logs of a real session."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
import structlog

from kalshibot import logsetup
from kalshibot.errors import ClockSkewError, exit_code
from kalshibot.kalshi.signing import HEADER_SIGNATURE
from kalshibot.net.auth import KalshiAuth, LegacyTokenAuth, load_private_key
from kalshibot.net.clock import judge_skew, parse_http_date_ms
from kalshibot.net.feed import Feed
from kalshibot.net.rest import KalshiRest, OrderRequest
from kalshibot.sim.testing import add_test_market, eventually, running_sim


def test_skew_thresholds() -> None:
    assert judge_skew(500, warn_ms=2_000, fatal_ms=20_000) == "ok"
    assert judge_skew(-3_000, warn_ms=2_000, fatal_ms=20_000) == "warn"
    with pytest.raises(ClockSkewError) as ei:
        judge_skew(25_000, warn_ms=2_000, fatal_ms=20_000)
    assert exit_code(ei.value) == 3
    assert parse_http_date_ms("Wed, 25 Nov 2026 00:00:00 GMT") == 1795564800000


async def test_no_secret_in_captured_logs() -> None:
    out = io.StringIO()
    logsetup.configure("debug", "json", stream=out)
    signatures: list[str] = []
    try:
        async with running_sim(scenario="none", faults_enabled=True, legacy_logins={"ops@x": "pa55word"}) as sim:
            add_test_market(sim, "SEC-A")
            auth = KalshiAuth(sim.test_key_id, load_private_key(sim.test_private_key_pem))

            async def hook(r: httpx.Request) -> None:
                signatures.append(r.headers[HEADER_SIGNATURE])

            async with KalshiRest(sim.rest_url, auth, timeout_s=0.3, backoff_initial_s=0.01) as rest:
                rest._client.event_hooks["request"].append(hook)
                sim.faults.inject("lost_ack", hold_ms=2_000)  # warnings get logged on this path
                await rest.create_order(OrderRequest("SEC-A", "kb-0-s", "bid", 400_000, 100))
                feed = Feed(sim.ws_url, auth, lambda e: None, backoff_initial_s=0.01)
                feed.set_markets(["SEC-A"])
                task = asyncio.create_task(feed.run())
                await eventually(lambda: feed.book_ready("SEC-A"))
                sim.faults.inject("ws_drop")
                await eventually(lambda: feed.stats.reconnects >= 1 and feed.book_ready("SEC-A"))
                feed.stop()
                await asyncio.wait_for(task, 5)
            legacy = LegacyTokenAuth(sim.rest_url, "ops@x", "pa55word")
            async with KalshiRest(sim.rest_url, legacy) as rest:
                await rest.get_balance()
                token = legacy._token
    finally:
        structlog.reset_defaults()
    text = out.getvalue()
    assert "outcome unknown" in text and "feed connection lost" in text  # the logs were captured
    assert signatures and not any(s in text for s in signatures)
    assert "PRIVATE KEY" not in text and "pa55word" not in text and token and token not in text
