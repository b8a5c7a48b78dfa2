"""The order pump: the daemon's queue of engine actions drained into the executor, one lane per market.

Theory of operation
-------------------
The engine's actions queue in ``Daemon.pending`` in the order it decided them. The pump takes one executor
submission at a time from the queue (:func:`take_ready`) and runs it as a task of its own, so a request that is
slow to answer (a create held until its fill, a lost ack resolved by lookups, a 429 retried) holds up only the
markets it carries, not every market's requotes behind it. Before, one submission at a time travelled for the
whole account: one held create stopped every market, the queue grew by the hundred, every queued create and
cancel counted as money at stake, and the bot sat one-sided or in REDUCING while the exchange held little (the
chaos matrix's ack_after_fill, lost_ack and rest_429 rows, issue 10).

What stays as it was, per market: a market has at most one submission in flight, and its actions leave in the
order the engine decided them (a market whose submission is in flight keeps its later actions queued, whatever
comes after them for other markets). So a create and the cancel decided before it left still meet in one
submission (the executor drops the pair, ``Executor._coalesce``), and an amend never overtakes the amend or
create before it. Across markets nothing depended on the order: the engine counts an order at stake from the
moment it decides it until the exchange answers, so no interleaving of answers lets the exchange hold more than
the engine counted. An action without a ticker (none today) is a barrier: it waits for every submission in flight
and nothing queued after it leaves before it has been answered.

Each submission is still one batch-create request's worth at most (``split_for_acks``), re-read from the queue
each time, so what the engine decides meanwhile joins the unsent actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

import structlog

from kalshibot.core import events as ev
from kalshibot.daemon_support import split_for_acks
from kalshibot.errors import KalshibotError

if TYPE_CHECKING:
    from kalshibot.daemon import Daemon

log = structlog.get_logger("kalshibot.daemon")

BARRIER = ""  # the lane of an action without a ticker: it conflicts with every other lane
MAX_IN_FLIGHT = 8  # submissions at once; the write bucket paces the requests whatever this is


def lane(a: ev.Action) -> str:
    return a.ticker or BARRIER


def take_ready(
    pending: Sequence[ev.Action], busy: Collection[str], step: int
) -> tuple[list[ev.Action], list[ev.Action]]:
    """(the next submission, what stays queued in its order). A market in ``busy`` has a submission in flight:
    its actions stay queued. ``step``: creates per batch request (``split_for_acks``). Empty submission: nothing
    can leave now."""
    if BARRIER in busy:
        return [], list(pending)
    ready: list[ev.Action] = []
    for a in pending:
        key = lane(a)
        if key == BARRIER:
            if not busy and not ready:
                ready.append(a)  # alone, ahead of everything queued after it
            break
        if key not in busy:
            ready.append(a)
    if not ready:
        return [], list(pending)
    part = split_for_acks(ready, step)[0]
    taken = {id(a) for a in part}
    return part, [a for a in pending if id(a) not in taken]


async def run_pump(d: Daemon, max_in_flight: int = MAX_IN_FLIGHT) -> None:
    """The pump task (see the module docstring). On stop it waits for the submissions in flight (their answers
    are the engine's news); cancelled, it cancels them."""
    executor = d.executor
    assert executor is not None
    busy: set[str] = set()
    in_flight: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []

    async def submit(part: list[ev.Action]) -> None:
        try:
            await executor.submit(part)
        except KalshibotError as e:
            log.error("executor failed a batch", error=str(e), actions=len(part))
        d._check_two_sided()

    def finished(lanes: frozenset[str]) -> Callable[[asyncio.Task[None]], None]:
        def done(t: asyncio.Task[None]) -> None:
            busy.difference_update(lanes)
            in_flight.discard(t)
            exc = None if t.cancelled() else t.exception()
            if exc is not None:
                failure.append(exc)
            d._pump_wake.set()

        return done

    try:
        while not d._pump_stop:
            await d._pump_wake.wait()
            d._pump_wake.clear()
            if failure:
                raise failure[0]  # a bug in the executor: the supervisor stops the service, as before
            while d.pending and not d._pump_stop and len(in_flight) < max_in_flight:
                part, d.pending = take_ready(d.pending, busy, d._create_step())
                if not part:
                    break
                lanes = frozenset(lane(a) for a in part)
                busy.update(lanes)
                d.summary["orders"] += sum(isinstance(a, ev.PlaceOrder) for a in part)
                for a in part:
                    d.metrics.orders.labels(type(a).__name__).inc()
                task = asyncio.get_running_loop().create_task(submit(part))
                in_flight.add(task)
                task.add_done_callback(finished(lanes))
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
    finally:
        for t in list(in_flight):
            t.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)


__all__ = ["BARRIER", "MAX_IN_FLIGHT", "lane", "run_pump", "take_ready"]
