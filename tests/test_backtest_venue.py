"""The backtest's in-process venue: engine actions -> pure Exchange calls, exchange events -> core events, through
a latency pipe that keeps exchange order."""

from __future__ import annotations

import pytest

from kalshibot.core import events as ev
from kalshibot.core.fixed import contracts, dollars
from kalshibot.replay.analytics import Analytics
from kalshibot.replay.backtest_venue import SimVenue
from kalshibot.sim.exchange import CreateOrderParams, Exchange

T0 = 1_764_000_000_000
M = "KXT-1-A"
L = 50


def _world(**venue_kw: object) -> tuple[Exchange, SimVenue]:
    ex = Exchange(now_ms=T0, rate_limit_tier="off")
    ex.add_user("bot", dollars("1000"))
    ex.add_user("lp", dollars("1000"))
    venue = SimVenue(ex, "bot", latency_ms=L, **venue_kw)  # type: ignore[arg-type]
    ex.add_series("KXT", "test", fee_type="quadratic", fee_multiplier_ppm=1_000_000)
    ex.add_event("KXT-1", "KXT", "test event", mutually_exclusive=True)
    ex.add_market(M, "KXT-1", open_ts_ms=T0, close_ts_ms=T0 + 3_600_000, settlement_timer_s=60)
    return ex, venue


def _place(coid: str, side: str, price: str, n: int, **kw: object) -> ev.PlaceOrder:
    return ev.PlaceOrder(coid, M, side, dollars(price), contracts(n), "i1", None, **kw)  # type: ignore[arg-type]


