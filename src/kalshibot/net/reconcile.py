"""Reconciliation: the exchange's view of our orders, positions and fills, read from REST.

Theory of operation
-------------------
Fill and order channels carry no ``seq`` (API.md §5.4): after a disconnect the only way to know what was missed
is to ask REST. :func:`reconcile` runs at startup, after every reconnect and periodically; it reads

* resting orders, split into ours (client_order_id starts with the configured prefix; for a subaccount-scoped bot
  also on that subaccount) and foreign ones (a human, another bot: never touched);
* positions, as :class:`PositionSnapshot` events (the venue's word on positions wins);
* fills since ``since_ts_s`` (Unix seconds, the endpoint's unit) that are not in ``known_fill_ids``: these were
  missed while disconnected and become :class:`FillEvent` s. REST fills lost ``client_order_id`` in March 2026
  (API.md §0); it is restored from the orders read here where possible.

:func:`apply_policy` then adopts our resting orders (hand them to the engine as ``OrderUpdate`` s) or cancels them
(by id, in one batch), per configuration. Until this has run for a market its state is unknown and the daemon
must not quote it (``ReconcileResult.markets`` lists the markets whose state is now known).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count
from kalshibot.net.rest import CancelRequest, KalshiRest

log = structlog.get_logger(__name__)

Policy = Literal["adopt", "cancel"]


@dataclass
class ReconcileResult:
    ours: list[ev.OrderUpdate] = field(default_factory=list)  # our resting orders
    foreign: list[ev.OrderUpdate] = field(default_factory=list)  # resting orders that are not ours
    positions: list[ev.PositionSnapshot] = field(default_factory=list)
    missed_fills: list[ev.FillEvent] = field(default_factory=list)  # oldest first
    last_fill_ts_ms: int | None = None
    markets: set[str] = field(default_factory=set)  # markets whose state is known after this run

    def events(self) -> list[ev.Event]:
        """What to hand the engine, in a safe order: positions, then missed fills, then our orders."""
        out: list[ev.Event] = [*self.positions, *self.missed_fills, *self.ours]
        return out


def is_ours(client_order_id: str | None, prefix: str) -> bool:
    return bool(client_order_id) and bool(prefix) and str(client_order_id).startswith(prefix)


async def reconcile(
    rest: KalshiRest,
    prefix: str,
    subaccount: int | None,
    known_fill_ids: Iterable[tuple[str, str]],
    since_ts: int | None,
    *,
    tickers: Iterable[str] | None = None,
) -> ReconcileResult:
    """Read resting orders, positions and fills since ``since_ts`` (Unix **seconds**); see the module docstring.
    ``known_fill_ids`` are (order_id, trade_id) pairs already journaled. ``tickers`` restricts the result to the
    bot's universe (orders and positions outside it are still reported as foreign / ignored)."""
    known = set(known_fill_ids)
    universe = set(tickers) if tickers is not None else None
    result = ReconcileResult()

    resting = await rest.list_orders(status="resting", subaccount=subaccount)
    coid_of: dict[str, str] = {}
    for o in resting:
        u = o.to_update()
        if u.client_order_id:
            coid_of[u.order_id] = u.client_order_id
        if is_ours(u.client_order_id, prefix):
            result.ours.append(u)
        else:
            result.foreign.append(u)

    for p in await rest.get_positions(subaccount=subaccount):
        if universe is None or p.ticker in universe:
            result.positions.append(p.to_snapshot())

    fills = await rest.get_fills(min_ts=since_ts, subaccount=subaccount)
    missing_coid = {f.order_id for f in fills if f.client_order_id is None and f.order_id not in coid_of}
    if missing_coid and since_ts is not None:
        # executed/cancelled orders of the window carry the client_order_id the fills lost
        for o in await rest.list_orders(min_ts=since_ts, subaccount=subaccount):
            if o.client_order_id:
                coid_of.setdefault(o.order_id, o.client_order_id)
    for f in sorted(fills, key=lambda f: (f.ts or 0, f.trade_id)):
        e = f.to_event(coid_of.get(f.order_id))
        result.last_fill_ts_ms = max(result.last_fill_ts_ms or 0, e.ts_ms) or None
        if (e.order_id, e.trade_id) in known:
            continue
        result.missed_fills.append(e)

    result.markets = set(universe) if universe is not None else {u.ticker for u in result.ours}
    log.info(
        "reconciled",
        ours=len(result.ours),
        foreign=len(result.foreign),
        positions=len(result.positions),
        missed_fills=len(result.missed_fills),
    )
    return result


async def apply_policy(
    rest: KalshiRest,
    result: ReconcileResult,
    policy: Policy,
    *,
    subaccount: int | None,
    on_cancel: Callable[[ev.OrderUpdate, Count], None] | None = None,
) -> list[ev.OrderUpdate]:
    """Adopt or cancel our resting orders. Returns the orders the engine should adopt (none under ``cancel``).
    Foreign orders are never touched. ``on_cancel(order, reduced_by)`` is told about each order cancelled (the
    journal's ``cancel`` record)."""
    if policy == "adopt" or not result.ours:
        return list(result.ours) if policy == "adopt" else []
    reqs = [CancelRequest(u.order_id, u.ticker, subaccount) for u in result.ours]
    answers = await rest.batch_cancel(reqs)
    for u, a in zip(result.ours, answers):
        if a.error is not None:
            log.warning("cancel on reconcile failed", order_id=u.order_id, code=a.error.code, msg=a.error.message)
            continue
        if on_cancel is not None:
            on_cancel(u, Count(a.reduced_by))
    return []


__all__ = ["Policy", "ReconcileResult", "apply_policy", "is_ours", "reconcile"]
