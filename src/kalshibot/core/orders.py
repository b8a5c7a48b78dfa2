"""The order lifecycle: one explicit ``(state, event) -> state`` table, and the order record it drives.

Theory of operation
-------------------
Every order we send lives in an :class:`Order` record owned by the ``OrderTracker`` (order_tracker.py). What can
happen to an order is a small vocabulary of lifecycle events (:class:`Ev`): our own requests (send amend, decrease,
cancel), the exchange's answers (acks, rejects), fills, and the venue's authoritative view (WS ``user_order`` or a
REST lookup, API.md §3.6/§5.3). The tracker first *classifies* an incoming core event into one :class:`Ev` (a fill
that empties the order is ``FILL_FINAL``; a fill whose ``(order_id, trade_id)`` we already counted is
``FILL_DUPLICATE``; a 409 on create is ``REJECT_DUPLICATE``, meaning "the client_order_id exists: look it up",
API.md §6), updates the counts, then looks the pair up in :data:`TABLE`. That table is the whole state machine, as
in h11's ``_state.py``: the races a market maker meets are rows, not special cases:

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

    # members compare by identity (Enum defines no __eq__), so the identity hash is consistent with equality;
    # Enum's own __hash__ is Python-level (hash of the name) and every ``state in WORKING`` and lifecycle-table
    # lookup on the hot path paid for it
    __hash__ = object.__hash__


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

    __hash__ = object.__hash__  # as State: identity equality, C-level hash (lifecycle table keys)


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
        Ev.REJECT: None,  # a create's late "not found" (e.g. a lookup) after we already know how it ended
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
    """One of our orders. Mutable, owned by the ``OrderTracker``; read it, do not write it."""

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
    key: str = ""  # stable identity: the first client_order_id (survives amends that rename the order)

    @property
    def filled(self) -> Count:
        a, b = self.fills_counted, self.venue_filled  # max() without the builtin call (read on every requote)
        return a if a >= b else b

    @property
    def remaining(self) -> Count:
        if self.state in TERMINAL:
            return Count(0)
        r = self.total - self.filled
        return Count(r if r > 0 else 0)

    @property
    def target_price(self) -> Price:
        """The price the order will have once the in-flight amend lands."""
        return self.pending_price if self.pending_price is not None else self.price

    @property
    def target_remaining(self) -> Count:
        if self.state in TERMINAL:
            return Count(0)
        total = self.pending_total if self.pending_total is not None else self.total
        r = total - self.filled
        return Count(r if r > 0 else 0)

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
