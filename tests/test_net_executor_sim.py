"""The executor against the simulator: batches, order shaping, local refusals, unknown outcomes blocking a market
until resolved, fills journaled exactly once, an order-group trigger journaled as HALTED."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from kalshibot.core import events as ev
from kalshibot.core.fixed import contracts, dollars
from kalshibot.journal.records import make_record
from kalshibot.net.auth import KalshiAuth, load_private_key
from kalshibot.net.executor import Executor, MemoryJournal, new_client_order_id
from kalshibot.net.rest import KalshiRest
from kalshibot.sim.state import CreateOrderParams
from kalshibot.sim.testing import TestSim, add_test_market, eventually, running_sim

T = "EXE-A"
PREFIX = "kb-"


@dataclass
class Rig:
    sim: TestSim
    rest: KalshiRest
    ex: Executor
    journal: MemoryJournal
    events: list[ev.Event]
    paths: list[str]
    group: str

    def of(self, cls: type) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, cls)]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with running_sim(scenario="none", faults_enabled=True) as sim:
        add_test_market(sim, T)
        paths: list[str] = []

        async def hook(request: httpx.Request) -> None:
            paths.append(f"{request.method} {request.url.path.removeprefix('/trade-api/v2')}")

        auth = KalshiAuth(sim.test_key_id, load_private_key(sim.test_private_key_pem))
        rest = KalshiRest(sim.rest_url, auth, timeout_s=0.5, backoff_initial_s=0.02, lookup_attempts=2)
        rest._client.event_hooks["request"].append(hook)
        group = await rest.create_order_group(contracts(100))
        journal, events = MemoryJournal(), []
        ex = Executor(
            rest, journal, prefix=PREFIX, subaccount=0, order_group_id=group, on_event=events.append,
            lookup_delays_s=(0.05, 0.1, 0.2, 0.4),
        )  # fmt: skip
        try:
            yield Rig(sim, rest, ex, journal, events, paths, group)
        finally:
            await ex.aclose()
            await rest.aclose()


def place(price: str, side: str = "bid", n: int = 1, *, coid: str | None = None, **kw: object) -> ev.PlaceOrder:
    return ev.PlaceOrder(
        client_order_id=coid or new_client_order_id(PREFIX, 0), ticker=T, side=side, price=dollars(price),  # type: ignore[arg-type]
        count=contracts(n), intent_id="i1", book_seq=3, expiration_ts_s=kw.pop("exp", 4_000_000_000), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def valid_journal(j: MemoryJournal) -> None:
    for r in j.records:
        fields = {k: v for k, v in r.items() if k not in ("type", "ts_ms")}
        make_record(r["type"], r["ts_ms"], "s1", **fields)  # raises if a record does not match the schema


async def test_quotes_batch_create_and_batch_cancel(rig: Rig) -> None:
    quotes = [place("0.40"), place("0.41"), place("0.60", "ask")]
    await rig.ex.submit(quotes)
    assert rig.paths.count("POST /portfolio/events/orders/batched") == 1
    acks = rig.of(ev.OrderAck)
    assert [a.client_order_id for a in acks] == [q.client_order_id for q in quotes]  # type: ignore[attr-defined]
    for q in quotes:
        o = rig.sim.exchange.get_order_by_client_id(rig.sim.test_user_id, q.client_order_id)
        assert o.post_only and o.cancel_order_on_pause and o.order_group_id == rig.group
        assert o.expiration_ts_s == 4_000_000_000
    await rig.ex.submit([ev.CancelOrder(a.order_id, a.client_order_id, T) for a in acks])  # type: ignore[attr-defined]
    assert rig.paths.count("DELETE /portfolio/events/orders/batched") == 1
    assert [c.reduced_by for c in rig.of(ev.CancelAck)] == [contracts(1)] * 3
    kinds = [r["type"] for r in rig.journal.records]
    assert kinds.count("order_sent") == 3 and kinds.count("ack") == 3 and kinds.count("cancel") == 6
    valid_journal(rig.journal)


async def test_flatten_orders_are_ioc_reduce_only_without_expiry_or_group(rig: Rig) -> None:
    a = place("0.40", n=1, time_in_force="immediate_or_cancel", reduce_only=True, post_only=True)
    req = rig.ex._request_for(a)
    assert (req.post_only, req.reduce_only, req.expiration_ts_s, req.order_group_id) == (False, True, None, None)
    assert req.to_wire()["time_in_force"] == "immediate_or_cancel" and "expiration_time" not in req.to_wire()


async def test_local_refusals_send_nothing(rig: Rig) -> None:
    good = place("0.40")
    await rig.ex.submit([good])
    sent = len(rig.paths)
    await rig.ex.submit([place("0.41", coid="other-1"), place("0.42", coid=good.client_order_id)])
    assert len(rig.paths) == sent
    assert [r.code for r in rig.of(ev.OrderReject)] == ["bad_client_order_id", "duplicate_client_order_id"]


async def test_unknown_outcome_blocks_the_market_until_resolved(rig: Rig) -> None:
    rig.sim.faults.inject("lost_ack", hold_ms=10_000)
    rig.sim.faults.inject("rest_error", count=10, status=500, path="/portfolio/orders", method="GET")
    first = place("0.40")
    await rig.ex.submit([first])
    assert [u.client_order_id for u in rig.of(ev.OutcomeUnknown)] == [first.client_order_id]
    assert rig.ex.blocked(T)
    await rig.ex.submit([place("0.39")])
    assert rig.of(ev.OrderReject)[-1].code == "market_blocked"  # type: ignore[attr-defined]
    await eventually(lambda: not rig.ex.blocked(T), timeout=5, what="background lookup resolves it")
    ack = rig.of(ev.OrderAck)[-1]
    assert ack.client_order_id == first.client_order_id  # type: ignore[attr-defined]
    orders = [o for o in await rig.rest.list_orders() if o.client_order_id == first.client_order_id]
    assert len(orders) == 1  # never two orders for one client_order_id
    await rig.ex.submit([place("0.39")])
    assert isinstance(rig.events[-1], ev.OrderAck)


async def test_user_order_resolves_an_unknown_and_abandoned_orders_are_cancelled(rig: Rig) -> None:
    rig.ex._mark_unknown("kb-0-x", T, None, "create", "lost ack")
    assert rig.ex.blocked(T)
    upd = ev.OrderUpdate("oid-1", "kb-0-x", T, "resting", "bid", dollars("0.4"), 0, 100, 100)
    assert rig.ex.observe(upd)
    assert not rig.ex.blocked(T) and rig.of(ev.OrderAck)[-1].order_id == "oid-1"  # type: ignore[attr-defined]
    # an abandoned create that surfaces later is cancelled at once
    await rig.ex.submit([place("0.40", coid="kb-0-ab")])
    oid = rig.of(ev.OrderAck)[-1].order_id  # type: ignore[attr-defined]
    rig.ex.abandoned.add("kb-0-ab")
    rig.ex.observe(ev.OrderUpdate(oid, "kb-0-ab", T, "resting", "bid", dollars("0.4"), 0, 100, 100))
    await eventually(lambda: rig.sim.exchange.get_order(rig.sim.test_user_id, oid).status == "canceled")


async def test_fills_are_journaled_exactly_once(rig: Rig) -> None:
    await rig.ex.submit([place("0.40", n=2)])
    _k, _s, other = rig.sim.new_user()
    sell = CreateOrderParams(T, "ask", dollars("0.40"), contracts(2), "immediate_or_cancel", "maker")
    rig.sim.exchange.create_order(other, sell, rig.sim.clock())
    fills = await rig.rest.get_fills()
    assert len(fills) == 1
    f = fills[0].to_event()
    assert rig.ex.observe(f) is True
    assert rig.ex.observe(f) is False  # a duplicate (WS then REST, or a WS repeat): not journaled again
    recs = rig.journal.of_type("fill")
    assert len(recs) == 1
    assert (recs[0]["side"], recs[0]["price"], recs[0]["count"], recs[0]["position_after"]) == (
        "yes",
        "0.4000",
        "2.00",
        "2.00",
    )
    valid_journal(rig.journal)


async def test_amend_and_decrease_one_by_one(rig: Rig) -> None:
    q = place("0.40", n=3)
    await rig.ex.submit([q])
    oid = rig.of(ev.OrderAck)[-1].order_id  # type: ignore[attr-defined]
    new = new_client_order_id(PREFIX, 0)
    amend = ev.AmendOrder(oid, q.client_order_id, new, T, "bid", dollars("0.42"), contracts(3), None, "i2", 4)
    await rig.ex.submit([amend, ev.DecreaseOrder(oid, new, T, contracts(1), "i3")])
    a = rig.of(ev.AmendAck)[-1]
    assert (a.price, a.client_order_id) == (dollars("0.42"), new)  # type: ignore[attr-defined]
    assert rig.of(ev.DecreaseAck)[-1].remaining_count == contracts(2)  # type: ignore[attr-defined]
    o = rig.sim.exchange.get_order(rig.sim.test_user_id, oid)
    assert (o.price, o.remaining, o.client_order_id) == (dollars("0.42"), contracts(2), new)
    valid_journal(rig.journal)


async def test_group_trigger_is_journaled_as_halted_and_not_reset(rig: Rig) -> None:
    await rig.ex.submit([place("0.40")])
    rig.sim.faults.inject("trigger_order_group", order_group_id=rig.group)
    rig.ex.observe(ev.OrderGroupTriggered(rig.group))
    risk = rig.journal.of_type("risk")
    assert len(risk) == 1 and risk[0]["state"] == "HALTED"
    await asyncio.sleep(0)
    assert not any(p.endswith("/reset") for p in rig.paths)
    valid_journal(rig.journal)


async def test_create_and_cancel_in_one_submission_cancel_out(rig: Rig) -> None:
    """The engine placed and then cancelled a quote before the pump sent it: nothing reaches the exchange, the
    create is reported rejected, the other order of the batch is sent."""
    doomed, kept = place("0.40"), place("0.41")
    cancel = ev.CancelOrder(None, doomed.client_order_id, T, "book moved")
    await rig.ex.submit([doomed, kept, cancel])
    rejects = [e for e in rig.of(ev.OrderReject) if isinstance(e, ev.OrderReject)]
    assert [(r.client_order_id, r.request, r.code) for r in rejects] == [
        (doomed.client_order_id, "create", "cancelled_before_send")
    ]
    acks = [e for e in rig.of(ev.OrderAck) if isinstance(e, ev.OrderAck)]
    assert [a.client_order_id for a in acks] == [kept.client_order_id]
    assert not any("DELETE" in p for p in rig.paths)
    assert rig.sim.exchange.account_state(rig.sim.test_user_id)["resting"] == [acks[0].order_id]
    valid_journal(rig.journal)


async def test_more_orders_than_one_batch_holds_are_split() -> None:
    """24 quotes created and cancelled in one submission each: split into batches of at most 20 items (the
    simulator refuses larger batches, as Kalshi's tier-dependent batch limit would), so none is refused."""
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        add_test_market(sim, T)
        seen: list[int] = []

        async def hook(request: httpx.Request) -> None:
            if request.url.path.endswith("/batched"):
                seen.append(len(json.loads(request.content)["orders"]))

        auth = KalshiAuth(sim.test_key_id, load_private_key(sim.test_private_key_pem))
        rest = KalshiRest(sim.rest_url, auth)
        rest.limiter.configure((10_000, 10_000), (10_000, 10_000))
        rest._client.event_hooks["request"].append(hook)
        events: list[ev.Event] = []
        ex = Executor(rest, MemoryJournal(), prefix=PREFIX, subaccount=0, order_group_id=None, on_event=events.append)
        try:
            quotes = [place(f"0.{10 + i:02d}") for i in range(24)]
            await ex.submit(quotes)
            acks = [e for e in events if isinstance(e, ev.OrderAck)]
            assert len(acks) == 24
            await ex.submit([ev.CancelOrder(a.order_id, a.client_order_id, T) for a in acks])
            assert len([e for e in events if isinstance(e, ev.CancelAck)]) == 24
            assert not [e for e in events if isinstance(e, ev.OrderReject)]
            assert seen and max(seen) <= 20 and sum(seen) == 48
            assert sim.exchange.account_state(sim.test_user_id)["resting"] == []
        finally:
            await ex.aclose()
            await rest.aclose()


async def test_amend_superseded_by_a_cancel_in_the_same_submission_is_not_sent(rig: Rig) -> None:
    """The engine amended a quote and then cancelled it before the pump ran: only the cancel goes out (sent
    after it, the amend could only be refused as not resting)."""
    q = place("0.40")
    await rig.ex.submit([q])
    ack = next(e for e in rig.of(ev.OrderAck) if isinstance(e, ev.OrderAck))
    amend = ev.AmendOrder(
        ack.order_id, q.client_order_id, new_client_order_id(PREFIX, 0), T, "bid", dollars("0.41"),
        contracts(1), None, "i2", 4,
    )  # fmt: skip
    rig.paths.clear()
    await rig.ex.submit([amend, ev.CancelOrder(ack.order_id, q.client_order_id, T, "book moved")])
    assert not any("amend" in p for p in rig.paths)
    assert len([e for e in rig.of(ev.CancelAck)]) == 1
    assert not rig.of(ev.OrderReject)
    assert rig.sim.exchange.account_state(rig.sim.test_user_id)["resting"] == []
