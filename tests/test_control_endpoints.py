"""The loopback control server of a running daemon: /metrics, /healthz, /status, POST /halt and /resume, and the
``kalshibot status|halt|resume`` client that finds it through logs/state/control.json."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from kalshibot.control import control_main
from kalshibot.daemon_ops import health_view
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim
from tests.test_daemon_support import resting_ids, running_daemon, seed_book, settings_for, two_sided

# real daemons against a real simulator over loopback: generous on a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(180)

T = "TEST-MKT"


@pytest.fixture
async def sim() -> AsyncIterator[TestSim]:
    async with running_sim(scenario="none", rate_limit_tier="off") as s:
        add_test_market(s, T)
        seed_book(s, T)
        yield s


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_metrics_healthz_status_halt_resume(
    sim: TestSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, sim)
    async with running_daemon(settings) as d, httpx.AsyncClient(base_url=d.control_url or "", timeout=5) as c:
        assert d.control_url is not None and d.control_url.startswith("http://127.0.0.1:")
        await eventually(lambda: two_sided(d, T), timeout=10, what="quotes")

        async def metrics() -> str:
            r = await c.get("/metrics")
            assert r.status_code == 200
            return r.text

        text = await eventually(
            lambda: _when(metrics(), lambda t: metric(t, "kalshibot_rate_tokens_spent_total") > 0), timeout=5
        )
        for name in (
            "kalshibot_orders_total",
            "kalshibot_quote_updates_total",
            "kalshibot_resting_orders",
            "kalshibot_daily_pnl_dollars",
            "kalshibot_money_at_stake_dollars",
            "kalshibot_risk_state",
            "kalshibot_feed_age_seconds",
            "kalshibot_feed_reconnects_total",
            "kalshibot_loop_lag_seconds",
        ):
            metric(text, name)
        assert metric(text, "kalshibot_orders_total") >= 2
        assert metric(text, "kalshibot_risk_state") == 0

        r = await c.get("/healthz")
        assert r.status_code == 200 and r.json()["ok"] is True and r.json()["problems"] == []

        st = (await c.get("/status")).json()
        assert st["risk_state"] == "ACTIVE" and st["feed"]["connected"] is True
        assert {o["side"] for o in st["open_orders"] if o["ticker"] == T} == {"bid", "ask"}
        assert [m["ticker"] for m in st["markets"]] == [T]
        assert st["markets"][0]["yes_bid"] is not None and "." in st["markets"][0]["yes_bid"]
        assert "secret" not in json.dumps(st).lower() and settings.secrets.api_key_id is not None
        assert settings.secrets.api_key_id.get_secret_value() not in json.dumps(st)

        r = await c.post("/halt", params={"reason": "test"})
        assert r.json()["state"] == "HALTED"
        await eventually(lambda: not resting_ids(sim), timeout=5, what="quotes cancelled by halt")
        assert (await c.get("/status")).json()["risk_state"] == "HALTED"
        assert json.loads((tmp_path / "logs" / "state" / "risk.json").read_text())["halted"] is True

        await c.post("/resume")
        await eventually(lambda: len(resting_ids(sim)) >= 2, timeout=5, what="quotes back after resume")

        # the CLI client finds the daemon through logs/state/control.json (a blocking client: run it in a thread)
        cfg = tmp_path / "bot.yaml"
        cfg.write_text(yaml.safe_dump({"logging": {"dir": str(tmp_path / "logs")}}))
        capsys.readouterr()
        ns = argparse.Namespace(command="halt", config=str(cfg))
        assert await asyncio.to_thread(control_main, ns) == 0
        assert d.engine is not None and d.engine.risk_state == "HALTED"
        assert json.loads(_json_tail(capsys.readouterr().out))["state"] == "HALTED"
        ns = argparse.Namespace(command="status", config=str(cfg))
        assert await asyncio.to_thread(control_main, ns) == 0
        assert json.loads(_json_tail(capsys.readouterr().out))["risk_state"] == "HALTED"
        ns = argparse.Namespace(command="resume", config=str(cfg))
        assert await asyncio.to_thread(control_main, ns) == 0
        assert d.engine.risk_state == "ACTIVE"

        # a dropped feed makes /healthz fail until it is back
        assert d.feed is not None
        d.feed.stop()
        await eventually(lambda: not d.feed.connected, timeout=5)  # type: ignore[union-attr]
        r = await c.get("/healthz")
        assert r.status_code == 503 and "feed disconnected" in r.json()["problems"]
    assert d.exit_code == 0


async def _when(coro: object, pred: object) -> str | None:
    text: str = await coro  # type: ignore[misc]
    try:
        return text if pred(text) else None  # type: ignore[operator]
    except AssertionError:  # a labelled metric has no sample until first used
        return None


async def test_healthz_fails_on_stale_feed_or_stuck_loop(sim: TestSim, tmp_path: Path) -> None:
    async with running_daemon(settings_for(tmp_path, sim)) as d:
        await eventually(lambda: health_view(d)[0], timeout=10, what="healthy")
        assert d.feed is not None
        newest = max(d.feed.stats.last_msg_ms.values())
        real_clock = d.clock_ms
        d.clock_ms = lambda: newest + 31_000  # type: ignore[method-assign]  # as if 31 s passed in silence
        ok, detail = health_view(d)
        assert not ok and detail["problems"] == ["feed stale"]
        d.clock_ms = lambda: newest  # type: ignore[method-assign]
        d.loop_lag_s = 6.0
        ok, detail = health_view(d)
        assert not ok and detail["problems"] == ["loop stuck"]
        d.clock_ms = real_clock  # type: ignore[method-assign]
        d.loop_lag_s = 0.0


def test_control_client_without_daemon_is_a_usage_error(tmp_path: Path) -> None:
    from kalshibot.errors import UsageError

    cfg = tmp_path / "bot.yaml"
    cfg.write_text(yaml.safe_dump({"logging": {"dir": str(tmp_path / "logs")}, "control": {"port": 1}}))
    with pytest.raises(UsageError, match="no running daemon"):
        control_main(argparse.Namespace(command="status", config=str(cfg)))


def _json_tail(out: str) -> str:
    """The CLI's pretty-printed JSON (log lines of the in-process daemon may precede it on stdout)."""
    return out[out.index("{\n") :]
