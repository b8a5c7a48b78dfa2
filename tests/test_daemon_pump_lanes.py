"""The pump's lanes (kalshibot.daemon_pump): a slow answer holds up only its own market. Another market's actions
leave while it is in flight; the held market's later actions wait and then leave in the engine's order. A
Hypothesis model of the pump (random completion order) checks that, whatever the interleaving, every action is
submitted exactly once, per market in the order decided, with one submission in flight per market, each at most
one batch-create request's worth, and a create and its cancel decided before it left still travel together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.config import parse_settings
from kalshibot.core import events as ev
from kalshibot.core.coalesce import coalesce
from kalshibot.core.fixed import contracts, dollars
from kalshibot.daemon import Daemon
from kalshibot.daemon_pump import lane, take_ready
from kalshibot.sim.testing import eventually


def _place(i: int, ticker: str) -> ev.PlaceOrder:
    return ev.PlaceOrder(f"kbt-{i}", ticker, "bid" if i % 2 else "ask", dollars("0.40"), contracts(1), f"i{i}", 1)


def _name(a: ev.Action) -> str:
    return f"{type(a).__name__}:{getattr(a, 'client_order_id', '')}"


class _HeldExecutor:
    """Holds every submission that carries a market in ``hold`` until the test releases it."""

    def __init__(self, hold: set[str]) -> None:
        self.hold = hold
        self.release = asyncio.Event()
        self.started: list[list[str]] = []
        self.finished: list[list[str]] = []

    async def submit(self, actions: Sequence[ev.Action]) -> None:
        names = [_name(a) for a in actions]
        self.started.append(names)
        if any(a.ticker in self.hold for a in actions):
            await self.release.wait()
        self.finished.append(names)


def _daemon(tmp_path: Path) -> Daemon:
    s = parse_settings(
        {"environment": "sim", "logging": {"dir": str(tmp_path / "logs")}, "control": {"port": 0}},
        env={},
        env_file=None,
        require_secrets=False,
    )
    return Daemon(s, handle_signals=False)


async def test_a_held_request_holds_up_only_its_own_market(tmp_path: Path) -> None:
    d = _daemon(tmp_path)
    ex = _HeldExecutor({"T-A"})
    d.executor = ex  # type: ignore[assignment]
    d._create_step = lambda: 20  # type: ignore[method-assign]
    pump = asyncio.create_task(d._pump())
    try:
        d.dispatch([_place(0, "T-A")], 0)  # its answer is held (a create held until its fill)
        await eventually(lambda: len(ex.started) == 1, what="T-A in flight")
        d.dispatch([_place(1, "T-A"), _place(2, "T-B")], 1)
        # the serial pump sent nothing more until T-A's answer came back: T-B waited on another market's request
        await eventually(lambda: ["PlaceOrder:kbt-2"] in ex.finished, what="T-B sent while T-A is held")
        assert ex.started == [["PlaceOrder:kbt-0"], ["PlaceOrder:kbt-2"]]  # T-A's second create waits its turn
        assert d.pending == [_place(1, "T-A")]
        ex.release.set()
        await eventually(lambda: not d.pending and len(ex.finished) == 3, what="T-A drained")
        assert ex.started[2] == ["PlaceOrder:kbt-1"]
        assert d.summary["orders"] == 3
    finally:
        d._pump_stop = True
        d._pump_wake.set()
        await asyncio.wait_for(pump, 5)


async def test_stop_waits_for_the_requests_in_flight(tmp_path: Path) -> None:
    d = _daemon(tmp_path)
    ex = _HeldExecutor({"T-A", "T-B"})
    d.executor = ex  # type: ignore[assignment]
    pump = asyncio.create_task(d._pump())
    d.dispatch([_place(0, "T-A")], 0)
    await eventually(lambda: len(ex.started) == 1, what="T-A in flight")
    d.dispatch([_place(1, "T-B")], 0)
    await eventually(lambda: len(ex.started) == 2, what="both in flight")
    d._pump_stop = True
    d._pump_wake.set()
    await asyncio.sleep(0)
    assert not pump.done()  # their answers are the engine's news: the pump waits for them
    ex.release.set()
    await asyncio.wait_for(pump, 5)
    assert len(ex.finished) == 2


class _Boom:
    async def submit(self, actions: Sequence[ev.Action]) -> None:
        raise RuntimeError("executor bug")


async def test_an_executor_bug_still_stops_the_pump(tmp_path: Path) -> None:
    d = _daemon(tmp_path)
    d.executor = _Boom()  # type: ignore[assignment]
    pump = asyncio.create_task(d._pump())
    d.dispatch([_place(0, "T-A")], 0)
    try:
        await asyncio.wait_for(pump, 5)
    except RuntimeError as e:
        assert "executor bug" in str(e)
    else:
        raise AssertionError("the pump swallowed an executor bug")


# ------------------------------------------------------------------------------------------- the model
@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Steps: ("decide", [actions]) appends to the queue; ("take", None) starts a submission; ("finish", k) ends
    the k-th oldest submission in flight."""
    n = 0
    unsent: list[ev.PlaceOrder] = []
    out: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["decide", "take", "take", "finish"]))
        if kind == "decide":
            acts: list[ev.Action] = []
            for _ in range(draw(st.integers(1, 4))):
                t = draw(st.sampled_from(["A", "B", "C", "D"]))
                what = draw(st.sampled_from(["place", "place", "amend", "cancel_unsent"]))
                if what == "cancel_unsent" and unsent:
                    p = draw(st.sampled_from(unsent))
                    acts.append(ev.CancelOrder(None, p.client_order_id, p.ticker, "requote"))
                    unsent.remove(p)
                elif what == "amend":
                    acts.append(
                        ev.AmendOrder(
                            f"o{n}", f"kbt-{n}", f"kbt-{n}x", t, "bid", dollars("0.41"), contracts(1), None, f"i{n}", 1
                        )
                    )
                    n += 1
                else:
                    p = _place(n, t)
                    n += 1
                    unsent.append(p)
                    acts.append(p)
            out.append(("decide", acts))
        elif kind == "take":
            out.append(("take", None))
        else:
            out.append(("finish", draw(st.integers(0, 3))))
    return out


