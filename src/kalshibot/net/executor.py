"""The order executor (the guide's "cancel-replace order manager"): carries out the core's actions on Kalshi's V2
order endpoints and feeds the results back as events.

Theory of operation
-------------------
:meth:`Executor.submit` takes one list of actions from the engine and runs it in a fixed order: cancels first
(one batch cancel for several, by order id: the account-wide cancel-all is never used here), then amends and
decreases one by one (Kalshi has no batch amend), then creates (one batch create for several; the REST client
splits batches to the token budget). Each request and each outcome is journaled (``order_sent``, ``ack``,
``reject``, ``amend``, ``decrease``, ``cancel``) through a :class:`JournalSink`, and each outcome goes back to the
engine through ``on_event`` (``OrderAck``, ``OrderReject``, ``CancelAck``, ``AmendAck``, ``DecreaseAck``,
``OutcomeUnknown``, ``OrderUpdate``).

Orders are shaped here, whatever the action says: every client_order_id must carry the configured prefix and is
used at most once (never two orders for one client_order_id); quotes (good-till-canceled) are post-only,
``cancel_order_on_pause``, carry their good-till-time expiration and the bot's order group; immediate-or-cancel
orders (flattening) carry no expiration and are never post-only.

An order whose outcome is unknown (timeout after send, lost ack) blocks new orders in its market: creates there
are refused locally (``market_blocked``) until a ``user_order`` for it arrives (:meth:`Executor.observe`) or a
background lookup by client_order_id finds it. If the lookups never find it the create is reported rejected and
its client_order_id remembered: should the order surface later anyway, it is cancelled at once.

:meth:`Executor.observe` is also where fills are journaled, exactly once per (order_id, trade_id), and where an
order-group trigger is journaled as a move to HALTED (the group is not reset: that is the operator's call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from kalshibot.core import events as ev
from kalshibot.core.coalesce import CANCELLED_BEFORE_SEND, CANCELLED_BEFORE_SEND_MESSAGE, coalesce
from kalshibot.core.fixed import Count, format_count, format_price
from kalshibot.errors import ExchangeError, FatalError, NotFoundError, OutcomeUnknownError
from kalshibot.net import rest_models as m
from kalshibot.net.auth import wall_clock_ms
from kalshibot.net.executor_support import (
    ActionKind,
    ExecutorProtocol,
    JournalSink,
    MemoryJournal,
    fill_fields,
    new_client_order_id,
)
from kalshibot.net.rest import CancelRequest, KalshiRest, OrderRequest

log = structlog.get_logger(__name__)

__all__ = ["Executor", "ExecutorProtocol", "JournalSink", "MemoryJournal", "new_client_order_id"]


class Executor:
    def __init__(
        self,
        rest: KalshiRest,
        journal: JournalSink,
        *,
        prefix: str,
        subaccount: int | None,
        order_group_id: str | None,
        on_event: Callable[[ev.Event], None],
        on_resync: Callable[[str], None] | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        known_fills: set[tuple[str, str]] | None = None,
        positions: dict[str, int] | None = None,
        lookup_delays_s: Sequence[float] = (0.1, 0.3, 0.6, 1.2, 2.4, 4.8),
        self_trade_prevention: str = "maker",
    ) -> None:
        self.rest = rest
        self.journal = journal
        self.prefix = prefix
        self.subaccount = subaccount
        self.order_group_id = order_group_id
        self.on_event = on_event
        self.on_resync = on_resync
        self.clock_ms = clock_ms
        self.known_fills: set[tuple[str, str]] = known_fills if known_fills is not None else set()
        self.positions: dict[str, int] = positions if positions is not None else {}
        self.lookup_delays_s = tuple(lookup_delays_s)
        self.stp = self_trade_prevention
        self.sent_coids: set[str] = set()  # every client_order_id ever sent by this process
        self.order_ids: dict[str, str] = {}  # client_order_id -> order_id
        self.unknown: dict[str, str] = {}  # client_order_id -> ticker, outcome unknown (blocks that market)
        self._unknown_kind: dict[str, ActionKind] = {}  # ... and which request it was
        self.abandoned: set[str] = set()  # unknown creates given up on: cancel on sight
        self._cancel_after_ack: dict[str, str] = {}  # coid -> reason: cancel requested before the create's ack
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------------------------------- helpers
    def _j(self, type_: str, **fields: Any) -> None:
        self.journal.record(type_, self.clock_ms(), **fields)

    def blocked(self, ticker: str) -> bool:
        return ticker in self.unknown.values()

    def _reject(self, coid: str, order_id: str | None, code: str, message: str, request: ActionKind) -> None:
        self._j(
            "reject",
            client_order_id=coid,
            order_id=order_id,
            exchange_ts_ms=None,
            code=code,
            message=message,
            request=request,
        )
        self.on_event(ev.OrderReject(coid, order_id, code, message, request))

    async def aclose(self) -> None:
        for t in list(self._tasks.values()):
            t.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    # -------------------------------------------------------------------------------------------- submit
    async def submit(self, actions: Sequence[ev.Action]) -> None:
        actions = self._coalesce(actions)
        cancels = [a for a in actions if isinstance(a, ev.CancelOrder)]
        if cancels:
            await self._cancel(cancels)
        for a in actions:
            if isinstance(a, ev.AmendOrder):
                await self._amend(a)
            elif isinstance(a, ev.DecreaseOrder):
                await self._decrease(a)
            elif isinstance(a, ev.LookupOrder):
                await self._lookup(a.client_order_id, a.order_id, a.ticker, "create")
            elif isinstance(a, ev.ResyncBook) and self.on_resync is not None:
                self.on_resync(a.ticker)
        places = [a for a in actions if isinstance(a, ev.PlaceOrder)]
        if places:
            await self._create(places)

    def _coalesce(self, actions: Sequence[ev.Action]) -> Sequence[ev.Action]:
        """See :mod:`kalshibot.core.coalesce`: creates cancelled before they were sent are answered rejected."""
        kept, dropped = coalesce(actions)
        for coid in dropped:
            self._reject(coid, None, CANCELLED_BEFORE_SEND, CANCELLED_BEFORE_SEND_MESSAGE, "create")
        return kept

    # ----------------------------------------------------------------------------------------------- create
    def _request_for(self, a: ev.PlaceOrder) -> OrderRequest:
        quote = a.time_in_force == "good_till_canceled"
        return OrderRequest(
            ticker=a.ticker,
            client_order_id=a.client_order_id,
            side=a.side,
            price=a.price,
            count=a.count,
            time_in_force=a.time_in_force,
            post_only=quote and a.post_only,
            reduce_only=a.reduce_only and a.time_in_force == "immediate_or_cancel",
            expiration_ts_s=a.expiration_ts_s if quote else None,
            cancel_order_on_pause=quote and a.cancel_order_on_pause,
            order_group_id=self.order_group_id if (quote and a.use_order_group) else None,
            subaccount=self.subaccount,
            self_trade_prevention_type=self.stp,
        )

    async def _create(self, places: Sequence[ev.PlaceOrder]) -> None:
        ready: list[tuple[ev.PlaceOrder, OrderRequest]] = []
        for a in places:
            coid = a.client_order_id
            if not coid.startswith(self.prefix):
                self._reject(
                    coid, None, "bad_client_order_id", f"client_order_id lacks prefix {self.prefix!r}", "create"
                )
            elif coid in self.sent_coids:
                self._reject(coid, None, "duplicate_client_order_id", "client_order_id already used", "create")
            elif self.blocked(a.ticker):
                self._reject(coid, None, "market_blocked", "an order in this market has an unknown outcome", "create")
            else:
                req = self._request_for(a)
                self.sent_coids.add(coid)
                self._j(
                    "order_sent",
                    intent_id=a.intent_id,
                    client_order_id=coid,
                    ticker=a.ticker,
                    side=a.side,
                    price=format_price(a.price),
                    count=format_count(a.count),
                    tif=a.time_in_force,
                    post_only=req.post_only,
                    expiration_time=req.expiration_ts_s,
                    reduce_only=req.reduce_only,
                    book_seq=a.book_seq,
                )
                ready.append((a, req))
        if not ready:
            return
        reqs = [r for _, r in ready]
        try:
            if len(reqs) == 1:
                results = [await self.rest.create_order(reqs[0])]
            else:
                results = await self.rest.batch_create(reqs)
        except OutcomeUnknownError as e:
            for a, _ in ready:
                self._mark_unknown(a.client_order_id, a.ticker, None, "create", str(e))
            return
        except ExchangeError as e:
            for a, _ in ready:
                self._reject(a.client_order_id, None, e.code or type(e).__name__, e.message, "create")
            if isinstance(e, FatalError):
                raise
            return
        for (a, _), res in zip(ready, results):
            self._on_create_result(a, res)

    def _on_create_result(self, a: ev.PlaceOrder, res: m.CreateOrderResult) -> None:
        coid = a.client_order_id
        if res.error is not None:
            if res.error.code == "outcome_unknown":
                self._mark_unknown(coid, a.ticker, None, "create", res.error.message)
            else:
                self._reject(coid, None, res.error.code or "rejected", res.error.message, "create")
            return
        if res.order_id is None:
            # a 2xx without an order (API.md §6 "soft failure"): we cannot know; look it up
            self._mark_unknown(coid, a.ticker, None, "create", "create answered without an order_id")
            return
        self._ack(coid, res.order_id, Count(res.fill_count), Count(res.remaining_count), res.ts_ms)

    def _ack(self, coid: str, order_id: str, fill: Count, remaining: Count, ts_ms: int) -> None:
        self.order_ids[coid] = order_id
        self._j(
            "ack",
            client_order_id=coid,
            order_id=order_id,
            exchange_ts_ms=ts_ms or None,
            fill_count=format_count(fill),
            remaining_count=format_count(remaining),
        )
        self.on_event(ev.OrderAck(coid, order_id, fill, remaining, ts_ms))
        reason = self._cancel_after_ack.pop(coid, None)
        if reason is not None:
            self._spawn(f"cancel:{coid}", self._cancel([ev.CancelOrder(order_id, coid, "", reason)]))

    # ------------------------------------------------------------------------------------- unknown outcome
    def _spawn(self, key: str, coro: Any) -> None:
        old = self._tasks.get(key)
        if old is not None and not old.done():
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[key] = task

        def _done(t: asyncio.Task[None], k: str = key) -> None:
            if self._tasks.get(k) is t:
                del self._tasks[k]

        task.add_done_callback(_done)

    def _mark_unknown(self, coid: str, ticker: str, order_id: str | None, request: ActionKind, why: str) -> None:
        log.warning("order outcome unknown", client_order_id=coid, ticker=ticker, request=request, why=why[:200])
        self.unknown[coid] = ticker
        self._unknown_kind[coid] = request
        self.on_event(ev.OutcomeUnknown(coid, order_id, request))
        self._spawn(f"lookup:{coid}", self._resolve_later(coid, ticker, order_id, request))

    async def _resolve_later(self, coid: str, ticker: str, order_id: str | None, request: ActionKind) -> None:
        for delay in self.lookup_delays_s:
            await asyncio.sleep(delay)
            if coid not in self.unknown:
                return  # resolved by a user_order meanwhile
            if await self._lookup(coid, order_id, ticker, request, final=False):
                return
        if self._unblock(coid) is not None:
            if request == "create":
                self.abandoned.add(coid)
            self._reject(coid, order_id, "not_found", "order not found after lookups", request)

    async def _lookup(
        self, coid: str, order_id: str | None, ticker: str, request: ActionKind, *, final: bool = True
    ) -> bool:
        """Read the order by id or client_order_id; report it as OrderUpdate (plus OrderAck for an unacked
        create). Returns whether it was found."""
        try:
            if order_id is not None:
                order: m.Order | None = await self.rest.get_order(order_id)
            else:
                order = await self.rest.get_order_by_client_id(coid, ticker=ticker, subaccount=self.subaccount)
        except NotFoundError:
            order = None
        except ExchangeError as e:
            log.warning("lookup failed", client_order_id=coid, error=str(e))
            return False
        if order is None:
            if final:
                self._unblock(coid)
                self._reject(coid, order_id, "not_found", "order not found", request)
            return False
        self._settle(coid, order.to_update())
        return True

    def _unblock(self, coid: str) -> ActionKind | None:
        """Forget an unknown outcome; returns which request it was (None if it was not unknown)."""
        kind = self._unknown_kind.pop(coid, None)
        return kind if self.unknown.pop(coid, None) is not None else None

    def _known_now(self, coid: str, update: ev.OrderUpdate) -> None:
        """The venue told us about ``coid``: an unknown create becomes acked (OrderAck before the update)."""
        if self._unblock(coid) == "create" and coid not in self.order_ids:
            self._ack(coid, update.order_id, update.fill_count, update.remaining_count, update.ts_ms)
        self.order_ids.setdefault(coid, update.order_id)

    def _settle(self, coid: str, update: ev.OrderUpdate) -> None:
        """An unknown order is now known: report it and unblock its market."""
        self._known_now(coid, update)
        self.on_event(update)

    # -------------------------------------------------------------------------------------------- cancel
    async def _cancel(self, cancels: Sequence[ev.CancelOrder]) -> None:
        by_id: list[ev.CancelOrder] = []
        for c in cancels:
            oid = c.order_id or self.order_ids.get(c.client_order_id)
            if oid is None:
                if c.client_order_id in self.unknown or (
                    c.client_order_id in self.sent_coids and c.client_order_id not in self.order_ids
                ):
                    # the create is in flight or unknown: cancel as soon as its order_id is known
                    self._cancel_after_ack[c.client_order_id] = c.reason
                    continue
                self._reject(c.client_order_id, None, "unknown_order", "no order_id for this client_order_id", "cancel")
                continue
            by_id.append(ev.CancelOrder(oid, c.client_order_id, c.ticker, c.reason))
        if not by_id:
            return
        for c in by_id:
            self._j(
                "cancel",
                stage="sent",
                order_id=c.order_id,
                client_order_id=c.client_order_id,
                ticker=c.ticker,
                reason=c.reason,
            )
        try:
            if len(by_id) == 1:
                c0 = by_id[0]
                assert c0.order_id is not None
                results = [await self.rest.cancel_order(c0.order_id, ticker=c0.ticker, subaccount=self.subaccount)]
            else:
                reqs = [CancelRequest(c.order_id or "", c.ticker, self.subaccount) for c in by_id]
                results = await self.rest.batch_cancel(reqs)
        except ExchangeError as e:
            for c in by_id:
                self._reject(c.client_order_id, c.order_id, e.code or type(e).__name__, e.message, "cancel")
            if isinstance(e, FatalError):
                raise
            return
        for c, res in zip(by_id, results):
            if res.error is not None:
                if res.error.code in ("not_found", "order_not_found") and c.order_id is not None:
                    await self._lookup(c.client_order_id, c.order_id, c.ticker, "cancel")
                else:
                    self._reject(
                        c.client_order_id, c.order_id, res.error.code or "rejected", res.error.message, "cancel"
                    )
                continue
            self._j(
                "cancel",
                stage="acked",
                order_id=c.order_id,
                client_order_id=c.client_order_id,
                ticker=c.ticker,
                reason=c.reason,
                reduced_by=format_count(res.reduced_by),
                exchange_ts_ms=res.ts_ms or None,
            )
            self.on_event(ev.CancelAck(c.order_id or "", c.client_order_id, Count(res.reduced_by), res.ts_ms))

    # ------------------------------------------------------------------------------------ amend / decrease
    async def _amend(self, a: ev.AmendOrder) -> None:
        new = a.new_client_order_id
        if new != a.client_order_id and (not new.startswith(self.prefix) or new in self.sent_coids):
            self._reject(new, a.order_id, "bad_client_order_id", "amend client_order_id reused or unprefixed", "amend")
            return
        self.sent_coids.add(new)
        common = {"order_id": a.order_id, "client_order_id": a.client_order_id, "ticker": a.ticker, "side": a.side}
        self._j(
            "amend",
            stage="sent",
            new_client_order_id=new,
            price=format_price(a.price),
            count=format_count(a.count),
            expiration_time=a.expiration_ts_s,
            intent_id=a.intent_id,
            **common,
        )
        try:
            res = await self.rest.amend_order(
                a.order_id,
                ticker=a.ticker,
                side=a.side,
                price=a.price,
                count=a.count,
                client_order_id=a.client_order_id,
                updated_client_order_id=new,
                expiration_ts_s=a.expiration_ts_s,
                subaccount=self.subaccount,
            )
        except OutcomeUnknownError as e:
            self._mark_unknown(new, a.ticker, a.order_id, "amend", str(e))
            return
        except ExchangeError as e:
            self._reject(new, a.order_id, e.code or type(e).__name__, e.message, "amend")
            if isinstance(e, FatalError):
                raise
            return
        self.order_ids[new] = a.order_id
        fill = Count(res.fill_count or 0)
        remaining = Count(res.remaining_count if res.remaining_count is not None else a.count - fill)
        self._j(
            "amend",
            stage="acked",
            new_client_order_id=new,
            price=format_price(a.price),
            count=format_count(a.count),
            remaining_count=format_count(remaining),
            fill_count=format_count(fill),
            exchange_ts_ms=res.ts_ms or None,
            expiration_time=a.expiration_ts_s,
            **common,
        )
        self.on_event(ev.AmendAck(a.order_id, new, a.price, remaining, fill, a.expiration_ts_s, res.ts_ms))

    async def _decrease(self, a: ev.DecreaseOrder) -> None:
        common = {"order_id": a.order_id, "client_order_id": a.client_order_id, "ticker": a.ticker}
        self._j("decrease", stage="sent", reduced_by=format_count(a.reduce_by), intent_id=a.intent_id, **common)
        try:
            res = await self.rest.decrease_order(
                a.order_id, reduce_by=a.reduce_by, ticker=a.ticker, subaccount=self.subaccount
            )
        except OutcomeUnknownError as e:
            self._mark_unknown(a.client_order_id, a.ticker, a.order_id, "decrease", str(e))
            return
        except ExchangeError as e:
            self._reject(a.client_order_id, a.order_id, e.code or type(e).__name__, e.message, "decrease")
            if isinstance(e, FatalError):
                raise
            return
        self._j(
            "decrease",
            stage="acked",
            reduced_by=format_count(a.reduce_by),
            remaining_count=format_count(res.remaining_count),
            exchange_ts_ms=res.ts_ms or None,
            **common,
        )
        self.on_event(ev.DecreaseAck(a.order_id, a.client_order_id, Count(res.remaining_count), res.ts_ms))

    # ------------------------------------------------------------------------------------------- observe
    def observe(self, event: ev.Event) -> bool:
        """Look at an event from the feed or reconciliation before the engine does. Returns False for an event
        the engine must not see again (a fill already journaled)."""
        if isinstance(event, ev.FillEvent):
            return self._fill(event)
        if isinstance(event, ev.OrderUpdate):
            coid = event.client_order_id
            if coid is not None:
                if coid in self.unknown:
                    self._known_now(coid, event)
                elif coid in self.abandoned and event.status == "resting":
                    log.warning("abandoned order surfaced; cancelling", client_order_id=coid, order_id=event.order_id)
                    self.order_ids[coid] = event.order_id
                    self._spawn(
                        f"cancel:{coid}",
                        self._cancel([ev.CancelOrder(event.order_id, coid, event.ticker, "abandoned")]),
                    )
                else:
                    self.order_ids.setdefault(coid, event.order_id)
            return True
        if isinstance(event, ev.OrderGroupTriggered):
            if event.order_group_id == self.order_group_id:
                self._j(
                    "risk",
                    state="HALTED",
                    limit="order_group",
                    value=None,
                    threshold=None,
                    scope="account",
                    scope_id=event.order_group_id,
                    message="exchange order group triggered; not reset",
                )
            return True
        if isinstance(event, ev.PositionSnapshot):
            self.positions[event.ticker] = event.position
        return True

    def _fill(self, f: ev.FillEvent) -> bool:
        key = (f.order_id, f.trade_id)
        if key in self.known_fills:
            return False
        self.known_fills.add(key)
        signed = f.count if f.outcome == "yes" else -f.count
        pos = f.post_position if f.post_position is not None else self.positions.get(f.ticker, 0) + signed
        self.positions[f.ticker] = pos
        coid = f.client_order_id or next((c for c, o in self.order_ids.items() if o == f.order_id), None)
        self._j("fill", **fill_fields(f, coid, pos))
        return True
