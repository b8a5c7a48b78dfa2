"""The order tracker: our orders by client_order_id and order_id, driven through the lifecycle table.

Theory of operation
-------------------
:class:`OrderTracker` turns each core event about an order into one lifecycle event of
:mod:`kalshibot.core.orders` (classification: a fill that empties the order is FILL_FINAL, a repeated
``(order_id, trade_id)`` is FILL_DUPLICATE, a 409 on create is REJECT_DUPLICATE, a cancel ack with
``reduced_by == 0`` is CANCEL_TOO_LATE, a 404 on cancel is CANCEL_NOT_FOUND), updates the counts from what the
event carries, then applies the table row. Fills for an order_id we cannot place yet (a fill before the ack that
carried no client_order_id) are parked and attached when an ack binds that order_id; fill keys are remembered
(bounded) so a replayed fill never counts twice, even after its order was pruned. See orders.py for the table and
the counting rules.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from kalshibot.core import event_builders as eb
from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Price
from kalshibot.core.orders import TABLE, TERMINAL, Applied, Ev, Order, State, Target, UnexpectedTransition

_NO_MATCH = Applied(None, None, None, None)
# members read on every order action of a requote, bound once: ``State.UNKNOWN`` is a class attribute lookup
# through the Enum metaclass (~75 ns on CPython 3.11, against ~3 ns for a module global; the same objects)
_UNKNOWN = State.UNKNOWN
_PENDING_AMEND = State.PENDING_AMEND
_SEND_AMEND = Ev.SEND_AMEND

# Every order action a requote sends goes through _step, which returns an Applied: the frozen dataclass __init__
# (seven object.__setattr__ calls, ~0.8 µs) was half of OrderTracker.send_amend on the figure-1 sending frames
# (issue 9). As for the events.py builders, a mutable twin with the same slots takes plain stores and then becomes
# a genuine Applied by __class__ assignment (checked at import below and by tests/test_perf_core3_builders.py).
_new = object.__new__
_ZERO = Count(0)
_AppliedDraft = eb.draft_class(Applied)


def _applied(
    order: Order | None,
    event: Ev | None,
    old: State | None,
    new: State | None,
    new_fill: Count,
    lookup: ev.LookupOrder | None,
    unexpected: bool,
) -> Applied:
    """``Applied(order, event, old, new, new_fill, lookup, unexpected)``, built cheaply (see above)."""
    d: Any = _new(_AppliedDraft)
    d.order = order
    d.event = event
    d.old = old
    d.new = new
    d.new_fill = new_fill
    d.lookup = lookup
    d.unexpected = unexpected
    d.__class__ = Applied
    return d  # type: ignore[no-any-return]


def _check_applied_builder() -> None:
    # a field added to Applied (or a change of its layout) must fail loudly at import, not build wrong results
    from dataclasses import fields

    want = Applied(None, Ev.FILL, State.RESTING, State.UNKNOWN, Count(3), ev.LookupOrder("c", "o", "T"), True)
    got = _applied(*(getattr(want, f.name) for f in fields(Applied)))
    if type(got) is not Applied or got != want or repr(got) != repr(want):  # pragma: no cover
        raise ImportError("core/order_tracker.py: the Applied builder is out of date")


_check_applied_builder()


def _is_not_found(code: str) -> bool:
    c = code.lower()
    return "not_found" in c or c == "404"


def _is_duplicate(code: str) -> bool:
    # API.md §6: 409 "resource already exists"; the exact code string is unpublished, so match loosely
    c = code.lower()
    return c == "409" or "duplicate" in c or "already_exists" in c or c == "conflict"


class OrderTracker:
    """Our orders, by client_order_id and order_id, driven through :data:`TABLE`.

    ``strict`` raises :class:`UnexpectedTransition` on a pair without a row (tests); otherwise the order becomes
    UNKNOWN and :attr:`Applied.lookup` asks for a lookup. Terminal orders are kept for ``retain_ms`` so late fills
    and answers still find them, and fill keys are remembered (bounded) so a replayed fill is never counted twice.
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        retain_ms: int = 300_000,
        max_fill_keys: int = 200_000,
        adopt_prefix: str | None = None,
    ) -> None:
        self.strict = strict
        # a resting order we do not track whose client_order_id carries this prefix is ours from an earlier
        # session (or one we gave up on): adopt it, so the reconciler manages it like any other quote
        self.adopt_prefix = adopt_prefix
        self.retain_ms = retain_ms
        self._by_coid: dict[str, Order] = {}
        self._by_oid: dict[str, Order] = {}
        self._by_ticker: dict[str, dict[str, Order]] = {}
        # the non-terminal subset of _by_ticker, kept in step by _set: requotes ask for it on every top change, and
        # terminal orders linger for retain_ms (a scan of them was a fifth of a backtest's time)
        self._open_by_ticker: dict[str, dict[str, Order]] = {}
        # ticker -> how many of its orders are UNKNOWN (kept by _set, the only writer of Order.state; an UNKNOWN
        # order is never terminal, so always open): has_unknown is asked first on every requote (issue 9)
        self._unknown: dict[str, int] = {}
        self._fill_keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._max_fill_keys = max_fill_keys
        self._terminal_since: dict[str, int] = {}
        self._orphans: dict[str, Count] = {}  # order_id -> fills seen before we knew the order_id

    # ------------------------------------------------------------------------------------------ queries
    def get(self, client_order_id: str) -> Order | None:
        return self._by_coid.get(client_order_id)

    def by_order_id(self, order_id: str) -> Order | None:
        return self._by_oid.get(order_id)

    def orders(self, ticker: str) -> list[Order]:
        """Non-terminal orders in a market (in creation order)."""
        return list(self._open_by_ticker.get(ticker, {}).values())

    def all_open(self) -> Iterator[Order]:
        for d in self._open_by_ticker.values():
            yield from d.values()

    def has_unknown(self, ticker: str) -> bool:
        """Whether an open order in ``ticker`` is UNKNOWN (a count kept by :meth:`_set`, not a scan)."""
        return ticker in self._unknown

    def seen_fill(self, order_id: str, trade_id: str) -> bool:
        return (order_id, trade_id) in self._fill_keys

    # ------------------------------------------------------------------------------------------ our requests
    def new(
        self,
        client_order_id: str,
        ticker: str,
        side: ev.BookSide,
        price: Price,
        count: Count,
        now_ms: int,
        *,
        intent_id: str = "",
        book_seq: int | None = None,
        expiration_ts_s: int | None = None,
        kind: str = "quote",
    ) -> Order:
        if client_order_id in self._by_coid:
            raise ValueError(f"client_order_id reused: {client_order_id}")
        o = Order(
            client_order_id=client_order_id,
            ticker=ticker,
            side=side,
            price=price,
            total=count,
            created_ms=now_ms,
            intent_id=intent_id,
            book_seq=book_seq,
            expiration_ts_s=expiration_ts_s,
            kind=kind,
            updated_ms=now_ms,
            max_total=count,
            key=client_order_id,
        )
        self._by_coid[client_order_id] = o
        self._by_ticker.setdefault(ticker, {})[client_order_id] = o
        self._open_by_ticker.setdefault(ticker, {})[client_order_id] = o
        return o

    def send_amend(
        self, o: Order, new_client_order_id: str, price: Price, total: Count, expiration_ts_s: int | None, now_ms: int
    ) -> Applied:
        """Record an amend in flight (``total`` = filled + desired remainder, API.md §3.5)."""
        res = self._step(o, _SEND_AMEND, now_ms)
        if res.new is _PENDING_AMEND:
            o.pending_price, o.pending_total = price, total
            o.pending_expiration_ts_s = expiration_ts_s
            o.pending_client_order_id = new_client_order_id
            o.max_total = Count(max(o.max_total, total))
            if new_client_order_id != o.client_order_id:
                o.aliases.append(new_client_order_id)
                self._by_coid[new_client_order_id] = o
        return res

    def send_decrease(self, o: Order, reduce_by: Count, now_ms: int) -> Applied:
        res = self._step(o, Ev.SEND_DECREASE, now_ms)
        if res.new is State.PENDING_DECREASE:
            o.pending_total = Count(max(o.filled, o.total - reduce_by))
        return res

    def send_cancel(self, o: Order, now_ms: int) -> Applied:
        return self._step(o, Ev.SEND_CANCEL, now_ms)

    # ------------------------------------------------------------------------------------------ venue news
    def apply(self, event: ev.Event, now_ms: int) -> Applied:
        """Drive the order an exchange event is about; events about no known order return ``order=None``."""
        if isinstance(event, ev.FillEvent):
            return self._fill(event, now_ms)
        if isinstance(event, ev.OrderAck):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
            self._bind(o, event.order_id)
            o.venue_filled = Count(max(o.venue_filled, event.fill_count))
            if event.fill_count + event.remaining_count > 0:
                o.total = Count(event.fill_count + event.remaining_count)
                self._raise_max(o)
            return self._step(o, Ev.ACK, now_ms)
        if isinstance(event, ev.OrderReject):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
            if event.request in ("amend", "decrease"):
                # the request did not happen: the order keeps its price and size (else target_price /
                # target_remaining kept answering with the refused ones and the reconciler judged a phantom)
                self._clear_pending(o)
            return self._step(o, self._classify_reject(event), now_ms)
        if isinstance(event, ev.AmendAck):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
            self._bind(o, event.order_id)
            o.price = event.price
            o.venue_filled = Count(max(o.venue_filled, event.fill_count))
            # V2 amend count is the new total (filled + remainder, API.md §3.5): exactly what we asked for
            if o.pending_total is not None:
                o.total = o.pending_total
            elif event.fill_count + event.remaining_count > 0:
                o.total = Count(event.fill_count + event.remaining_count)
            if event.expiration_ts_s is not None:
                o.expiration_ts_s = event.expiration_ts_s
            elif o.pending_expiration_ts_s is not None:
                o.expiration_ts_s = o.pending_expiration_ts_s
            self._raise_max(o)
            self._rename(o, event.client_order_id)
            self._clear_pending(o)
            return self._step(o, Ev.AMEND_ACK, now_ms)
        if isinstance(event, ev.DecreaseAck):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
            self._bind(o, event.order_id)
            # a decrease by reduce_by lowers the venue's total by exactly that (fills racing it do not change the
            # arithmetic); reduce_to / an emptied order leave just what filled
            if event.remaining_count <= 0:
                o.total = o.filled
            elif o.pending_total is not None:
                o.total = o.pending_total
            else:
                o.total = Count(o.filled + event.remaining_count)
            self._clear_pending(o)
            return self._step(o, Ev.DECREASE_ACK, now_ms)
        if isinstance(event, ev.CancelAck):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
            self._bind(o, event.order_id)
            # reduced_by is what was left at cancel time: everything else filled (maybe reported later)
            o.total = Count(max(o.filled, o.total - event.reduced_by))
            self._clear_pending(o)
            return self._step(o, Ev.CANCEL_TOO_LATE if event.reduced_by <= 0 else Ev.CANCEL_ACK, now_ms)
        if isinstance(event, ev.OrderUpdate):
            return self._update(event, now_ms)
        if isinstance(event, ev.OutcomeUnknown):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
            return self._step(o, Ev.OUTCOME_UNKNOWN, now_ms)
        return _NO_MATCH

    def mark_cancelled(self, ticker: str, now_ms: int) -> list[Applied]:
        """The venue cancelled every resting order in a market (reactivation after a pause, API.md §9)."""
        out = []
        for o in self.orders(ticker):
            if o.state is not State.PENDING_NEW:
                out.append(self._step(o, Ev.VENUE_CANCELLED, now_ms))
        return out

    def prune(self, now_ms: int) -> int:
        """Forget terminal orders older than ``retain_ms``; returns how many were dropped."""
        dropped = 0
        for coid, since in list(self._terminal_since.items()):
            if now_ms - since < self.retain_ms:
                continue
            o = self._by_coid.get(coid)
            del self._terminal_since[coid]
            if o is None or not o.is_terminal:
                continue
            for alias in [o.client_order_id, *o.aliases]:
                self._by_coid.pop(alias, None)
            if o.order_id is not None:
                self._by_oid.pop(o.order_id, None)
            self._by_ticker.get(o.ticker, {}).pop(o.client_order_id, None)
            dropped += 1
        return dropped

    # ------------------------------------------------------------------------------------------ internals
    def _find(self, client_order_id: str | None, order_id: str | None) -> Order | None:
        if order_id is not None:
            o = self._by_oid.get(order_id)
            if o is not None:
                return o
        if client_order_id is not None:
            return self._by_coid.get(client_order_id)
        return None

    def _bind(self, o: Order, order_id: str | None) -> None:
        if order_id and o.order_id is None:
            o.order_id = order_id
            self._by_oid[order_id] = o
            early = self._orphans.pop(order_id, None)
            if early is not None:
                o.fills_counted = Count(o.fills_counted + early)

    def _rename(self, o: Order, new_coid: str) -> None:
        if new_coid and new_coid != o.client_order_id:
            bucket = self._by_ticker.setdefault(o.ticker, {})
            bucket.pop(o.client_order_id, None)
            open_bucket = self._open_by_ticker.setdefault(o.ticker, {})
            was_open = open_bucket.pop(o.client_order_id, None) is not None
            if o.client_order_id in self._terminal_since:
                self._terminal_since[new_coid] = self._terminal_since.pop(o.client_order_id)
            o.aliases.append(o.client_order_id)
            o.client_order_id = new_coid
            bucket[new_coid] = o
            if was_open:
                open_bucket[new_coid] = o
            self._by_coid[new_coid] = o

    @staticmethod
    def _clear_pending(o: Order) -> None:
        o.pending_price = None
        o.pending_total = None
        o.pending_expiration_ts_s = None
        o.pending_client_order_id = None

    def _classify_reject(self, r: ev.OrderReject) -> Ev:
        if r.request == "create":
            return Ev.REJECT_DUPLICATE if _is_duplicate(r.code) else Ev.REJECT
        if r.request == "amend":
            return Ev.AMEND_REJECT
        if r.request == "decrease":
            return Ev.DECREASE_REJECT
        return Ev.CANCEL_NOT_FOUND if _is_not_found(r.code) else Ev.CANCEL_REJECT

    def _fill(self, f: ev.FillEvent, now_ms: int) -> Applied:
        o = self._find(f.client_order_id, f.order_id)
        key = (f.order_id, f.trade_id)
        if key in self._fill_keys:
            if o is None:
                return Applied(None, Ev.FILL_DUPLICATE, None, None)
            return self._step(o, Ev.FILL_DUPLICATE, now_ms)
        self._fill_keys[key] = None
        if len(self._fill_keys) > self._max_fill_keys:
            self._fill_keys.popitem(last=False)
        if o is None:
            # an order we do not know: a fill before the ack that carried no client_order_id (kept until an ack
            # binds the order_id), or an order pruned / placed by an earlier run. Either way the fill counts.
            if len(self._orphans) < 10_000:
                self._orphans[f.order_id] = Count(self._orphans.get(f.order_id, 0) + f.count)
            return Applied(None, Ev.FILL, None, None, new_fill=f.count)
        self._bind(o, f.order_id)
        o.fills_counted = Count(o.fills_counted + f.count)
        if o.fills_counted > o.max_total:
            # more filled than the order could ever fill: our picture is wrong; count the money, resolve by lookup
            o.total = o.max_total = o.fills_counted
            res = self._unexpected(o, Ev.FILL, now_ms)
            return Applied(o, Ev.FILL, res.old, res.new, f.count, res.lookup, True)
        if o.fills_counted > o.total:
            if o.pending_total is not None and o.fills_counted <= o.pending_total:
                o.total = o.pending_total  # the amend up landed and filled before its ack
            else:
                o.total = o.fills_counted  # a fill matched before a cancel/decrease we already accounted
        final = not o.is_terminal and o.total - o.filled <= 0
        if final and o.state is State.PENDING_AMEND and o.pending_total is not None and o.pending_total > o.filled:
            # filling the old total does not empty an order whose amend up may already have landed (the fill can be
            # at the new price): the amend's answer decides (ack: the rest is live; reject: LIVE resolves to
            # EXECUTED). Calling it executed here lost a resting remainder and topped the intent up over it
            # (chaos matrix, issue 10; tests/test_core_topup_race.py)
            final = False
        res = self._step(o, Ev.FILL_FINAL if final else Ev.FILL, now_ms)
        return _applied(res.order, res.event, res.old, res.new, f.count, res.lookup, res.unexpected)

    def _update(self, u: ev.OrderUpdate, now_ms: int) -> Applied:
        o = self._find(u.client_order_id, u.order_id)
        if o is None:
            o = self._adopt(u, now_ms)
            if o is None:
                return _NO_MATCH
        self._bind(o, u.order_id)
        o.venue_filled = Count(max(o.venue_filled, u.fill_count))
        if u.status == "resting":
            if o.state not in (State.PENDING_AMEND, State.PENDING_DECREASE, State.PENDING_CANCEL) or (
                u.yes_price == o.target_price
            ):
                o.price = u.yes_price
            o.total = Count(u.fill_count + u.remaining_count)
            self._raise_max(o)
            if u.expiration_ts_s is not None:
                o.expiration_ts_s = u.expiration_ts_s
            e = Ev.VENUE_RESTING
        elif u.status == "executed":
            o.total = Count(max(o.fills_counted, u.fill_count))
            e = Ev.VENUE_EXECUTED
        elif u.status == "canceled":
            o.total = Count(max(o.fills_counted, u.fill_count))
            e = Ev.VENUE_EXPIRED if u.reason == "ExpiryCancel" else Ev.VENUE_CANCELLED
        else:
            e = Ev.VENUE_UNKNOWN
        if e is not Ev.VENUE_RESTING:
            self._clear_pending(o)
        return self._step(o, e, now_ms)

    def _adopt(self, u: ev.OrderUpdate, now_ms: int) -> Order | None:
        """Take over a resting order of ours this tracker never created (``adopt_orphans: adopt`` after a
        restart): it enters as a new order and the venue's ``resting`` moves it to resting / partially filled."""
        coid = u.client_order_id
        if (
            self.adopt_prefix is None
            or u.status != "resting"
            or coid is None
            or not coid.startswith(self.adopt_prefix)
            or coid in self._by_coid
        ):
            return None
        o = self.new(coid, u.ticker, u.book_side, u.yes_price, Count(u.fill_count + u.remaining_count), now_ms)
        o.expiration_ts_s = u.expiration_ts_s  # kind stays "quote": the reconciler keeps, amends or cancels it
        return o

    @staticmethod
    def _raise_max(o: Order) -> None:
        o.max_total = Count(max(o.max_total, o.total))

    def _resolve(self, o: Order, target: Target) -> State:
        if isinstance(target, State):
            return target
        if o.total - o.filled <= 0:
            # nothing left: it filled, or (a decrease to zero) it is as good as cancelled
            return State.EXECUTED if o.filled > 0 else State.CANCELLED
        return State.PARTIALLY_FILLED if o.filled > 0 else State.RESTING

    def _step(self, o: Order, e: Ev, now_ms: int) -> Applied:
        old = o.state
        target = TABLE.get((old, e))
        if target is None:
            return self._unexpected(o, e, now_ms)
        new = self._resolve(o, target)
        self._set(o, new, now_ms)
        look = None
        if new is _UNKNOWN and (old is not _UNKNOWN or not o.lookup_requested):
            look = self._lookup(o)
        return _applied(o, e, old, new, _ZERO, look, False)

    def _unexpected(self, o: Order, e: Ev, now_ms: int) -> Applied:
        if self.strict:
            raise UnexpectedTransition(o.state, e, o.client_order_id)
        old = o.state
        self._set(o, State.UNKNOWN, now_ms)
        return _applied(o, e, old, State.UNKNOWN, _ZERO, self._lookup(o), True)

    def _lookup(self, o: Order) -> ev.LookupOrder:
        o.lookup_requested = True
        return ev.LookupOrder(client_order_id=o.client_order_id, order_id=o.order_id, ticker=o.ticker)

    def _set(self, o: Order, new: State, now_ms: int) -> None:
        if new is not _UNKNOWN:
            o.lookup_requested = False
        if new in TERMINAL:
            self._clear_pending(o)
            self._terminal_since.setdefault(o.client_order_id, now_ms)
            self._open_by_ticker.get(o.ticker, {}).pop(o.client_order_id, None)
        elif o.state in TERMINAL:
            self._terminal_since.pop(o.client_order_id, None)
            # back from the dead (rare): re-open it in creation order
            everyone = self._by_ticker.get(o.ticker, {})
            still = self._open_by_ticker.get(o.ticker, {})
            self._open_by_ticker[o.ticker] = {k: v for k, v in everyone.items() if k in still or v is o}
        old = o.state
        if (old is _UNKNOWN) is not (new is _UNKNOWN):
            u = self._unknown
            if new is _UNKNOWN:
                u[o.ticker] = u.get(o.ticker, 0) + 1
            elif u[o.ticker] == 1:
                del u[o.ticker]  # no entry for a ticker without one: has_unknown is a membership test
            else:
                u[o.ticker] -= 1
        o.state = new
        o.updated_ms = now_ms