@settings(max_examples=300, deadline=None)
@given(scripts(), st.integers(1, 3))
def test_lanes_keep_each_markets_order_and_pairs(script: list[tuple[str, object]], step: int) -> None:
    pending: list[ev.Action] = []
    decided: list[ev.Action] = []
    in_flight: list[tuple[frozenset[str], list[ev.Action]]] = []
    submitted: list[list[ev.Action]] = []
    pairs: list[tuple[ev.Action, ev.Action]] = []  # (create, its cancel) both queued at once: must travel together
    for kind, arg in [*script, *[("drain", None)] * 200]:
        if kind == "decide":
            assert isinstance(arg, list)
            for a in arg:
                if isinstance(a, ev.CancelOrder) and a.order_id is None:
                    create = next(
                        (p for p in pending if isinstance(p, ev.PlaceOrder) and p.client_order_id == a.client_order_id),
                        None,
                    )
                    if create is not None:
                        pairs.append((create, a))
                pending.append(a)
                decided.append(a)
        elif kind == "finish" and in_flight:
            assert isinstance(arg, int)
            in_flight.pop(min(arg, len(in_flight) - 1))
        elif kind in ("take", "drain"):
            if kind == "drain" and in_flight:
                in_flight.pop(0)
            busy = {k for lanes, _ in in_flight for k in lanes}
            part, rest = take_ready(pending, busy, step)
            assert [a for a in pending if all(a is not b for b in part)] == rest
            if part:
                lanes = frozenset(lane(a) for a in part)
                assert not lanes & busy, "two submissions in flight for one market"
                kept = [a for a in part if isinstance(a, ev.PlaceOrder) and not _cancelled_in(a, part)]
                assert len(kept) <= step, "more creates than one batch request"
                in_flight.append((lanes, part))
                submitted.append(part)
            pending = rest
    assert not pending and not in_flight
    flat = [a for p in submitted for a in p]
    assert sorted(map(id, flat)) == sorted(map(id, decided)), "every action exactly once"
    part_of = {id(a): k for k, p in enumerate(submitted) for a in p}
    # what reaches the wire: a create and its cancel in one submission are both dropped (the venues' coalesce)
    wire = {id(a) for p in submitted for a in coalesce(p)[0]}
    for t in "ABCD":
        mine = [a for a in decided if a.ticker == t and id(a) in wire]
        for i, x in enumerate(mine):
            for y in mine[i + 1 :]:
                # the engine's order holds across submissions, except that a cancel or amend may leave with an
                # earlier create's submission or before it (split_for_acks; the executor sends them first anyway)
                if isinstance(x, ev.PlaceOrder) and not isinstance(y, ev.PlaceOrder):
                    continue
                assert part_of[id(x)] <= part_of[id(y)], f"market {t}: {_name(y)} left before {_name(x)}"
    for create, cancel in pairs:
        assert part_of[id(create)] == part_of[id(cancel)], "a create and its cancel split apart"


def _cancelled_in(p: ev.Action, part: list[ev.Action]) -> bool:
    return isinstance(p, ev.PlaceOrder) and any(
        isinstance(c, ev.CancelOrder) and c.order_id is None and c.client_order_id == p.client_order_id for c in part
    )
