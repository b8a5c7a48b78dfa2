"""The order lifecycle: one explicit ``(state, event) -> state`` table and the tracker that drives it.

Theory of operation
-------------------
Every order we send lives in an :class:`Order` record owned by an :class:`OrderTracker`. What can happen to an order
is a small vocabulary of lifecycle events (:class:`Ev`): our own requests (send amend/decrease/cancel), the
exchange's answers (acks, rejects), fills, and the venue's authoritative view (WS ``user_order`` or a REST lookup,
API.md §3.6/§5.3). The tracker first *classifies* an incoming core event into one :class:`Ev` (a fill that empties
the order is ``FILL_FINAL``; a fill whose ``(order_id, trade_id)`` we already counted is ``FILL_DUPLICATE``; a 409
on create is ``REJECT_DUPLICATE``, meaning "the client_order_id exists: look it up", API.md §6), updates the counts,
then looks the pair up in :data:`TABLE`. That table is the whole state machine, as in h11's ``_state.py``: the races
a market maker meets are rows, not special cases:

* fill before ack: ``(PENDING_NEW, FILL)`` stays pending (the ack brings the rest), ``FILL_FINAL`` executes it;
* duplicate fill after a reconnect: ``(*, FILL_DUPLICATE)`` keeps the state and counts nothing;
* fill racing a cancel: ``(PENDING_CANCEL, FILL*)``, ``(CANCELLED, FILL)`` (a fill matched before the cancel and
  reported after it still moves our position) and a cancel ack with ``reduced_by == 0`` (API.md §3.5: it had
  already filled) is ``CANCEL_TOO_LATE`` -> EXECUTED;
* an amend/decrease answer arriving after we decided to cancel is absorbed by ``PENDING_CANCEL``.

The target ``LIVE`` is resolved from the counts: nothing left -> EXECUTED, something filled -> PARTIALLY_FILLED,
else RESTING. A pair missing from the table is a bug or a venue surprise: in ``strict`` mode (tests) it raises
:class:`UnexpectedTransition`; in production the order becomes UNKNOWN and the caller is told to look it up (the
engine then blocks new orders in that market until the lookup resolves it).

Counts (centi-contracts): ``total`` is the most the order can ever fill (create count, then the amend ``count``,
which V2 defines as filled + new remainder, API.md §3.5). ``filled`` is the larger of the fills we counted and the
venue's own ``fill_count``, so a ``user_order`` update that runs ahead of its fill messages never double-counts.
``remaining = total - filled``. Fills are never dropped: they are money (position) even on a cancelled order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from kalshibot.core import events as ev
from kalshibot.core.fixed import Count, Price
from kalshibot.errors import DataError


class State(Enum):
    PENDING_NEW = "pending_new"
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_AMEND = "pending_amend"
    PENDING_DECREASE = "pending_decrease"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    EXECUTED = "executed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # outcome lost: a lookup must resolve it


class Ev(Enum):
    SEND_AMEND = "send_amend"
    SEND_DECREASE = "send_decrease"
    SEND_CANCEL = "send_cancel"
    ACK = "ack"
    REJECT = "reject"
    REJECT_DUPLICATE = "reject_duplicate"  # 409 duplicate client_order_id: the order may exist, look it up
    FILL = "fill"
    FILL_FINAL = "fill_final"  # this fill leaves nothing remaining
    FILL_DUPLICATE = "fill_duplicate"  # same (order_id, trade_id) seen before
    AMEND_ACK = "amend_ack"
    AMEND_REJECT = "amend_reject"
    DECREASE_ACK = "decrease_ack"
    DECREASE_REJECT = "decrease_reject"
    CANCEL_ACK = "cancel_ack"
    CANCEL_TOO_LATE = "cancel_too_late"  # cancel ack with reduced_by 0: it had already filled (API.md §3.5)
    CANCEL_REJECT = "cancel_reject"
    CANCEL_NOT_FOUND = "cancel_not_found"  # 404 on cancel: gone (filled or cancelled), look it up
    VENUE_RESTING = "venue_resting"
    VENUE_EXECUTED = "venue_executed"
    VENUE_CANCELLED = "venue_cancelled"
    VENUE_EXPIRED = "venue_expired"
    VENUE_UNKNOWN = "venue_unknown"
    OUTCOME_UNKNOWN = "outcome_unknown"  # a request timed out after sending


class UnexpectedTransition(DataError):
    """A (state, event) pair the lifecycle table has no row for (raised in strict mode only)."""

    def __init__(self, state: State, event: Ev, client_order_id: str) -> None:
        self.state, self.event, self.client_order_id = state, event, client_order_id
        super().__init__(f"order {client_order_id}: no transition for ({state.name}, {event.name})")


S = State
LIVE = "LIVE"  # pseudo-target resolved from the counts
Target = State | str

TERMINAL = frozenset({S.CANCELLED, S.EXECUTED, S.EXPIRED, S.REJECTED})
IN_FLIGHT = frozenset({S.PENDING_NEW, S.PENDING_AMEND, S.PENDING_DECREASE, S.PENDING_CANCEL})
WORKING = frozenset({S.RESTING, S.PARTIALLY_FILLED})

_VENUE: dict[Ev, Target] = {
    Ev.VENUE_RESTING: LIVE,
    Ev.VENUE_EXECUTED: S.EXECUTED,
    Ev.VENUE_CANCELLED: S.CANCELLED,
    Ev.VENUE_EXPIRED: S.EXPIRED,
    Ev.VENUE_UNKNOWN: S.UNKNOWN,
}


def _rows() -> dict[tuple[State, Ev], Target]:
    t: dict[tuple[State, Ev], Target] = {}

    def add(state: State, mapping: dict[Ev, Target]) -> None:
        for e, target in mapping.items():
            t[(state, e)] = target

    # -- a create in flight
    add(
        S.PENDING_NEW,
        {
            Ev.ACK: LIVE,
            Ev.REJECT: S.REJECTED,
            Ev.REJECT_DUPLICATE: S.UNKNOWN,
            Ev.FILL: S.PENDING_NEW,  # fill before ack: the ack still has to bind the rest
            Ev.FILL_FINAL: S.EXECUTED,
            Ev.FILL_DUPLICATE: S.PENDING_NEW,
            Ev.SEND_CANCEL: S.PENDING_CANCEL,  # the book moved before the ack: cancel by client_order_id
            Ev.OUTCOME_UNKNOWN: S.UNKNOWN,
            **_VENUE,
        },
    )
    # -- working on the book
    for st in (S.RESTING, S.PARTIALLY_FILLED):
        add(
            st,
            {
                Ev.SEND_AMEND: S.PENDING_AMEND,
                Ev.SEND_DECREASE: S.PENDING_DECREASE,
                Ev.SEND_CANCEL: S.PENDING_CANCEL,
                Ev.ACK: LIVE,  # a repeated ack (lookup after a retry) changes nothing
                Ev.REJECT_DUPLICATE: st,  # our retried create hit the order we already know
                Ev.FILL: S.PARTIALLY_FILLED,
                Ev.FILL_FINAL: S.EXECUTED,
                Ev.FILL_DUPLICATE: st,
                Ev.OUTCOME_UNKNOWN: S.UNKNOWN,
                **_VENUE,
            },
        )
    # -- an amend / decrease in flight: at most one request per order, except a cancel that supersedes it
    for st, ack, rej in (
        (S.PENDING_AMEND, Ev.AMEND_ACK, Ev.AMEND_REJECT),
        (S.PENDING_DECREASE, Ev.DECREASE_ACK, Ev.DECREASE_REJECT),
    ):
        add(
            st,
            {
                ack: LIVE,
                rej: LIVE,  # the request did not happen; the order is as it was
                Ev.SEND_CANCEL: S.PENDING_CANCEL,
                Ev.FILL: st,
                Ev.FILL_FINAL: S.EXECUTED,  # the pending request will come back rejected or not found
                Ev.FILL_DUPLICATE: st,
                Ev.OUTCOME_UNKNOWN: S.UNKNOWN,
                **_VENUE,
                Ev.VENUE_RESTING: st,  # a trade update while our request is in flight: wait for its answer
            },
        )
    # -- a cancel in flight
    add(
        S.PENDING_CANCEL,
        {
            Ev.CANCEL_ACK: S.CANCELLED,
            Ev.CANCEL_TOO_LATE: S.EXECUTED,
            Ev.CANCEL_REJECT: LIVE,  # still on the book; the reconciler will try again
            Ev.CANCEL_NOT_FOUND: S.UNKNOWN,  # filled or cancelled already: a lookup tells which
            Ev.SEND_CANCEL: S.PENDING_CANCEL,  # a retry
            Ev.ACK: S.PENDING_CANCEL,  # cancel sent before the create's ack: late ack binds the order_id
            Ev.REJECT: S.REJECTED,  # the create never made it
            Ev.REJECT_DUPLICATE: S.PENDING_CANCEL,
            Ev.FILL: S.PENDING_CANCEL,  # fill racing the cancel
            Ev.FILL_FINAL: S.EXECUTED,
            Ev.FILL_DUPLICATE: S.PENDING_CANCEL,
            Ev.AMEND_ACK: S.PENDING_CANCEL,  # answers to requests the cancel superseded
            Ev.AMEND_REJECT: S.PENDING_CANCEL,
            Ev.DECREASE_ACK: S.PENDING_CANCEL,
            Ev.DECREASE_REJECT: S.PENDING_CANCEL,
            Ev.OUTCOME_UNKNOWN: S.UNKNOWN,
            **_VENUE,
            Ev.VENUE_RESTING: S.PENDING_CANCEL,
        },
    )
    # -- terminal states absorb late news; a venue "executed" overrides our cancelled view (fills are money)
    late = {
        Ev.FILL: None,  # fill matched before the cancel, reported after it
        Ev.FILL_DUPLICATE: None,
        Ev.ACK: None,
        Ev.REJECT_DUPLICATE: None,
        Ev.SEND_CANCEL: None,  # a cancel issued from stale state: nothing to do, stay terminal
        Ev.CANCEL_ACK: None,
        Ev.CANCEL_TOO_LATE: None,
        Ev.CANCEL_REJECT: None,
        Ev.CANCEL_NOT_FOUND: None,
        Ev.AMEND_ACK: None,
        Ev.AMEND_REJECT: None,
        Ev.DECREASE_ACK: None,
        Ev.DECREASE_REJECT: None,
        Ev.OUTCOME_UNKNOWN: None,  # the request lost was for an order already done
        Ev.VENUE_RESTING: None,  # stale user_order (no seq on that channel, API.md §5.4)
    }
    for st in (S.CANCELLED, S.EXPIRED, S.EXECUTED):
        add(st, {e: st for e in late})
        add(st, {Ev.VENUE_EXECUTED: S.EXECUTED})
    for st in (S.CANCELLED, S.EXPIRED):
        add(st, {Ev.VENUE_CANCELLED: st, Ev.VENUE_EXPIRED: st})
    # we saw nothing left (fills, or a decrease that emptied it); the venue calls the rest cancelled: it is right
    add(S.EXECUTED, {Ev.VENUE_CANCELLED: S.CANCELLED, Ev.VENUE_EXPIRED: S.EXPIRED})
    add(S.REJECTED, {e: S.REJECTED for e in (Ev.REJECT, Ev.REJECT_DUPLICATE, Ev.SEND_CANCEL, Ev.CANCEL_REJECT)})
    add(S.REJECTED, {Ev.CANCEL_NOT_FOUND: S.REJECTED, Ev.OUTCOME_UNKNOWN: S.REJECTED})
    # -- unknown: anything that carries information resolves it
    add(
        S.UNKNOWN,
        {
            Ev.ACK: LIVE,
            Ev.REJECT: S.REJECTED,  # the lookup found no such order: the create never happened
            Ev.REJECT_DUPLICATE: S.UNKNOWN,
            Ev.FILL: S.UNKNOWN,
            Ev.FILL_FINAL: S.EXECUTED,
            Ev.FILL_DUPLICATE: S.UNKNOWN,
            Ev.AMEND_ACK: LIVE,
            Ev.AMEND_REJECT: S.UNKNOWN,
            Ev.DECREASE_ACK: LIVE,
            Ev.DECREASE_REJECT: S.UNKNOWN,
            Ev.CANCEL_ACK: S.CANCELLED,
            Ev.CANCEL_TOO_LATE: S.EXECUTED,
            Ev.CANCEL_REJECT: S.UNKNOWN,
            Ev.CANCEL_NOT_FOUND: S.UNKNOWN,
            Ev.OUTCOME_UNKNOWN: S.UNKNOWN,
            **_VENUE,
        },
    )
    return t


TABLE: dict[tuple[State, Ev], Target] = _rows()


def lookup(state: State, event: Ev) -> Target | None:
    """The table row for ``(state, event)``, or None when there is none."""
    return TABLE.get((state, event))


@dataclass(slots=True)
class Order:
    """One of our orders. Mutable, owned by the :class:`OrderTracker`; read it, do not write it."""

    client_order_id: str
    ticker: str
    side: ev.BookSide
    price: Price  # YES-leg price currently on the book (or requested, while pending new)
    total: Count  # what this order can fill in all (filled + remaining) as far as we know
    created_ms: int
    intent_id: str = ""
    book_seq: int | None = None
    expiration_ts_s: int | None = None
    kind: str = "quote"  # "quote" | "flatten"
    order_id: str | None = None
    state: State = State.PENDING_NEW
    fills_counted: Count = Count(0)
    venue_filled: Count = Count(0)
    # the amend in flight: the price/total/expiry/client_order_id we asked for
    pending_price: Price | None = None
    pending_total: Count | None = None
    pending_expiration_ts_s: int | None = None
    pending_client_order_id: str | None = None
    max_total: Count = Count(0)  # the largest total it ever had: fills beyond this are impossible
    lookup_requested: bool = False
    updated_ms: int = 0
    # client_order_ids this order was known by (amend may change it)
    aliases: list[str] = field(default_factory=list)

    @property
    def filled(self) -> Count:
        return Count(max(self.fills_counted, self.venue_filled))

    @property
    def remaining(self) -> Count:
        if self.state in TERMINAL:
            return Count(0)
        return Count(max(0, self.total - self.filled))

    @property
    def target_price(self) -> Price:
        """The price the order will have once the in-flight amend lands."""
        return self.pending_price if self.pending_price is not None else self.price

    @property
    def target_remaining(self) -> Count:
        if self.state in TERMINAL:
            return Count(0)
        total = self.pending_total if self.pending_total is not None else self.total
        return Count(max(0, total - self.filled))

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did to one order."""

    order: Order | None  # None: the event matched no order we know
    event: Ev | None
    old: State | None
    new: State | None
    new_fill: Count = Count(0)  # the part of a fill event not counted before (0 for duplicates)
    lookup: ev.LookupOrder | None = None  # ask the shell to resolve this order
    unexpected: bool = False


