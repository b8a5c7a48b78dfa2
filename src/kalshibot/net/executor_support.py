"""Small pieces the executor and its callers share: the executor protocol (the live executor and the paper venue
implement it), the journal sink protocol, an in-memory sink for tests and paper runs, the client_order_id format."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from kalshibot.core import events as ev
from kalshibot.core.fixed import ONE_DOLLAR, format_count, format_money, format_price

ActionKind = Literal["create", "amend", "decrease", "cancel"]


class JournalSink(Protocol):
    """Where execution records go: ``kalshibot.journal`` writer's ``Journal.record`` fits."""

    def record(self, type: str, ts_ms: int, /, **fields: Any) -> None: ...


class MemoryJournal:
    """A JournalSink that keeps records in a list (tests, dry runs)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, type: str, ts_ms: int, /, **fields: Any) -> None:
        self.records.append({"type": type, "ts_ms": ts_ms, **fields})

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["type"] == type_]


def new_client_order_id(prefix: str, subaccount: int | None = None) -> str:
    """``{prefix}{subaccount}-{20 hex}``: the prefix marks the bot's orders (adopt/cancel on restart, cancel-all),
    the subaccount keeps two instances on one account apart. The suffix stays within the 24 characters the
    config reserves (settings: COID_SUFFIX_LEN) so the whole id fits Kalshi/FIX's 64-char ``[-\\w:+=/]`` rule."""
    return f"{prefix}{subaccount or 0}-{uuid.uuid4().hex[:20]}"


class ExecutorProtocol(Protocol):
    """What the daemon needs from an executor (the live one here; the paper venue later)."""

    async def submit(self, actions: Sequence[ev.Action]) -> None: ...

    def observe(self, event: ev.Event) -> bool: ...

    def blocked(self, ticker: str) -> bool: ...

    async def aclose(self) -> None: ...


def fill_fields(f: ev.FillEvent, client_order_id: str | None, position_after: int) -> dict[str, Any]:
    """The journal ``fill`` record's fields (CONTRACTS.md): ``side`` is the outcome bought and ``price`` the
    price of that outcome (1 - YES price for a NO buy); ``position_after`` signed, + YES."""
    price = f.yes_price if f.outcome == "yes" else ONE_DOLLAR - f.yes_price
    return {
        "order_id": f.order_id,
        "trade_id": f.trade_id,
        "client_order_id": client_order_id,
        "ticker": f.ticker,
        "side": f.outcome,
        "book_side": f.book_side,
        "price": format_price(price),
        "count": format_count(f.count),
        "fee": format_money(f.fee),
        "is_taker": f.is_taker,
        "position_after": format_count(position_after),
        "paper": f.paper,
        "exchange_ts_ms": f.ts_ms or None,
    }
