"""The order lifecycle table: scripted races (fill before ack, duplicate fills, fill vs cancel, 409 duplicate
client_order_id) as a parametrized table, strict vs production handling, and a Hypothesis property against a
model venue that delivers REST answers and WS fills in any interleaving."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Price, contracts, dollars
from kalshibot.core.order_tracker import OrderTracker
from kalshibot.core.orders import (
    IN_FLIGHT,
    TABLE,
    TERMINAL,
    WORKING,
    Applied,
    Ev,
    Order,
    State,
    UnexpectedTransition,
)

C = "bot-1"
OID = "oid-1"
T = "KXTEST-1"
P = dollars("0.45")


def _new(tr: OrderTracker, count: int = 10) -> Order:
    return tr.new(C, T, "bid", P, contracts(count), 0, intent_id="i1", book_seq=5)


def ack(fill: int = 0, rem: int = 10) -> ev.OrderAck:
    return ev.OrderAck(C, OID, contracts(fill), contracts(rem))


def fill(n: int, tid: str = "t1", coid: str | None = C) -> ev.FillEvent:
    return ev.FillEvent(OID, tid, T, "yes", "bid", P, contracts(n), 0, False, client_order_id=coid)  # type: ignore[arg-type]


def update(status: ev.OrderStatus, filled: int, rem: int, reason: str = "") -> ev.OrderUpdate:
    return ev.OrderUpdate(OID, C, T, status, "bid", P, contracts(filled), contracts(rem), contracts(10), reason)


def cancel_ack(reduced: int) -> ev.CancelAck:
    return ev.CancelAck(OID, C, contracts(reduced))


def reject(request: str = "create", code: str = "invalid_order") -> ev.OrderReject:
    return ev.OrderReject(C, OID if request != "create" else None, code, "no", request)  # type: ignore[arg-type]


Step = ev.Event | str  # a string names one of our own requests

SCENARIOS: list[tuple[str, list[Step], State, int]] = [
    # name, steps, final state, contracts filled
    ("ack", [ack()], State.RESTING, 0),
    ("ack_with_fill", [ack(3, 7)], State.PARTIALLY_FILLED, 3),
    ("ack_fully_filled", [ack(10, 0)], State.EXECUTED, 10),
    ("reject", [reject()], State.REJECTED, 0),
    ("fill_before_ack_partial", [fill(4)], State.PENDING_NEW, 4),
    ("fill_before_ack_then_ack", [fill(4), ack(4, 6)], State.PARTIALLY_FILLED, 4),
    ("fill_before_ack_full_then_ack", [fill(10), ack(10, 0)], State.EXECUTED, 10),
    ("fill_without_coid_before_ack", [fill(4, coid=None), ack(4, 6)], State.PARTIALLY_FILLED, 4),
    ("duplicate_fill", [ack(), fill(3), fill(3)], State.PARTIALLY_FILLED, 3),
    ("two_fills_fill_it", [ack(), fill(3), fill(7, "t2")], State.EXECUTED, 10),
    ("ack_after_user_order_says_more_filled", [ack(), update("resting", 6, 4), fill(6)], State.PARTIALLY_FILLED, 6),
    ("409_duplicate_coid_then_lookup", [reject(code="409"), update("resting", 0, 10)], State.RESTING, 0),
    ("409_while_known_is_harmless", [ack(), reject(code="duplicate_client_order_id")], State.RESTING, 0),
    ("cancel", [ack(), "cancel", cancel_ack(10)], State.CANCELLED, 0),
    ("fill_races_cancel", [ack(), "cancel", fill(4), cancel_ack(6)], State.CANCELLED, 4),
    ("fill_after_cancel_ack", [ack(), "cancel", cancel_ack(6), fill(4)], State.CANCELLED, 4),
    ("cancel_too_late", [ack(), "cancel", cancel_ack(0), fill(10)], State.EXECUTED, 10),
    ("fill_final_while_cancelling", [ack(), "cancel", fill(10), cancel_ack(0)], State.EXECUTED, 10),
    ("cancel_not_found_then_lookup", [ack(), "cancel", reject("cancel", "not_found")], State.UNKNOWN, 0),
    (
        "cancel_not_found_lookup_executed",
        [ack(), "cancel", reject("cancel", "not_found"), update("executed", 10, 0), fill(10)],
        State.EXECUTED,
        10,
    ),
    ("cancel_rejected_transient", [ack(), "cancel", reject("cancel", "rate_limited")], State.RESTING, 0),
    ("cancel_before_ack", ["cancel", ack(), cancel_ack(10)], State.CANCELLED, 0),
    ("cancel_before_ack_create_rejected", ["cancel", reject()], State.REJECTED, 0),
    ("expired", [ack(), update("canceled", 0, 0, "ExpiryCancel")], State.EXPIRED, 0),
    ("post_only_cross", [update("canceled", 0, 0, "PostOnlyCrossCancel"), ack()], State.CANCELLED, 0),
    ("stale_resting_after_cancel", [ack(), "cancel", cancel_ack(10), update("resting", 0, 10)], State.CANCELLED, 0),
    ("timeout_then_lookup_missing", [ev.OutcomeUnknown(C), reject("create", "not_found")], State.REJECTED, 0),
    ("timeout_then_lookup_found", [ev.OutcomeUnknown(C), update("resting", 2, 8)], State.PARTIALLY_FILLED, 2),
    ("venue_unknown_status", [ack(), update("unknown", 0, 10)], State.UNKNOWN, 0),
    (
        "amend_ack",
        [ack(), "amend", ev.AmendAck(OID, "bot-2", dollars("0.46"), contracts(8), contracts(0))],
        State.RESTING,
        0,
    ),
    ("amend_rejected", [ack(), "amend", reject("amend")], State.RESTING, 0),
    ("fill_during_amend", [ack(), "amend", fill(2)], State.PENDING_AMEND, 2),
    ("amend_answer_after_cancel", [ack(), "amend", "cancel", reject("amend"), cancel_ack(10)], State.CANCELLED, 0),
    ("decrease", [ack(), "decrease", ev.DecreaseAck(OID, C, contracts(7))], State.RESTING, 0),
    (
        "decrease_races_fill",
        [ack(), "decrease", fill(2), ev.DecreaseAck(OID, C, contracts(5))],
        State.PARTIALLY_FILLED,
        2,
    ),
    ("decrease_rejected", [ack(), "decrease", reject("decrease")], State.RESTING, 0),
    ("executed_then_venue_cancelled_rest", [ack(), fill(10), update("canceled", 10, 0)], State.CANCELLED, 10),
]


def run(tr: OrderTracker, steps: list[Step]) -> tuple[Order, list[Applied]]:
    o = _new(tr)
    out: list[Applied] = []
    for i, s in enumerate(steps):
        now = 1000 * (i + 1)
        if s == "cancel":
            out.append(tr.send_cancel(o, now))
        elif s == "amend":
            out.append(tr.send_amend(o, "bot-2", dollars("0.46"), contracts(8), None, now))
        elif s == "decrease":
            out.append(tr.send_decrease(o, contracts(3), now))
        else:
            assert not isinstance(s, str)
            out.append(tr.apply(s, now))
    return o, out


@pytest.mark.parametrize(("steps", "final", "filled"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_lifecycle_scenarios(steps: list[Step], final: State, filled: int) -> None:
    tr = OrderTracker(strict=True)
    o, applied = run(tr, steps)
    assert o.state is final
    assert o.filled == contracts(filled)
    assert o.fills_counted <= o.max_total
    assert sum(a.new_fill for a in applied) == o.fills_counted
    if final is State.UNKNOWN:
        assert any(a.lookup is not None for a in applied)
    if final in TERMINAL:
        assert o.remaining == 0
        assert tr.orders(T) == []
    else:
        assert tr.orders(T) == [o]


def test_amend_renames_and_updates() -> None:
    tr = OrderTracker(strict=True)
    o, _ = run(
        tr, [ack(), "amend", ev.AmendAck(OID, "bot-2", dollars("0.46"), contracts(8), contracts(0), 1_700_000_000)]
    )
    assert (o.client_order_id, o.price, o.total, o.expiration_ts_s) == (
        "bot-2",
        dollars("0.46"),
        contracts(8),
        1_700_000_000,
    )
    assert tr.get("bot-2") is o and tr.get(C) is o
    assert o.pending_price is None and o.target_price == dollars("0.46")


def test_pending_amend_exposes_target() -> None:
    tr = OrderTracker(strict=True)
    o, _ = run(tr, [ack(), "amend"])
    assert o.state is State.PENDING_AMEND and o.in_flight
    assert o.price == P and o.target_price == dollars("0.46") and o.target_remaining == contracts(8)


def test_duplicate_fill_counted_once_across_orders_forgotten() -> None:
    tr = OrderTracker(strict=True, retain_ms=10)
    o, _ = run(tr, [ack(), fill(10)])
    assert o.state is State.EXECUTED
    assert tr.prune(100_000) == 1
    assert tr.get(C) is None and tr.by_order_id(OID) is None
    # the order is gone, the fill key is not: a replayed fill counts nothing
    again = tr.apply(fill(10), 100_001)
    assert again.order is None and again.new_fill == 0 and again.event is Ev.FILL_DUPLICATE
    # a fresh fill for an order we do not know still counts (position is money)
    other = tr.apply(fill(1, "t9"), 100_002)
    assert other.order is None and other.new_fill == contracts(1)


def test_unexpected_pair_strict_raises() -> None:
    tr = OrderTracker(strict=True)
    o = _new(tr)
    tr.apply(ack(), 1)
    with pytest.raises(UnexpectedTransition) as ei:
        tr.apply(ev.AmendAck(OID, C, P, contracts(10), contracts(0)), 2)
    assert ei.value.state is State.RESTING and ei.value.event is Ev.AMEND_ACK
    assert o.state is State.RESTING


def test_unexpected_pair_production_marks_unknown_and_asks_lookup() -> None:
    tr = OrderTracker(strict=False)
    o = _new(tr)
    tr.apply(ack(), 1)
    res = tr.apply(ev.AmendAck(OID, C, P, contracts(10), contracts(0)), 2)
    assert res.unexpected and o.state is State.UNKNOWN
    assert res.lookup == ev.LookupOrder(C, OID, T)
    assert tr.has_unknown(T)
    # the lookup answer resolves it
    tr.apply(update("resting", 0, 10), 3)
    assert o.state is State.RESTING and not tr.has_unknown(T)


def test_overfill_is_unexpected() -> None:
    tr = OrderTracker(strict=True)
    _new(tr)
    tr.apply(ack(), 1)
    tr.apply(fill(10), 2)
    with pytest.raises(UnexpectedTransition):
        tr.apply(fill(1, "t2"), 3)
    prod = OrderTracker(strict=False)
    o = _new(prod)
    prod.apply(ack(), 1)
    prod.apply(fill(10), 2)
    res = prod.apply(fill(1, "t2"), 3)
    assert res.unexpected and res.new_fill == contracts(1) and o.state is State.UNKNOWN and res.lookup is not None


def test_mark_cancelled_after_reactivation() -> None:
    tr = OrderTracker(strict=True)
    o = _new(tr)
    tr.apply(ack(), 1)
    done = tr.mark_cancelled(T, 2)
    assert [a.new for a in done] == [State.CANCELLED] and o.is_terminal


def test_reused_client_order_id_refused() -> None:
    tr = OrderTracker(strict=True)
    _new(tr)
    with pytest.raises(ValueError):
        _new(tr)


def test_table_shape() -> None:
    for st_ in State:
        if st_ is not State.REJECTED:
            # every state that can see fills absorbs a duplicate without moving
            assert TABLE[(st_, Ev.FILL_DUPLICATE)] is st_
    for (st_, e), target in TABLE.items():
        if st_ in TERMINAL:
            # a finished order never comes back to life
            assert isinstance(target, State) and target in TERMINAL, (st_, e, target)
        if e is Ev.SEND_AMEND or e is Ev.SEND_DECREASE:
            assert st_ in WORKING  # one request in flight at a time
    assert State.PENDING_CANCEL in IN_FLIGHT


# ------------------------------------------------------------------------------------ property: model venue
@dataclass
class Venue:
    """One order at a model exchange: applies requests at once, answers on a FIFO REST channel, reports fills on a
    FIFO WS channel; the test interleaves the channels at random."""

    total: int
    filled: int = 0
    status: str = "resting"
    price: int = P
    coid: str = C
    rest: list[ev.Event] = field(default_factory=list)
    ws: list[ev.FillEvent] = field(default_factory=list)
    sent_fills: list[ev.FillEvent] = field(default_factory=list)
    trades: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.filled if self.status == "resting" else 0

    def snapshot(self) -> ev.OrderUpdate:
        st_: ev.OrderStatus = (
            "resting" if self.status == "resting" else ("executed" if self.status == "executed" else "canceled")
        )
        return ev.OrderUpdate(
            OID,
            self.coid,
            T,
            st_,
            "bid",
            Price(self.price),
            Count(self.filled),
            Count(self.remaining),
            Count(self.total),
        )


OPS = st.one_of(
    st.tuples(st.just("fill"), st.integers(1, 600)),
    st.tuples(st.just("amend"), st.integers(1, 900)),
    st.tuples(st.just("decrease"), st.integers(1, 900)),
    st.tuples(st.just("cancel"), st.just(0)),
    st.tuples(st.just("rest"), st.just(0)),
    st.tuples(st.just("ws"), st.just(0)),
    st.tuples(st.just("dup"), st.integers(0, 50)),
    st.tuples(st.just("lose"), st.just(0)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=st.integers(1, 1000), ops=st.lists(OPS, max_size=40), tail=st.randoms(use_true_random=False))
def test_lifecycle_against_model_venue(initial: int, ops: list[tuple[str, int]], tail: object) -> None:
    tr = OrderTracker(strict=True)  # strict: any interleaving without a row fails the test
    o = tr.new(C, T, "bid", P, Count(initial), 0)
    v = Venue(total=initial)
    v.rest.append(ev.OrderAck(C, OID, Count(0), Count(initial)))
    counted = 0
    n_coid = 0
    now = 0

    def feed(e: ev.Event) -> None:
        nonlocal counted
        res = tr.apply(e, now)
        counted += res.new_fill
        if res.lookup is not None:
            v.rest.append(v.snapshot())
        assert o.fills_counted <= o.max_total
        assert o.filled <= v.filled

    def answer(e: ev.Event) -> None:
        v.rest.append(e)

    for op, k in ops:
        now += 1
        if op == "fill" and v.status == "resting":
            f = min(k, v.remaining)
            v.filled += f
            if v.filled == v.total:
                v.status = "executed"
            v.trades += 1
            fe = ev.FillEvent(OID, f"t{v.trades}", T, "yes", "bid", P, Count(f), 0, False, client_order_id=v.coid)  # type: ignore[arg-type]
            v.ws.append(fe)
        elif op == "amend" and o.state in WORKING:
            n_coid += 1
            new_coid = f"bot-a{n_coid}"
            new_total = Count(o.filled + k)
            tr.send_amend(o, new_coid, Price(P + 10_000), new_total, None, now)
            if v.status == "resting" and new_total > v.filled:
                v.total, v.price, v.coid = new_total, P + 10_000, new_coid
                answer(ev.AmendAck(OID, new_coid, Price(v.price), Count(v.remaining), Count(v.filled)))
            else:
                answer(ev.OrderReject(new_coid, OID, "not_found" if v.status != "resting" else "invalid", "", "amend"))
        elif op == "decrease" and o.state in WORKING and k < o.remaining:
            tr.send_decrease(o, Count(k), now)
            if v.status == "resting":
                if k >= v.remaining:
                    v.total, v.status = v.filled, "canceled"
                else:
                    v.total -= k
                answer(ev.DecreaseAck(OID, v.coid, Count(v.remaining)))
            else:
                answer(ev.OrderReject(v.coid, OID, "not_found", "", "decrease"))
        elif op == "cancel" and not o.is_terminal and o.state not in (State.PENDING_CANCEL, State.UNKNOWN):
            tr.send_cancel(o, now)
            if v.status == "resting":
                reduced = v.remaining
                v.total, v.status = v.filled, "canceled"
                answer(ev.CancelAck(OID, v.coid, Count(reduced)))
            else:
                answer(ev.OrderReject(v.coid, OID, "not_found", "", "cancel"))
        elif op == "rest" and v.rest:
            feed(v.rest.pop(0))
        elif op == "ws" and v.ws:
            fe = v.ws.pop(0)
            v.sent_fills.append(fe)
            feed(fe)
        elif op == "dup" and v.sent_fills:
            feed(v.sent_fills[k % len(v.sent_fills)])
        elif op == "lose" and v.rest:
            lost = v.rest.pop(0)
            if isinstance(lost, ev.OrderUpdate):
                feed(lost)  # lookups are retried until they answer
            else:
                req = {
                    ev.OrderAck: "create",
                    ev.AmendAck: "amend",
                    ev.DecreaseAck: "decrease",
                    ev.CancelAck: "cancel",
                }.get(type(lost), getattr(lost, "request", "create"))
                feed(ev.OutcomeUnknown(o.client_order_id, o.order_id, req))  # type: ignore[arg-type]

    # drain both channels (lookups may add answers), then the venue's authoritative view
    rnd: Callable[[], float] = tail.random  # type: ignore[attr-defined]
    while v.rest or v.ws:
        now += 1
        if v.ws and (not v.rest or rnd() < 0.5):
            feed(v.ws.pop(0))
        else:
            feed(v.rest.pop(0))
    feed(v.snapshot())
    assert counted == v.filled == o.fills_counted
    expected = {"executed": State.EXECUTED, "canceled": State.CANCELLED}.get(v.status)
    if expected is None:
        assert o.state in WORKING and o.remaining == v.remaining and o.price == v.price
    else:
        assert o.state is expected
