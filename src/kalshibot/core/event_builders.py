"""Hot-path builders for frozen core records: the same objects as the dataclass constructors, built cheaply.

Theory of operation
-------------------
The engine builds an IntentNote per changed quote level and an AmendOrder per amend on every requote that sends
(issue 9, figure 1). The frozen dataclass __init__ stores each field through object.__setattr__ (~1 µs for these
eight to ten fields). The builders below make the very same objects for about a quarter of that: a mutable twin
class with the same __slots__ (hence the same memory layout) takes plain slot stores, then its __class__ is set
to the frozen class, which CPython allows between layout-compatible classes. The result is a genuine instance:
same type, value, equality, repr and immutability as the constructor builds (checked at import below and by
tests/test_perf_core2_builders.py). Call them with every field, in declaration order.
"""

from __future__ import annotations

from typing import Any

from kalshibot.core.events import AmendOrder, BookSide, IntentNote, Outcome, TopOfBook
from kalshibot.core.fixed import Count, Price


def draft_class(cls: type) -> type:
    """A plain class with ``cls``'s slots (``cls`` must be a ``slots=True`` dataclass without a ``__weakref__``
    slot): its instances may become ``cls`` instances by ``__class__`` assignment once every slot is set."""
    draft: type = type(f"_{cls.__name__}Draft", (), {"__slots__": cls.__dict__["__slots__"]})
    return draft


_new = object.__new__
_IntentNoteDraft = draft_class(IntentNote)
_AmendOrderDraft = draft_class(AmendOrder)
_TopOfBookDraft = draft_class(TopOfBook)


def top_of_book(
    yes_bid: Price | None,
    yes_bid_size: Count | None,
    yes_ask: Price | None,
    yes_ask_size: Count | None,
    book_seq: int | None,
) -> TopOfBook:
    """``TopOfBook(yes_bid, yes_bid_size, yes_ask, yes_ask_size, book_seq)``, built cheaply (see above): the
    engine takes one per requote (OrderBook.top, issue 9 round 3)."""
    d: Any = _new(_TopOfBookDraft)
    d.yes_bid = yes_bid
    d.yes_bid_size = yes_bid_size
    d.yes_ask = yes_ask
    d.yes_ask_size = yes_ask_size
    d.book_seq = book_seq
    d.__class__ = TopOfBook
    return d  # type: ignore[no-any-return]


def intent_note(
    intent_id: str,
    ts_ms: int,
    ticker: str,
    outcome: Outcome,
    price: Price,
    count: Count,
    top: TopOfBook,
    reason: dict[str, object],
) -> IntentNote:
    """``IntentNote(intent_id, ts_ms, ticker, outcome, price, count, top, reason)``, built cheaply (see above)."""
    d: Any = _new(_IntentNoteDraft)
    d.intent_id = intent_id
    d.ts_ms = ts_ms
    d.ticker = ticker
    d.outcome = outcome
    d.price = price
    d.count = count
    d.top = top
    d.reason = reason
    d.__class__ = IntentNote
    return d  # type: ignore[no-any-return]


def amend_order(
    order_id: str,
    client_order_id: str,
    new_client_order_id: str,
    ticker: str,
    side: BookSide,
    price: Price,
    count: Count,
    expiration_ts_s: int | None,
    intent_id: str,
    book_seq: int | None,
) -> AmendOrder:
    """``AmendOrder(...)`` with every field in declaration order, built cheaply (see above)."""
    d: Any = _new(_AmendOrderDraft)
    d.order_id = order_id
    d.client_order_id = client_order_id
    d.new_client_order_id = new_client_order_id
    d.ticker = ticker
    d.side = side
    d.price = price
    d.count = count
    d.expiration_ts_s = expiration_ts_s
    d.intent_id = intent_id
    d.book_seq = book_seq
    d.__class__ = AmendOrder
    return d  # type: ignore[no-any-return]


def _check_builders() -> None:
    # a field added to either class (or a change of layout) must fail loudly at import, not build wrong events
    from dataclasses import fields

    top = TopOfBook(Price(1), Count(2), Price(3), Count(4), 5)
    note = IntentNote("i", 1, "T", "no", Price(2), Count(3), top, {"a": 1})
    amend = AmendOrder("o", "c", "n", "T", "ask", Price(4), Count(5), 6, "i", 7)
    for want, got in (
        (note, intent_note(*(getattr(note, f.name) for f in fields(IntentNote)))),
        (amend, amend_order(*(getattr(amend, f.name) for f in fields(AmendOrder)))),
        (top, top_of_book(*(getattr(top, f.name) for f in fields(TopOfBook)))),
    ):
        if type(got) is not type(want) or got != want or repr(got) != repr(want):  # pragma: no cover
            raise ImportError(f"core/events.py: the {type(want).__name__} builder is out of date")


_check_builders()
