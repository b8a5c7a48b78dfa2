"""Hypothesis: random sessions (book moves, fills, acks, lost answers, gaps, timers, halts) through the engine in
strict mode. Properties: no unexpected order transition; never an order action in a market with an order of
unknown outcome; our own bid and ask never lock or cross; every quote carries the book sequence it came from; the
money at stake stays within the per-market cap; the position is exactly the (deduplicated) fills."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.core.engine import Engine
from kalshibot.core.fixed import Count, Money, Price, contracts
from kalshibot.core.orders import WORKING, State
from kalshibot.core.risk import RiskLimits
from tests.test_engine_support import SPEC, T0, T, config

CAP = Money(6_000_000)  # $6 per market: small enough that the cap binds

_ACK = st.tuples(st.just("ack"), st.just(0), st.just(0))
_MOVE = st.one_of(
    st.tuples(st.just("yes"), st.integers(30, 48), st.integers(-20, 20)),
    st.tuples(st.just("no"), st.integers(40, 58), st.integers(-20, 20)),
)
_FILL = st.tuples(st.just("fill"), st.integers(0, 5), st.integers(1, 8))
OPS = st.lists(
    st.one_of(
        _MOVE,
        _MOVE,
        _FILL,
        _FILL,
        _ACK,
        _ACK,
        st.tuples(st.just("lost"), st.just(0), st.just(0)),
        st.tuples(st.just("timer"), st.just(0), st.just(0)),
        st.tuples(st.just("gap"), st.just(0), st.just(0)),
        st.tuples(st.sampled_from(["halt", "resume"]), st.just(0), st.just(0)),
    ),
    min_size=5,
    max_size=40,
)


@settings(
    max_examples=int(os.environ.get("KALSHIBOT_PROP_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=OPS, policy=st.sampled_from(["amend", "cancel_replace"]))
def test_random_sessions(ops: list[tuple[str, int, int]], policy: str) -> None:
    eng = Engine(config(policy=policy, risk=RiskLimits(price_band=None, max_notional_per_market=CAP)), id_seed="p")
    eng.set_trading_day("d", T0)
    levels: dict[str, dict[int, int]] = {"yes": {40: 2000}, "no": {50: 2000}}
    seq = 1
    now = T0
    pending: list[ev.Output] = []
    lookups: list[ev.LookupOrder] = []
    oids: dict[str, str] = {}
    fills = 0
    trades = 0
    position = 0

    def snapshot() -> ev.BookSnapshot:
        yes = tuple((Price(p * 10_000), Count(s)) for p, s in sorted(levels["yes"].items()) if s > 0)
        no = tuple((Price(p * 10_000), Count(s)) for p, s in sorted(levels["no"].items()) if s > 0)
        return ev.BookSnapshot(T, 1, seq, yes, no)

    def handle(e: ev.Event) -> None:
        out = eng.handle(e, now)
        acts = [o for o in out if isinstance(o, ev.PlaceOrder | ev.AmendOrder | ev.DecreaseOrder)]
        if eng.orders.has_unknown(T):
            assert not acts, "order action while an order's outcome is unknown"
        for a in out:
            if isinstance(a, ev.PlaceOrder) and not a.reduce_only:
                assert a.book_seq == eng._markets[T].book.seq and a.intent_id
        pending.extend(
            o for o in out if isinstance(o, ev.PlaceOrder | ev.AmendOrder | ev.DecreaseOrder | ev.CancelOrder)
        )
        lookups.extend(o for o in out if isinstance(o, ev.LookupOrder))
        live = [o for o in eng.open_orders() if o.kind == "quote"]
        # every price an order of ours may rest at (an amend in flight: old or new)
        bids = [p for o in live if o.side == "bid" for p in (o.price, o.target_price)]
        asks = [p for o in live if o.side == "ask" for p in (o.price, o.target_price)]
        if bids and asks:
            assert max(bids) < min(asks), "our own quotes lock or cross"
        # the exposure the engine means to keep (orders it is cancelling aside: a lookup can resurrect an order
        # we were cancelling, and the engine then cancels it) stays within the cap
        port = eng.desk.portfolio
        going = [o for o in live if o.state is State.PENDING_CANCEL]
        for o in going:
            port.remove_order(o.key)
        assert port.market_stake(T) <= CAP, "money at stake above the cap"
        for o in going:
            eng.desk.sync_order(o)
        assert eng.positions().get(T, 0) == position
        # the tracker's open-order index agrees with the states of every order it tracks
        tracked = eng.orders._by_ticker.get(T, {}).values()
        assert eng.orders.orders(T) == [o for o in tracked if not o.is_terminal]

    def oid(coid: str) -> str:
        return oids.setdefault(coid, f"x{len(oids)}")

    def answer(a: ev.Output) -> None:
        if isinstance(a, ev.PlaceOrder):
            handle(ev.OrderAck(a.client_order_id, oid(a.client_order_id), Count(0), a.count))
        elif isinstance(a, ev.AmendOrder):
            oids[a.new_client_order_id] = a.order_id
            o = eng.orders.by_order_id(a.order_id)
            filled = o.filled if o is not None else 0
            handle(
                ev.AmendAck(
                    a.order_id,
                    a.new_client_order_id,
                    a.price,
                    Count(a.count - filled),
                    Count(filled),
                    a.expiration_ts_s,
                )
            )
        elif isinstance(a, ev.DecreaseOrder):
            o = eng.orders.by_order_id(a.order_id)
            rem = o.remaining if o is not None else 0
            handle(ev.DecreaseAck(a.order_id, a.client_order_id, Count(max(0, rem - a.reduce_by))))
        elif isinstance(a, ev.CancelOrder):
            o = eng.orders.get(a.client_order_id)
            rem = o.remaining if o is not None else 0
            handle(ev.CancelAck(a.order_id or oid(a.client_order_id), a.client_order_id, Count(rem)))

    handle(ev.MarketAdded(SPEC))
    handle(snapshot())
    for op, a, b in ops:
        now += 1000
        if op in ("yes", "no"):
            cur = levels[op].get(a, 0)
            d = max(b * 100, -cur)
            if d == 0:
                continue
            levels[op][a] = cur + d
            seq += 1
            handle(ev.BookDelta(T, 1, seq, op, Price(a * 10_000), Count(d)))  # type: ignore[arg-type]
        elif op == "fill":
            working = [o for o in eng.open_orders() if o.state in WORKING and o.order_id is not None]
            if not working:
                continue
            o = working[a % len(working)]
            n = min(contracts(b), o.remaining)
            trades += 1
            assert o.order_id is not None
            f = ev.FillEvent(
                o.order_id,
                f"t{trades}",
                T,
                "yes" if o.side == "bid" else "no",
                o.side,
                o.price,
                Count(n),
                Money(0),
                False,
                client_order_id=o.client_order_id,
            )
            position += n if o.side == "bid" else -n
            fills += 1
            handle(f)
            handle(f)  # the duplicate after a reconnect
        elif op == "ack":
            rounds = 0
            while pending:
                rounds += 1
                assert rounds < 200, f"the engine keeps answering its own acks with new actions: {pending[:4]}"
                answer(pending.pop(0))
            while lookups:
                lk = lookups.pop(0)
                o = eng.orders.get(lk.client_order_id)
                if o is not None and o.order_id is not None:
                    st_: ev.OrderStatus = "resting" if o.remaining > 0 else "executed"
                    handle(
                        ev.OrderUpdate(
                            o.order_id, o.client_order_id, T, st_, o.side, o.price, o.filled, o.remaining, o.total
                        )
                    )
                elif o is not None:
                    handle(ev.OrderReject(lk.client_order_id, None, "not_found", "no such order"))
        elif op == "lost" and pending:
            a_ = pending.pop(0)
            coid = a_.client_order_id
            req = {ev.PlaceOrder: "create", ev.AmendOrder: "amend", ev.DecreaseOrder: "decrease"}.get(
                type(a_), "cancel"
            )
            if isinstance(a_, ev.PlaceOrder):
                handle(ev.OutcomeUnknown(coid, None, "create"))
            else:
                o = eng.orders.get(coid)
                handle(ev.OutcomeUnknown(coid, o.order_id if o else None, req))  # type: ignore[arg-type]
        elif op == "timer":
            dl = eng.next_deadline()
            if dl is not None and dl < SPEC.close_ts_ms - 400_000:  # type: ignore[operator]
                now = max(now, dl)
                handle(ev.Timer())
        elif op == "gap":
            handle(ev.BookGap((T,), 1))
            seq += 1
            handle(snapshot())
        elif op == "halt":
            handle(ev.OperatorCommand("halt"))
        elif op == "resume":
            handle(ev.OperatorCommand("resume"))
