"""The engine: quoting from the book, tolerance, fills and skew, gaps, unknown orders, lifecycle, close and release
windows, expiry refresh, operator halt/resume, the daily loss kill, risk refusals, state export and determinism."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kalshibot.core import events as ev
from kalshibot.core.engine import Engine, FlattenConfig
from kalshibot.core.fixed import Count, Money, Price, contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.core.market import ReleaseWindow
from kalshibot.core.orders import State
from kalshibot.core.risk import RiskLimits
from tests.test_engine_support import CLOSE, SPEC, T0, T, config, delta, of, order_actions, snap, started


def _fill(eng: Engine, coid: str, oid: str, side: ev.BookSide, price: Price, n: int, tid: str) -> ev.FillEvent:
    outcome: ev.Outcome = "yes" if side == "bid" else "no"
    return ev.FillEvent(oid, tid, T, outcome, side, price, contracts(n), Money(0), False, client_order_id=coid)


def test_first_snapshot_quotes_both_sides() -> None:
    eng, _, out = started()
    places = of(out, ev.PlaceOrder)
    assert [(p.side, p.price, p.count) for p in places] == [
        ("bid", dollars("0.43"), contracts(5)),
        ("ask", dollars("0.47"), contracts(5)),
    ]
    for p in places:
        assert p.post_only and p.time_in_force == "good_till_canceled" and p.cancel_order_on_pause
        assert p.expiration_ts_s == T0 // 1000 + 60 and p.book_seq == 1
        assert p.client_order_id.startswith("kb-t1-") and len(p.client_order_id) <= 64
    intents = of(out, ev.IntentNote)
    # buy YES at the bid, buy NO at 1 - ask; each with the top of book it saw
    assert [(i.outcome, i.price) for i in intents] == [("yes", dollars("0.43")), ("no", dollars("0.53"))]
    assert intents[0].top == ev.TopOfBook(dollars("0.40"), contracts(20), dollars("0.50"), contracts(20), 1)
    assert {p.intent_id for p in places} == {i.intent_id for i in intents}
    assert intents[0].reason["model"] == "linear" and intents[0].reason["fair"] == "0.4500"
    assert all(o.state is State.RESTING for o in eng.open_orders())


def test_deterministic_ids() -> None:
    a = started()[2]
    b = started()[2]
    assert a == b


def test_one_tick_wobble_does_not_churn_and_writes_no_intent() -> None:
    eng, _, _ = started()
    # top of book unchanged in price (size only): the quote is the same: nothing at all
    assert eng.handle(delta(2, "yes", "0.40", 5), T0 + 1) == []
    # best bid up one cent: fair +0.005: quote moves at most one tick: no order action
    out = eng.handle(delta(3, "yes", "0.41", 10), T0 + 2)
    assert order_actions(out) == []
    # a big move: both orders move (amend, 10 tokens each, rather than cancel + place)
    out = eng.handle(delta(4, "yes", "0.46", 10), T0 + 3)
    acts = order_actions(out)
    assert acts and all(isinstance(a, ev.AmendOrder) for a in acts)
    assert all(a.book_seq == 4 for a in acts)
    assert {a.side for a in acts} == {"bid", "ask"}
    assert of(out, ev.IntentNote)


def test_cancel_replace_policy() -> None:
    eng, _, _ = started(policy="cancel_replace")
    out = eng.handle(delta(2, "yes", "0.46", 10), T0 + 1)
    kinds = sorted(type(a).__name__ for a in order_actions(out))
    assert kinds == ["CancelOrder", "CancelOrder", "PlaceOrder", "PlaceOrder"]
    assert isinstance(order_actions(out)[0], ev.CancelOrder)  # cancels go first


def test_fill_moves_position_skews_and_dedups() -> None:
    eng, v, out = started(quote=replace(config().quote, skew=Price(10_000)))
    bid = of(out, ev.PlaceOrder)[0]
    f = _fill(eng, bid.client_order_id, v.oid(bid.client_order_id), "bid", bid.price, 5, "tr1")
    out = eng.handle(f, T0 + 10)
    assert eng.positions() == {T: contracts(5)}
    # long 5: skew 0.01/contract lowers both quotes by 0.05; the filled bid is gone, a new lower bid is placed
    acts = order_actions(out)
    assert acts, out
    assert all(getattr(a, "price", 0) <= dollars("0.42") for a in acts if not isinstance(a, ev.CancelOrder))
    v.ack_all(out, T0 + 10)
    # the same fill again (after a reconnect): nothing changes
    assert eng.handle(f, T0 + 11) == []
    assert eng.positions() == {T: contracts(5)}


def test_gap_stops_quoting_and_resyncs() -> None:
    eng, v, _ = started()
    out = eng.handle(ev.BookGap((T,), 1), T0 + 5)
    assert len(of(out, ev.CancelOrder)) == 2 and of(out, ev.ResyncBook) == [ev.ResyncBook(T)]
    v.ack_all(out, T0 + 5)
    # deltas while resyncing are ignored; a snapshot brings quotes back
    assert eng.handle(delta(9, "yes", "0.41", 1), T0 + 6) == []
    out = eng.handle(snap(10), T0 + 7)
    assert len(of(out, ev.PlaceOrder)) == 2


def test_bad_delta_invalidates_and_resyncs() -> None:
    eng, _, _ = started()
    out = eng.handle(delta(2, "yes", "0.40", -500), T0 + 1)  # more than rests there
    assert of(out, ev.ResyncBook) == [ev.ResyncBook(T)] and len(of(out, ev.CancelOrder)) == 2


def test_feed_down_cancels_without_resync() -> None:
    eng, _, _ = started()
    out = eng.handle(ev.FeedDown((T,)), T0 + 5)
    assert len(of(out, ev.CancelOrder)) == 2 and of(out, ev.ResyncBook) == []


def test_unknown_order_blocks_market_until_lookup() -> None:
    eng, v, out = started()
    bid = of(out, ev.PlaceOrder)[0]
    out = eng.handle(ev.OutcomeUnknown(bid.client_order_id, v.oid(bid.client_order_id), "amend"), T0 + 1)
    assert out == [ev.LookupOrder(bid.client_order_id, v.oid(bid.client_order_id), T)]
    # a big move would requote, but the market is blocked
    assert order_actions(eng.handle(delta(2, "yes", "0.46", 10), T0 + 2)) == []
    upd = ev.OrderUpdate(
        v.oid(bid.client_order_id), bid.client_order_id, T, "resting", "bid", bid.price, Count(0), bid.count, bid.count
    )
    out = eng.handle(upd, T0 + 3)
    assert order_actions(out)  # resolved: requotes at once


def test_duplicate_client_order_id_409_asks_lookup() -> None:
    eng = Engine(config(), id_seed="t1")
    eng.handle(ev.MarketAdded(SPEC), T0)
    out = eng.handle(snap(1), T0)
    bid = of(out, ev.PlaceOrder)[0]
    out = eng.handle(ev.OrderReject(bid.client_order_id, None, "409", "duplicate client_order_id"), T0 + 1)
    assert of(out, ev.LookupOrder) == [ev.LookupOrder(bid.client_order_id, None, T)]


def test_pause_and_reactivation() -> None:
    eng, _v, _ = started()
    before = {o.client_order_id for o in eng.open_orders()}
    out = eng.handle(ev.MarketLifecycle(T, "deactivated"), T0 + 1)
    assert of(out, ev.LifecycleNote)[0].event_type == "deactivated"
    assert order_actions(out) == []  # nothing can trade or be sent while paused
    assert order_actions(eng.handle(delta(2, "yes", "0.46", 10), T0 + 2)) == []
    # on reactivation Kalshi has cancelled every resting order (API.md §9): we know, and quote afresh
    out = eng.handle(ev.MarketLifecycle(T, "activated"), T0 + 3)
    assert not before & {o.client_order_id for o in eng.open_orders()}
    assert len(of(out, ev.PlaceOrder)) == 2 and of(out, ev.CancelOrder) == []


def test_determined_and_settled() -> None:
    eng, v, out = started()
    bid = of(out, ev.PlaceOrder)[0]
    eng.handle(_fill(eng, bid.client_order_id, v.oid(bid.client_order_id), "bid", bid.price, 5, "x1"), T0 + 1)
    out = eng.handle(ev.MarketLifecycle(T, "determined", result="yes"), T0 + 2)
    assert of(out, ev.LifecycleNote)[0].detail["result"] == "yes"
    assert all(isinstance(a, ev.CancelOrder) for a in order_actions(out)) and order_actions(out)
    v.ack_all(out, T0 + 2)
    out = eng.handle(ev.MarketLifecycle(T, "settled"), T0 + 3)
    s = of(out, ev.SettlementNote)
    assert s == [ev.SettlementNote(T, "yes", contracts(5), Money(5_000_000), Money(0))]
    assert eng.positions() == {}
    assert order_actions(eng.handle(snap(7), T0 + 4)) == []


def test_stops_before_close_with_deadline() -> None:
    eng, v, _ = started()
    stop_at = CLOSE - 300_000
    assert eng.next_deadline() is not None and eng.next_deadline() <= stop_at  # type: ignore[operator]
    t = T0
    cancels: list[ev.Output] = []
    while not cancels:
        dl = eng.next_deadline()
        assert dl is not None and dl <= stop_at
        t = dl
        out = eng.handle(ev.Timer(), t)
        v.ack_all(out, t)
        cancels = of(out, ev.CancelOrder)
    assert t == stop_at
    assert eng.open_orders() == []


def test_expiry_refresh_is_expiry_only_amend() -> None:
    eng, v, out = started(quote_ttl_ms=10**9)
    placed = {p.client_order_id: p.price for p in of(out, ev.PlaceOrder)}
    dl = eng.next_deadline()
    assert dl == T0 + 30_000  # half of the 60 s good-till-time
    out = eng.handle(ev.Timer(), dl)
    amends = of(out, ev.AmendOrder)
    assert len(amends) == 2
    for a in amends:
        assert a.price == placed[a.client_order_id] and a.expiration_ts_s == dl // 1000 + 60
    v.ack_all(out, dl)
    assert all(o.expiration_ts_s == dl // 1000 + 60 for o in eng.open_orders())


def test_release_window() -> None:
    w = ReleaseWindow("KXTEST", T0 + 60_000, T0 + 120_000)
    eng, v, _ = started(release_windows=(w,), quote_ttl_ms=10**9, expiration_s=None)
    assert eng.next_deadline() == T0 + 60_000
    out = eng.handle(ev.Timer(), T0 + 60_000)
    assert len(of(out, ev.CancelOrder)) == 2
    v.ack_all(out, T0 + 60_000)
    assert eng.next_deadline() == T0 + 120_000
    out = eng.handle(ev.Timer(), T0 + 120_000)
    assert len(of(out, ev.PlaceOrder)) == 2


def test_operator_halt_and_resume() -> None:
    eng, v, _ = started()
    out = eng.handle(ev.OperatorCommand("halt"), T0 + 1)
    notes = of(out, ev.RiskNote)
    assert notes and notes[0].state == "HALTED" and eng.risk_state == "HALTED"
    assert len(of(out, ev.CancelOrder)) == 2
    v.ack_all(out, T0 + 1)
    assert order_actions(eng.handle(delta(2, "yes", "0.46", 10), T0 + 2)) == []
    out = eng.handle(ev.OperatorCommand("resume"), T0 + 3)
    assert eng.risk_state == "ACTIVE" and len(of(out, ev.PlaceOrder)) == 2


def test_order_group_trigger_halts() -> None:
    eng, _, _ = started()
    out = eng.handle(ev.OrderGroupTriggered("og1"), T0 + 1)
    assert eng.risk_state == "HALTED" and of(out, ev.RiskNote)


def test_daily_loss_kill_cancels_everything() -> None:
    eng, v, out = started(risk=RiskLimits(price_band=None, daily_loss_kill=Money(1_000_000)))
    bid = of(out, ev.PlaceOrder)[0]
    out = eng.handle(_fill(eng, bid.client_order_id, v.oid(bid.client_order_id), "bid", bid.price, 5, "k1"), T0 + 1)
    v.ack_all(out, T0 + 1)
    # the market collapses: marked at mid 0.15, 5 contracts bought at 0.43 lose 1.40 > 1.00
    out = eng.handle(snap(5, "0.10", "0.20"), T0 + 2)
    v.ack_all(out, T0 + 2)
    out = eng.handle(ev.Timer(), T0 + 3)
    assert eng.risk_state == "HALTED"
    assert any(n.limit == "daily_loss_kill" for n in of(out, ev.RiskNote))
    v.ack_all(out, T0 + 3)
    assert eng.open_orders() == []
    assert eng.daily_pnl(T0 + 3) < -1_000_000


def test_risk_refusal_leaves_side_unquoted_with_reason() -> None:
    eng = Engine(config(risk=RiskLimits(price_band=None, max_notional_per_market=Money(1_000_000))), id_seed="t1")
    eng.handle(ev.MarketAdded(SPEC), T0)
    out = eng.handle(snap(1), T0)
    # bid: 5 x 0.43 = 2.15 at stake > 1.00; ask: 5 x 0.53 = 2.65: both refused
    assert of(out, ev.PlaceOrder) == []
    notes = of(out, ev.RiskNote)
    assert {n.limit for n in notes} == {"max_notional_per_market"}
    intents = of(out, ev.IntentNote)
    assert intents and all(i.count == 0 for i in intents)
    assert "risk_refused" in intents[0].reason
    # the same refusal on the next tick is not noted again
    assert of(eng.handle(delta(2, "yes", "0.46", 10), T0 + 1), ev.RiskNote) == []


def test_reducing_state_quotes_only_the_reducing_side() -> None:
    limits = RiskLimits(price_band=None, max_position=contracts(12), reducing_fraction=0.8)
    eng, v, out = started(risk=limits)
    bid = of(out, ev.PlaceOrder)[0]
    out = eng.handle(_fill(eng, bid.client_order_id, v.oid(bid.client_order_id), "bid", bid.price, 5, "r1"), T0 + 1)
    v.ack_all(out, T0 + 1)
    # long 5 + 5 resting bid + 5 more would reach 15 > 12; REDUCING: only asks (selling YES) are quoted
    out = eng.handle(snap(3, "0.41", "0.49"), T0 + 2)
    v.ack_all(out, T0 + 2)
    live = {o.side for o in eng.open_orders()}
    assert eng.risk_state == "REDUCING" and live == {"ask"}


def test_price_structure_change_cancels_off_grid() -> None:
    eng, v, _ = started()
    grid = PriceGrid.from_wire([{"start": "0", "end": "1", "step": "0.05"}], "five")
    out = eng.handle(ev.MarketLifecycle(T, "price_level_structure_updated", grid=grid), T0 + 1)
    acts = order_actions(out)
    # 0.43 / 0.47 are off the new grid: both orders move onto it (or are cancelled and replaced)
    assert acts and all(grid.is_valid(a.price) for a in acts if isinstance(a, ev.PlaceOrder | ev.AmendOrder))
    v.ack_all(out, T0 + 1)
    assert all(grid.is_valid(o.price) for o in eng.open_orders())


def test_exchange_inactive_stops_quoting() -> None:
    eng, _v, _ = started()
    before = {o.client_order_id for o in eng.open_orders()}
    out = eng.handle(ev.ExchangeState(exchange_active=True, trading_active=False), T0 + 1)
    assert order_actions(out) == [] and of(out, ev.LifecycleNote)
    assert order_actions(eng.handle(delta(2, "yes", "0.46", 10), T0 + 2)) == []
    out = eng.handle(ev.ExchangeState(exchange_active=True, trading_active=True), T0 + 3)
    # our quotes were cancelled on pause (cancel_order_on_pause); fresh ones go out at the new book
    assert not before & {o.client_order_id for o in eng.open_orders()}
    assert len(of(out, ev.PlaceOrder)) == 2 and of(out, ev.CancelOrder) == []


def test_flatten_before_close() -> None:
    fl = FlattenConfig(enabled=True, before_close_ms=400_000, max_concession=Price(50_000))
    eng, v, out = started(flatten=fl)
    bid = of(out, ev.PlaceOrder)[0]
    out = eng.handle(_fill(eng, bid.client_order_id, v.oid(bid.client_order_id), "bid", bid.price, 5, "f1"), T0 + 1)
    v.ack_all(out, T0 + 1)
    t = CLOSE - 400_000
    out = eng.handle(ev.Timer(), t)
    flat = [p for p in of(out, ev.PlaceOrder) if p.reduce_only]
    assert len(flat) == 1
    f = flat[0]
    assert (f.side, f.price, f.count, f.time_in_force, f.post_only) == (
        "ask",
        dollars("0.40"),
        contracts(5),
        "immediate_or_cancel",
        False,
    )
    assert f.expiration_ts_s is None


def test_export_import_state() -> None:
    eng, _, _ = started()
    eng.handle(ev.OperatorCommand("halt", "test"), T0 + 1)
    st = eng.export_state()
    assert st["halted"] is True and st["trading_day"] == "2026-01-01"
    other = Engine(config(), id_seed="t2")
    other.import_state(st)
    assert other.risk_state == "HALTED"
    other.set_trading_day("2026-01-01", T0 - 1000)
    assert other.risk_state == "HALTED"
    other.set_trading_day("2026-01-02", T0 + 86_400_000)
    assert other.risk_state == "ACTIVE"


def test_bad_prefix_refused() -> None:
    with pytest.raises(ValueError):
        Engine(config(), client_order_id_prefix="bad prefix!", id_seed="x")


def test_own_orders_in_the_book_do_not_move_fair_value() -> None:
    eng, _, out = started()
    bid = of(out, ev.PlaceOrder)[0]
    # the feed shows our bid joining the book (API.md §5.3: the delta carries our client_order_id)
    mine = ev.BookDelta(T, 1, 2, "yes", bid.price, bid.count, client_order_id=bid.client_order_id)
    assert eng.handle(mine, T0 + 1) == []
    # the same size from somebody else is news: fair value moves up and the desired quote with it
    other = ev.BookDelta(T, 1, 3, "yes", dollars("0.44"), contracts(5))
    assert of(eng.handle(other, T0 + 2), ev.IntentNote)