_NO_MATCH = Applied(None, None, None, None)


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

    def __init__(self, *, strict: bool = False, retain_ms: int = 300_000, max_fill_keys: int = 200_000) -> None:
        self.strict = strict
        self.retain_ms = retain_ms
        self._by_coid: dict[str, Order] = {}
        self._by_oid: dict[str, Order] = {}
        self._by_ticker: dict[str, dict[str, Order]] = {}
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
        return [o for o in self._by_ticker.get(ticker, {}).values() if not o.is_terminal]

    def all_open(self) -> Iterator[Order]:
        for d in self._by_ticker.values():
            for o in d.values():
                if not o.is_terminal:
                    yield o

    def has_unknown(self, ticker: str) -> bool:
        return any(o.state is State.UNKNOWN for o in self._by_ticker.get(ticker, {}).values())

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
        )
        self._by_coid[client_order_id] = o
        self._by_ticker.setdefault(ticker, {})[client_order_id] = o
        return o

    def send_amend(
        self, o: Order, new_client_order_id: str, price: Price, total: Count, expiration_ts_s: int | None, now_ms: int
    ) -> Applied:
        """Record an amend in flight (``total`` = filled + desired remainder, API.md §3.5)."""
        res = self._step(o, Ev.SEND_AMEND, now_ms)
        if res.new is State.PENDING_AMEND:
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
            return self._step(o, self._classify_reject(event), now_ms)
        if isinstance(event, ev.AmendAck):
            o = self._find(event.client_order_id, event.order_id)
            if o is None:
                return _NO_MATCH
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
            if o.client_order_id in self._terminal_since:
                self._terminal_since[new_coid] = self._terminal_since.pop(o.client_order_id)
            o.aliases.append(o.client_order_id)
            o.client_order_id = new_coid
            bucket[new_coid] = o
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
        res = self._step(o, Ev.FILL_FINAL if final else Ev.FILL, now_ms)
        return Applied(res.order, res.event, res.old, res.new, f.count, res.lookup, res.unexpected)

    def _update(self, u: ev.OrderUpdate, now_ms: int) -> Applied:
        o = self._find(u.client_order_id, u.order_id)
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
        if new is State.UNKNOWN and (old is not State.UNKNOWN or not o.lookup_requested):
            look = self._lookup(o)
        return Applied(o, e, old, new, lookup=look)

    def _unexpected(self, o: Order, e: Ev, now_ms: int) -> Applied:
        if self.strict:
            raise UnexpectedTransition(o.state, e, o.client_order_id)
        old = o.state
        self._set(o, State.UNKNOWN, now_ms)
        return Applied(o, e, old, State.UNKNOWN, lookup=self._lookup(o), unexpected=True)

    def _lookup(self, o: Order) -> ev.LookupOrder:
        o.lookup_requested = True
        return ev.LookupOrder(client_order_id=o.client_order_id, order_id=o.order_id, ticker=o.ticker)

    def _set(self, o: Order, new: State, now_ms: int) -> None:
        if new is not State.UNKNOWN:
            o.lookup_requested = False
        if new in TERMINAL:
            self._clear_pending(o)
            self._terminal_since.setdefault(o.client_order_id, now_ms)
        elif o.state in TERMINAL:
            self._terminal_since.pop(o.client_order_id, None)
        o.state = new
        o.updated_ms = now_ms
