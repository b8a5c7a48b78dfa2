""" "What if": the strategy itself (the same :class:`~kalshibot.core.engine.Engine`) re-run over recorded market data
with another config, its orders filled by a fill model on a paper venue.

Theory of operation
-------------------
:class:`EngineHarness` is the in-process loop around the pure engine, shared with the backtest: it hands the engine
each event at its timestamp, fires the engine's timers (``next_deadline()``) before time moves past them, sends the
engine's order actions to an executor-shaped venue and feeds that venue's answers (acks, fills, ...) straight back,
until nothing is left to process. Here the venue is a :class:`~kalshibot.paper.PaperExecutor` (the same queue-aware
model as paper mode) whose journal records are dropped; the analytics watch the fills and our resting quotes.

The recorded data does not carry the markets' metadata, so each market is added on its first book record with the
linear-cent grid and the default fee schedule (``quadratic_with_maker_fees``), unless the journal's lifecycle
records say otherwise. Settlement records and ``determined`` lifecycle records settle the position.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from kalshibot.core import events as ev
from kalshibot.core.fixed import Price
from kalshibot.core.grid import PriceGrid
from kalshibot.replay.analytics import Analytics, Summary
from kalshibot.replay.replayer import MarketEvent, yes_value_of

Record = Mapping[str, Any]


def engine_config_from(settings: Any) -> Any:
    """An ``EngineConfig`` from validated settings: every ``QuoteParams``/``RiskLimits``/``EngineConfig`` field that
    the settings' ``quoting``/``risk`` sections name the same way is taken from there (both are fixed-point ints)."""
    from kalshibot.core.engine import EngineConfig
    from kalshibot.core.quoter import QuoteParams
    from kalshibot.core.risk import RiskLimits

    def pick(cls: Any, section: Any) -> dict[str, Any]:
        if section is None:
            return {}
        names = {f.name for f in dataclasses.fields(cls)}
        return {n: getattr(section, n) for n in names if hasattr(section, n)}

    quoting = getattr(settings, "quoting", None)
    risk = getattr(settings, "risk", None)
    top = pick(EngineConfig, quoting)
    top.pop("quote", None)
    top.pop("risk", None)
    return EngineConfig(
        quote=QuoteParams(**pick(QuoteParams, quoting)), risk=RiskLimits(**pick(RiskLimits, risk)), **top
    )


class EngineHarness:
    """Engine + venue on one virtual clock. ``submit(actions)`` goes to the venue; the venue reports through
    :meth:`deliver`."""

    def __init__(self, engine: Any, submit: Callable[[list[ev.Action]], None], analytics: Analytics) -> None:
        self.engine = engine
        self.submit = submit
        self.analytics = analytics
        self.now_ms = 0
        self._queue: deque[ev.Event] = deque()
        self.outputs = 0
        self.on_output: Callable[[ev.Output], None] | None = None

    def deliver(self, event: ev.Event) -> None:
        self._queue.append(event)

    def run_timers(self, until_ms: int) -> None:
        """Fire every engine deadline at or before ``until_ms`` at its own time."""
        while True:
            d = self.engine.next_deadline()
            if d is None or d > until_ms:
                break
            self.now_ms = max(self.now_ms, d)
            self.handle(ev.Timer(), self.now_ms)
            if self.engine.next_deadline() == d:  # a deadline that does not move would loop forever
                break

    def handle(self, event: ev.Event, now_ms: int) -> None:
        self.now_ms = max(self.now_ms, now_ms)
        self._queue.append(event)
        while self._queue:
            e = self._queue.popleft()
            if isinstance(e, ev.FillEvent):
                self.analytics.on_fill(e.ticker, e.book_side, e.yes_price, e.count, e.fee, e.is_taker, self.now_ms)
            outs = self.engine.handle(e, self.now_ms)
            actions: list[ev.Action] = []
            for o in outs:
                self.outputs += 1
                if self.on_output is not None:
                    self.on_output(o)
                if isinstance(o, ev.PlaceOrder):
                    self.analytics.on_request("create")
                elif isinstance(o, ev.AmendOrder):
                    self.analytics.on_request("amend")
                elif isinstance(o, ev.DecreaseOrder):
                    self.analytics.on_request("decrease")
                elif isinstance(o, ev.CancelOrder):
                    self.analytics.on_request("cancel")
                if isinstance(o, ev.PlaceOrder | ev.AmendOrder | ev.DecreaseOrder | ev.CancelOrder | ev.LookupOrder):
                    actions.append(o)
            if actions:
                self.submit(actions)


class _NullJournal:
    def record(self, type: str, ts_ms: int, /, **fields: Any) -> None:
        return None


class WhatIf:
    def __init__(self, settings: Any, fill_model: str = "queue") -> None:
        from kalshibot.core.engine import Engine
        from kalshibot.paper import PaperExecutor

        self.settings = settings
        self.model = fill_model
        self.config = engine_config_from(settings)
        self.analytics = Analytics()
        self.engine = Engine(self.config, client_order_id_prefix="whatif-", id_seed="0")
        self.harness = EngineHarness(self.engine, self._submit, self.analytics)
        self.paper = PaperExecutor(
            self.harness.deliver, _NullJournal(), clock_ms=lambda: self.harness.now_ms, fill_model=fill_model
        )
        self._added: set[str] = set()
        self._settled: set[str] = set()

    def describe(self) -> str:
        q = self.config.quote
        return f"model {q.model}, spread {q.spread / 1e6:.4f}, skew {q.skew / 1e6:.4f}, policy {self.config.policy}"

    def _submit(self, actions: list[ev.Action]) -> None:
        self.paper.submit_now(actions)
        self._quotes()

    def _quotes(self) -> None:
        for t in sorted(self._added):
            rs = self.paper.venue.resting(t)
            bids = [o.price for o in rs if o.side == "bid"]
            asks = [o.price for o in rs if o.side == "ask"]
            self.analytics.on_quotes(t, max(bids) if bids else None, min(asks) if asks else None, self.harness.now_ms)

    def on_record(self, rec: Record, market: MarketEvent | None, ts_ms: int) -> None:
        self.harness.run_timers(ts_ms)
        if market is not None:
            if market.ticker not in self._added:
                self._added.add(market.ticker)
                spec = ev.MarketSpec(market.ticker, market.ticker, "", PriceGrid.linear_cent())
                self.paper.venue.set_market(spec)
                self.harness.handle(ev.MarketAdded(spec), ts_ms)
            self.analytics.on_market(market, ts_ms)
            self.paper.on_market_event(market)
            self.harness.handle(market, ts_ms)
            self._quotes()
            return
        t = rec.get("type")
        if t in ("settlement", "lifecycle"):
            ticker = str(rec.get("ticker") or "")
            value = yes_value_of(rec)
            if ticker in self._added and value is not None and ticker not in self._settled:
                self._settled.add(ticker)
                self.harness.handle(
                    ev.MarketLifecycle(
                        ticker, "determined", result=str(rec.get("result") or ""), settlement_value=Price(value)
                    ),
                    ts_ms,
                )
                self.analytics.on_settlement(ticker, value, ts_ms)

    def finish(self, end_ms: int | None) -> Summary:
        if end_ms is not None:
            self.harness.run_timers(end_ms)
        return self.analytics.finish(end_ms)
