"""``kalshibot backtest``: every shipped scenario runs in process on a virtual clock with zero limit breaches, the
numbers agree with the simulator's own books, and the output is deterministic."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import pytest

from kalshibot.core.fixed import COUNT_ONE, ONE_DOLLAR
from kalshibot.errors import UsageError
from kalshibot.replay.backtest import (
    BOT_USER,
    START_MS,
    BacktestRun,
    Strategy,
    backtest_main,
    resolve_strategies,
    run_scenario,
    scenario_length_ms,
    usd,
)
from kalshibot.sim.scenario import load_scenario, scenario_names

SHORT_MS = 120_000  # two virtual minutes per scenario keeps the whole file at a few seconds


@pytest.fixture(scope="module")
def strategies() -> list[Strategy]:
    return resolve_strategies("guide,default")


@pytest.mark.parametrize("name", ["benign", "informed", "release_jump", "trend", "default"])
def test_each_shipped_scenario_trades_without_a_breach(name: str, strategies: list[Strategy]) -> None:
    sr = run_scenario(load_scenario(name), strategies, seed=3, duration_ms=SHORT_MS)
    guide, default = sr.results
    assert sr.markets > 0
    for r in sr.results:
        assert r.breaches == 0, r.first_breaches
        assert r.checks > 0 or r.summary.fills == 0
        assert r.max_account_stake <= 2_500 * ONE_DOLLAR
    assert guide.summary.fills > 0 and guide.tokens > 0 and guide.max_account_stake > 0
    if name == "release_jump":
        # its events live 5 minutes and our default stops quoting 5 minutes before close: it never quotes there
        assert default.summary.fills == 0 and default.tokens == 0
    else:
        assert default.summary.fills > 0
    assert guide.judgement is not None and default.judgement is None  # only the guide states a hypothesis


def test_pnl_agrees_with_the_simulators_cash_and_positions() -> None:
    strategy = resolve_strategies("guide")[0]
    bt = BacktestRun(load_scenario("informed"), strategy, seed=5)
    bt.run(START_MS + 300_000)
    r = bt.result()
    assert r.summary.fills > 10
    acct = bt.exchange.balance(BOT_USER)
    cash = acct.balance + acct.locked - bt.start_balance
    held = Fraction(0)
    positions = bt.exchange.account_state(BOT_USER)["positions"]
    assert isinstance(positions, dict)
    for t, pos in positions.items():
        m = bt.analytics.markets[t]
        mark = m.settle_value if m.settle_value is not None else m.mark
        assert mark is not None
        held += Fraction(pos * mark if pos > 0 else -pos * (ONE_DOLLAR - mark), COUNT_ONE)
    assert bt.analytics.net_pnl() == cash + held
    fees = sum(p.fees_paid for p in bt.exchange.positions(BOT_USER, settlement_status="all"))
    assert r.summary.fees == fees


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"scenario": "benign", "strategies": None, "seed": 1, "duration": 90.0}
    base.update(kw)
    return argparse.Namespace(**base)


def test_same_seed_same_bytes_and_another_seed_differs(capsys: pytest.CaptureFixture[str]) -> None:
    assert backtest_main(_args()) == 0
    first = capsys.readouterr().out
    assert backtest_main(_args()) == 0
    assert capsys.readouterr().out == first
    assert backtest_main(_args(seed=2)) == 0
    assert capsys.readouterr().out != first
    lines = first.splitlines()
    assert lines[0].startswith("scenario benign:") and "seed 1, 1 min 30 s of virtual time" in lines[1]
    header = lines[3].split()
    assert header == ["metric", "guide", "default"]
    for label in (
        "net PnL after fees ($)",
        "max drawdown ($)",
        "max money at stake ($)",
        "fills",
        "two-sided uptime",
        "tokens spent",
        "limit breaches",
    ):
        assert any(line.startswith(label) for line in lines), label
    assert any(line.startswith("guide: hypothesis:") for line in lines)


def test_a_config_file_is_a_strategy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "wide.yaml"
    p.write_text("quoting:\n  spread: 0.06\nuniverse:\n  series: [KXCPI]\n", encoding="utf-8")
    assert backtest_main(_args(strategies=f"default,{p}", duration=60.0)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[3].split() == ["metric", "default", "wide"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"strategies": "guide,nope"}, "neither guide, default"),
        ({"strategies": "guide,guide"}, "share a name"),
        ({"duration": -1.0}, "--duration"),
    ],
)
def test_usage_errors(kw: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        backtest_main(_args(**kw))


def test_default_duration_is_one_full_event_life() -> None:
    sc = load_scenario("release_jump")  # lifetime 300 s + determination 5 s + settlement 10 s
    assert scenario_length_ms(sc) == 316_000
    assert set(scenario_names()) >= {"benign", "informed", "release_jump", "trend", "default"}


def test_usd_rounds_half_away_from_zero() -> None:
    assert [usd(x) for x in (0, 4_999, 5_000, -5_000, 1_234_567, -1_000_000)] == [
        "0.00",
        "0.00",
        "0.01",
        "-0.01",
        "1.23",
        "-1.00",
    ]