def _types(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_new_market_arrives_after_the_latency_with_an_empty_snapshot() -> None:
    _, venue = _world()
    venue.pump(T0)
    assert venue.arrived(T0 + L - 1) == []
    assert venue.next_due_ms() == T0 + L
    got = venue.arrived(T0 + L)
    assert _types(got) == ["MarketAdded", "BookSnapshot"]
    spec = got[0].spec  # type: ignore[union-attr]
    assert (spec.ticker, spec.event_ticker, spec.series_ticker, spec.status) == (M, "KXT-1", "KXT", "active")
    assert spec.fee_type == "quadratic" and spec.mutually_exclusive and spec.close_ts_ms == T0 + 3_600_000
    snap = got[1]
    assert isinstance(snap, ev.BookSnapshot) and snap.yes == () and snap.no == () and snap.seq == 1


def test_orders_answers_and_announcements_in_exchange_order() -> None:
    ex, venue = _world()
    venue.pump(T0)
    venue.arrived(T0 + L)
    ex.create_order("lp", CreateOrderParams(M, "ask", dollars("0.60"), contracts(10)), T0 + 10)
    venue.pump(T0 + 10)
    venue.submit([_place("kb-1", "bid", "0.40", 5, expiration_ts_s=(T0 + 60_000) // 1000)], T0 + 20)
    got = venue.arrived(T0 + 20 + L)
    assert _types(got) == ["BookDelta", "OrderAck", "BookDelta", "OrderUpdate"]
    lp_delta, ack, own_delta, upd = got
    assert isinstance(lp_delta, ev.BookDelta) and lp_delta.client_order_id is None
    assert (lp_delta.side, lp_delta.price, lp_delta.delta) == ("no", dollars("0.40"), contracts(10))  # NO-leg
    assert isinstance(ack, ev.OrderAck) and ack.client_order_id == "kb-1" and ack.remaining_count == contracts(5)
    assert isinstance(own_delta, ev.BookDelta) and own_delta.client_order_id == "kb-1"
    assert own_delta.seq == lp_delta.seq + 1
    assert isinstance(upd, ev.OrderUpdate) and upd.status == "resting" and upd.expiration_ts_s == (T0 + 60_000) // 1000
    o = ex.get_order("bot", ack.order_id)
    assert o.post_only and o.cancel_order_on_pause and o.expiration_ts_s == (T0 + 60_000) // 1000
    # someone sells into our bid: trade print, our fill (with the exchange's position), our order update
    ex.create_order(
        "lp", CreateOrderParams(M, "ask", dollars("0.40"), contracts(2), time_in_force="immediate_or_cancel"), T0 + 30
    )
    venue.pump(T0 + 30)
    got = venue.arrived(T0 + 30 + L)
    assert _types(got) == ["BookDelta", "TradePrint", "FillEvent", "OrderUpdate"]
    fill = got[2]
    assert isinstance(fill, ev.FillEvent)
    assert (fill.outcome, fill.book_side, fill.yes_price, fill.count, fill.is_taker) == (
        "yes",
        "bid",
        dollars("0.40"),
        contracts(2),
        False,
    )
    assert fill.post_position == contracts(2) and fill.client_order_id == "kb-1" and venue.fills == 1
    venue.submit([ev.CancelOrder(ack.order_id, "kb-1", M)], T0 + 40)
    got = venue.arrived(T0 + 40 + L)
    assert _types(got) == ["CancelAck", "BookDelta", "OrderUpdate"]
    assert isinstance(got[0], ev.CancelAck) and got[0].reduced_by == contracts(3)
    assert venue.tokens == 10 + 2 and venue.requests["create"] == 1 and venue.requests["cancel"] == 1


def test_a_create_and_its_cancel_in_one_submission_cancel_out() -> None:
    ex, venue = _world()
    venue.pump(T0)
    venue.arrived(T0 + L)
    venue.submit([_place("kb-1", "bid", "0.40", 5), ev.CancelOrder(None, "kb-1", M)], T0)
    got = venue.arrived(T0 + L)
    assert _types(got) == ["OrderReject"]
    assert got[0].code == "cancelled_before_send"  # type: ignore[union-attr]
    assert ex.account_state("bot")["resting"] == [] and venue.tokens == 0


def test_exchange_refusals_become_rejects_and_post_only_crosses_are_cancellations() -> None:
    ex, venue = _world()
    venue.pump(T0)
    venue.arrived(T0 + L)
    ex.create_order("lp", CreateOrderParams(M, "ask", dollars("0.50"), contracts(10)), T0)
    venue.submit([_place("kb-1", "bid", "0.405", 5)], T0)  # off the cent grid
    venue.submit([_place("kb-2", "bid", "0.55", 5)], T0)  # crosses: post-only -> accepted, then cancelled
    got = [e for e in venue.arrived(T0 + L) if not isinstance(e, ev.BookDelta)]
    assert isinstance(got[0], ev.OrderReject) and got[0].code == "invalid_price" and got[0].request == "create"
    assert isinstance(got[1], ev.OrderAck) and got[1].remaining_count == 0
    assert isinstance(got[2], ev.OrderUpdate) and got[2].reason == "PostOnlyCrossCancel"
    venue.submit([ev.CancelOrder("no-such-order", "kb-9", M)], T0 + 1)
    rej = venue.arrived(T0 + 1 + L)
    assert isinstance(rej[0], ev.OrderReject) and rej[0].request == "cancel"
    assert venue.rejects == {"invalid_price": 1, "order_not_found": 1}


def test_determination_and_settlement_reach_the_engine_and_the_observer() -> None:
    an = Analytics()
    ex, venue = _world(observer=an)
    venue.pump(T0)
    venue.arrived(T0 + L)
    ex.determine(M, "yes", T0 + 1000)
    ex.advance(T0 + 1000 + 60_000)
    venue.pump(T0 + 61_000)
    got = venue.arrived(T0 + 61_000 + L)
    kinds = [(e.event_type, e.result, e.settlement_value) for e in got if isinstance(e, ev.MarketLifecycle)]
    assert kinds == [("determined", "yes", dollars("1")), ("settled", None, None)]
    assert an.markets[M].settled and an.markets[M].settle_value == dollars("1")


def test_markets_outside_the_universe_are_never_shown_to_the_engine() -> None:
    ex, venue = _world(accept=lambda m: m.series_ticker == "OTHER")
    venue.pump(T0)
    ex.create_order("lp", CreateOrderParams(M, "ask", dollars("0.50"), contracts(10)), T0)
    venue.pump(T0)
    assert venue.arrived(T0 + L) == [] and venue.markets == {}


def test_latency_must_be_positive() -> None:
    ex = Exchange(now_ms=T0, rate_limit_tier="off")
    with pytest.raises(ValueError):
        SimVenue(ex, "bot", latency_ms=0)
