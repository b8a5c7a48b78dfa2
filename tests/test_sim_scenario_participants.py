"""The scenario driver's latent world and its informed traders (issue 5 "Living markets"): the latent value jumps at
release times and nowhere else when it has no drift or volatility, settlement is drawn from it, informed traders
only ever trade toward it, and they decide more often shortly before a release."""

from __future__ import annotations

import random
from typing import Any

from kalshibot.core.fixed import ONE_DOLLAR
from kalshibot.sim.exchange import Exchange
from kalshibot.sim.scenario import ScenarioDriver, load_scenario
from kalshibot.sim.scenario_load import parse_scenario

T0 = 1_764_000_000_000
RELEASE_S = 300
PRE_S = 60


def _scenario(jump_sd: float, vol: float = 0.0, informed_rate: float = 6.0) -> Any:
    return parse_scenario(
        {
            "name": "probe",
            "series": [
                {
                    "ticker": "KXPROBE",
                    "lifetime_s": 600,
                    "releases_s": [RELEASE_S],
                    "determination_delay_s": 5,
                    "settlement_timer_s": 5,
                    "rollover": False,
                    "underlying": {
                        "start": 100,
                        "start_sd": 0,
                        "vol_per_sqrt_hour": vol,
                        "jump_sd": jump_sd,
                        "final_sd": 1e-6,  # must be > 0; negligible next to the strike spacing
                        "decimals": 1,
                    },
                    "strikes": {"from": 60, "to": 140, "step": 10},
                }
            ],
            "participants": {
                # slow-tracking LPs lag behind the jump: the informed trader has something to pick off
                "liquidity_providers": [
                    {"name": "lp", "interval_s": [0.5, 1.0], "half_spread": "0.03", "tracking": 0.05}
                ],
                "informed": [
                    {
                        "name": "inf",
                        "rate_per_min": informed_rate,
                        "size": [1, 3],
                        "edge": "0.02",
                        "pre_release_s": PRE_S,
                        "pre_release_multiplier": 10,
                        "balance": "1000000",
                    }
                ],
            },
        }
    )


def _driver(sc: Any, seed: int) -> tuple[Exchange, ScenarioDriver]:
    ex = Exchange(now_ms=T0)
    return ex, ScenarioDriver(ex, sc, random.Random(seed), 1.0, T0)


def test_latent_value_jumps_at_the_release_and_settlement_is_drawn_from_it() -> None:
    ex, d = _driver(_scenario(jump_sd=25.0), seed=4)
    d.run_until(T0 + 1000)
    (ev,) = d.live.values()
    xs_before = []
    for s in (10, 100, 299):
        d.run_until(T0 + s * 1000)
        xs_before.append(ev.x)
    # no drift, no volatility: nothing moves the latent value before the release
    assert xs_before == [100.0, 100.0, 100.0]
    d.run_until(T0 + RELEASE_S * 1000 + 1)
    jumped = ev.x
    assert jumped != 100.0
    d.run_until(T0 + 599_000)
    assert ev.x == jumped  # and nothing after it
    d.run_until(T0 + 620_000)  # close at 600 s, determination 5 s later, settlement 5 s after that
    assert ev.final is not None and abs(ev.final - jumped) < 1e-3  # tiny final_sd: settles at the latent value
    for ticker, ms in ev.markets:
        m = ex.market(ticker)
        assert m.status == "finalized"
        assert m.result == ("yes" if jumped > (ms.floor_strike or 0.0) else "no"), ticker
    assert ex.check_invariants() == []


def _spy_on_informed_orders(d: ScenarioDriver, placed: list[tuple[str, int, float]]) -> None:
    """Record (side, price, latent fair value at that instant) for every order the informed trader sends."""
    place = d._place

    def spy(user: str, ticker: str, side: str, price: int, *args: Any, **kw: Any) -> Any:
        if user == "sim-inf":
            (ev,) = [e for e in d.live.values() if any(t == ticker for t, _ in e.markets)]
            ms = next(m for t, m in ev.markets if t == ticker)
            # same instant as the trader's own look: fair_value is a pure read here (no time has passed)
            placed.append((side, price, d.fair_value(ev, ms, d.ex.now_ms)))
        return place(user, ticker, side, price, *args, **kw)

    d._place = spy  # type: ignore[method-assign]


def test_informed_traders_only_trade_toward_the_latent_value() -> None:
    placed: list[tuple[str, int, float]] = []
    for seed in (1, 2, 3, 4):
        _, d = _driver(_scenario(jump_sd=30.0, vol=40.0, informed_rate=30.0), seed)
        _spy_on_informed_orders(d, placed)
        d.run_until(T0 + 590_000)
    edge = 20_000
    for side, price, fair in placed:
        fair_micros = fair * ONE_DOLLAR
        if side == "bid":  # buys YES only below the latent value, by at least its edge
            assert price + edge <= fair_micros + 1, (side, price, fair)
        else:  # sells YES (buys NO) only above it
            assert price - edge >= fair_micros - 1, (side, price, fair)
    # it does trade, in both directions (the latent value moves both ways across seeds)
    assert len(placed) >= 10 and {s for s, _, _ in placed} == {"bid", "ask"}, placed


def test_informed_traders_decide_more_often_shortly_before_a_release() -> None:
    _, d = _driver(_scenario(jump_sd=10.0, informed_rate=6.0), seed=7)
    decisions: list[int] = []
    at = d._at

    def spy(t_ms: int, action: Any) -> None:
        # every decision of an informed trader schedules its next one (until close): count them by when made
        if getattr(action, "__qualname__", "").startswith("ScenarioDriver._informed_action"):
            decisions.append(d.ex.now_ms)
        at(t_ms, action)

    d._at = spy  # type: ignore[method-assign]
    d.run_until(T0 + RELEASE_S * 1000)
    window_start = T0 + (RELEASE_S - PRE_S) * 1000
    before = sum(1 for t in decisions if T0 < t < window_start)
    during = sum(1 for t in decisions if window_start <= t < T0 + RELEASE_S * 1000)
    per_min_before = before / ((RELEASE_S - PRE_S) / 60)
    per_min_during = during / (PRE_S / 60)
    # 6/min normally, x10 in the last minute before the release (Poisson, fixed seed: generous bounds)
    assert 2 <= per_min_before <= 12, per_min_before
    assert per_min_during >= 4 * per_min_before, (per_min_before, per_min_during)


def test_the_bundled_informed_scenario_has_informed_traders() -> None:
    sc = load_scenario("informed")
    assert sc.informed and all(i.rate_per_min > 0 and i.edge > 0 for i in sc.informed)
