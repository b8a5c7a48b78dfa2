"""The engine's quoting pipeline for one market, and the state the engine shares across markets.

Theory of operation
-------------------
:class:`QuotingCore` holds what the whole engine shares (config, markets, the order tracker, the risk desk, the
deadline heap, the id counter) and the per-market pipeline :meth:`QuotingCore._requote`: is the market blocked;
else fair value from the top of book without our own orders, the quoter, the REDUCING filter; then the reconciler
(tolerance, amend vs cancel-replace, expiry refresh), the risk guard on each place/amend, intent notes for changed
desired quotes, and order actions carrying the intent id and book sequence. :meth:`QuotingCore._schedule` puts the
market's next deadline on a heap (lazy invalidation by a per-market version), so ``next_deadline()`` is O(1)
amortized on the hot path. :class:`~kalshibot.core.engine.Engine` adds the event handlers and the views.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kalshibot.core import event_builders as eb
from kalshibot.core import events as ev
from kalshibot.core.engine_plan import _cancel_first, _own_extremes
from kalshibot.core.engine_risk import RiskDesk
from kalshibot.core.fair import fair_value
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price, format_price
from kalshibot.core.market import (
    MarketState,
    ReleaseWindow,
    cap_levels,
    external_top,
    next_time_edge,
    time_block,
)
from kalshibot.core.order_tracker import OrderTracker
from kalshibot.core.orders import WORKING, Order
from kalshibot.core.quoter import QuoteParams, make_quoter, quote_context
from kalshibot.core.reconciler import (
    Amend,
    Cancel,
    Decrease,
    Keep,
    Place,
    ReconcileParams,
    Step,
    reconcile_quote,
)
from kalshibot.core.risk import RiskLimits

_Levels = tuple[tuple[Price, Count], ...]
_QuoteOut = tuple[_Levels, _Levels, dict[str, object], tuple[object, ...]]

_COID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:+=/")


@dataclass(frozen=True, slots=True)
class FlattenConfig:
    """Close the position with reduce-only IOC orders this long before close, giving up at most
    ``max_concession`` from fair value (never sell below fair - concession, never buy above fair + concession)."""

    enabled: bool = False
    before_close_ms: int = 120_000
    max_concession: Price = Price(20_000)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    quote: QuoteParams = field(default_factory=QuoteParams)
    risk: RiskLimits = field(default_factory=RiskLimits)
    requote_tolerance_ticks: int = 1
    quote_ttl_ms: int = 30_000  # requote at least this often while quoting (time-dependent models, marks)
    expiration_s: int | None = 60  # good-till-time length of quotes; refreshed at half-life
    refresh_before_s: int | None = None
    policy: Literal["amend", "cancel_replace"] = "amend"
    size_tolerance: Count = Count(0)
    stop_before_close_ms: int = 300_000
    release_windows: tuple[ReleaseWindow, ...] = ()
    flatten: FlattenConfig = field(default_factory=FlattenConfig)
    reject_cooldown_ms: int = 2_000
    use_order_group: bool = True
    strict: bool = False  # tests: an unexpected order transition raises instead of asking for a lookup
    external_fair: Callable[[str], Price | None] | None = None  # only for fair_value mode "external"


class QuotingCore:
    def __init__(
        self,
        config: EngineConfig,
        *,
        client_order_id_prefix: str = "kb-",
        id_seed: str = "0",
        session_id_prefix: str | None = None,
    ) -> None:
        prefix = session_id_prefix if session_id_prefix is not None else client_order_id_prefix
        tag = f"{prefix}{id_seed}-"
        if len(tag) > 48 or not _COID_CHARS.issuperset(tag):
            raise ValueError(f"client_order_id prefix + id_seed must be <= 48 chars of [-\\w:+=/]: {tag!r}")
        self.config = config
        self._tag = tag
        self._n = 0
        self._quoter = make_quoter(config.quote)
        self._skip_same = config.quote.model != "logit"  # equal quoter inputs give an equal quote (no clock in it)
        self._rparams = ReconcileParams(
            tolerance_ticks=config.requote_tolerance_ticks,
            policy=config.policy,
            expiration_s=config.expiration_s,
            refresh_before_s=config.refresh_before_s,
            size_tolerance=config.size_tolerance,
        )
        self._refresh_window_s = self._rparams.refresh_window_s  # frozen params: read once, not per requote
        self._markets: dict[str, MarketState] = {}
        self.orders = OrderTracker(strict=config.strict, adopt_prefix=client_order_id_prefix)
        self.desk = RiskDesk(config.risk)
        self._exchange_ok = True
        self._epoch = 0  # bumped by every event that is not a book delta or a scoped order answer (_requote's cache)
        self._refused_markets: set[str] = set()  # markets whose last full requote had a risk refusal
        self._shutdown = False
        self._heap: list[tuple[int, int, str]] = []  # (deadline_ms, version, ticker)
        self._next_prune_ms = 0

    # ================================================================================================ quoting
    def _requote_all(self, now_ms: int) -> list[ev.Output]:
        out: list[ev.Output] = []
        for m in self._markets.values():
            out += self._requote(m, now_ms)
        return out

    def _block(self, m: MarketState, now_ms: int) -> str | None:
        if m.blocks:
            return sorted(m.blocks)[0]
        if not self._exchange_ok:
            return "exchange_inactive"
        if self._shutdown:
            return "shutdown"
        if self.desk.state == "HALTED":
            return "halted"
        if now_ms < m.cooldown_until_ms:
            return "cooldown"
        return time_block(m.spec, now_ms, self.config.stop_before_close_ms, self.config.release_windows)

    def _invalidate_after_answer(self, o: Order | None) -> None:
        """An order answer (ack, reject, venue update) changes only its own market's orders, and the money at
        stake of its event and account. The requote cache of another market depends on the latter only through
        the risk guard, and only when that market's last requote had a refusal (without one every step passed and
        the plan is met by its own live orders, which this answer did not touch): so invalidate the answered
        market and the markets with a refusal outstanding, not every market (an answer for no known order: all)."""
        m = self._markets.get(o.ticker) if o is not None else None
        if m is None:
            self._epoch += 1
            return
        m.cache_epoch = -1
        markets = self._markets
        for t in self._refused_markets:
            r = markets.get(t)
            if r is not None:
                r.cache_epoch = -1

    def _requote(self, m: MarketState, now_ms: int, *, from_book: bool = False) -> list[ev.Output]:
        """Bring one market's orders in line with what we want now. ``from_book``: a delta moved the top of book
        and nothing else happened since the last requote of this market (same epoch, not invalidated by an
        answer): when the quoter's inputs, or else its output, are unchanged there is nothing to do (the hot path
        stays cheap)."""
        ticker = m.spec.ticker  # m.ticker without the property call
        if self.orders.has_unknown(ticker):
            self._schedule(m, now_ms)
            return []  # nothing new until the lookup resolves the order (events.OutcomeUnknown)
        if not self._exchange_ok or "paused" in m.blocks:
            # trading is paused: nothing can be sent, and our quotes carry cancel_order_on_pause (API.md §3.5, §9)
            return []
        live = self.orders.orders(ticker)
        block = self._block(m, now_ms)
        bids: tuple[tuple[Price, Count], ...] = ()
        asks: tuple[tuple[Price, Count], ...] = ()
        reason: dict[str, object]
        cached = from_book and m.cache_epoch == self._epoch
        key: tuple[object, ...] | None = None
        if block is None:
            q = self._quote(m, live, now_ms, m.cache_key if cached else None)
            if isinstance(q, str):  # "same": the quoter's inputs did not change
                return []
            if q is None:
                reason = {"blocked": "no_fair_value"}
            else:
                bids, asks, reason, key = q
                if cached and (key == m.cache_key or (bids, asks) == m.cache_levels):
                    return []
        else:
            reason = {"blocked": block}
        if not live and not bids and not asks and not any(m.intent_levels.values()):
            self._schedule(m, now_ms)
            return []
        top = m.book.top()  # only once something may be sent or noted (the book does not change in between)
        bids_wanted, asks_wanted = bids, asks
        steps = reconcile_quote(bids, asks, live, m.spec.grid, now_ms, self._rparams)
        yb, ya = top.yes_bid, top.yes_ask  # the risk guard's fair value: the mid of a two-sided book
        fair = Price((yb + ya) // 2) if yb is not None and ya is not None and yb < ya else None
        steps, refused = self.desk.filter(m.spec, steps, fair)
        out: list[ev.Output] = []
        if refused:
            self._refused_markets.add(ticker)
        else:
            self._refused_markets.discard(ticker)
        if refused:
            # JSON-able for the journal: {"bid@0.4300": "max_notional_per_market"}
            reason = {**reason, "risk_refused": {f"{sd}@{format_price(p)}": lim for (sd, p), lim in refused.items()}}
            bids = tuple(lv for lv in bids if ("bid", lv[0]) not in refused)
            asks = tuple(lv for lv in asks if ("ask", lv[0]) not in refused)
        out += self._intents(m, now_ms, top, {"bid": bids, "ask": asks}, reason, refused)
        out += self._actions(m, steps, now_ms, top.book_seq, block, live)
        m.last_quote_ms = now_ms
        m.last_quote_seq = top.book_seq
        m.cache_epoch = self._epoch if block is None else -1
        m.cache_key = key
        m.cache_levels = (bids_wanted, asks_wanted)
        self._schedule(m, now_ms)
        return out

    def _quote(
        self, m: MarketState, live: list[Order], now_ms: int, same_as: tuple[object, ...] | None = None
    ) -> _QuoteOut | str | None:
        """The quote for this market (None: no fair value; "same": the inputs equal ``same_as``)."""
        bid, bid_size, ask, ask_size = external_top(m.book, m.own)
        ticker = m.spec.ticker  # m.ticker without the property call (read three times per requote)
        ext = self.config.external_fair(ticker) if self.config.external_fair is not None else None
        fair = fair_value(self.config.quote.fair_value, bid, bid_size, ask, ask_size, ext)
        if fair is None:
            return None
        position = self.desk.position(ticker)
        state = self.desk.state
        # the quoter's inputs; a time-dependent model (logit: tau) is never skipped on equal inputs
        key: tuple[object, ...] = (fair, bid, ask, position, state, self._skip_same)
        if not self._skip_same:
            key = (now_ms,)
        if key == same_as:
            return "same"  # decided before building the quoter's context (the quoter-only frames stay cheap)
        s = m.spec
        ttc = (s.close_ts_ms - now_ms) / 1000.0 if s.close_ts_ms is not None else None
        ctx = quote_context(ticker, fair, bid, ask, position, s.grid, s.fee_type, s.fee_multiplier_ppm, ttc, True)
        q = self._quoter.quote(ctx)
        bids, asks = q.bids, q.asks
        if state == "REDUCING":
            # only reducing orders pass in REDUCING (CONTRACTS.md): quote only the side that shrinks |position|
            pos = position
            bids = cap_levels(bids, -pos) if pos < 0 else ()
            asks = cap_levels(asks, pos) if pos > 0 else ()
        reason = q.reason  # the quoter's own fresh dict (the Quote is not kept): add the state in place
        reason["risk_state"] = state
        return bids, asks, reason, key

    def _intents(
        self,
        m: MarketState,
        now_ms: int,
        top: ev.TopOfBook,
        want: dict[str, tuple[tuple[Price, Count], ...]],
        reason: dict[str, object],
        refused: dict[tuple[str, int], str],
    ) -> list[ev.Output]:
        """An intent note per level whenever a side's desired quote changes (CONTRACTS.md: not every tick)."""
        out: list[ev.Output] = []
        ticker = m.spec.ticker  # m.ticker without the property call
        for side in ("bid", "ask"):
            levels = want[side]
            why = ",".join(sorted(f"{p}:{lim}" for (sd, p), lim in refused.items() if sd == side)) if refused else ""
            if levels == m.intent_levels[side] and why == m.refusals.get(side, ""):
                continue
            m.refusals[side] = why
            m.intent_levels[side] = levels
            ids: dict[int, str] = {}
            outcome: ev.Outcome = "yes" if side == "bid" else "no"
            if not levels:
                out.append(ev.IntentNote(self._id("i"), now_ms, ticker, outcome, Price(0), Count(0), top, reason))
            for i, (p, c) in enumerate(levels):
                self._n += 1
                iid = f"{self._tag}i{self._n:x}"  # self._id("i"), without the call
                ids[p] = iid
                # buy YES at the bid; the ask is buying NO at 1 - ask (intent prices are of the side bought)
                price = p if side == "bid" else Price(ONE_DOLLAR - p)
                r = reason if i == 0 else {**reason, "level": i}
                out.append(eb.intent_note(iid, now_ms, ticker, outcome, price, c, top, r))
            m.intent_ids[side] = ids
        return out

    def _actions(
        self,
        m: MarketState,
        steps: list[Step],
        now_ms: int,
        seq: int | None,
        block: str | None = None,
        live: list[Order] | None = None,
    ) -> list[ev.Output]:
        """The plan's order actions. With ``live`` (the market's orders before this plan) a place or amend that
        could meet our own order on the other side is skipped (``engine_plan._own_extremes``)."""
        out: list[ev.Output] = []
        ordered = steps  # cancels first: they free exposure and are the cheapest way to get off a stale price
        cancels = crossable = False
        for s in steps:  # the amend first: a sending requote's usual step (the classes are disjoint)
            if isinstance(s, Amend):
                crossable = crossable or not s.expiry_only
            elif isinstance(s, Cancel):
                cancels = True
            elif isinstance(s, Place):
                crossable = True
        if cancels:
            ordered = sorted(steps, key=_cancel_first)
        # taken before any action of this plan changes an order
        bid_top, ask_low = _own_extremes(live) if crossable and live is not None else (None, None)
        for s in ordered:
            if isinstance(s, Amend):
                o = s.order
                if not s.expiry_only and (
                    (o.side == "bid" and ask_low is not None and s.price >= ask_low)
                    or (o.side == "ask" and bid_top is not None and s.price <= bid_top)
                ):
                    continue  # would meet our own order on the other side while it may rest: next requote
                assert o.order_id is not None
                iid = o.intent_id if s.expiry_only else m.intent_ids[o.side].get(s.price, o.intent_id)
                self._n += 1
                new_coid = f"{self._tag}{self._n:x}"  # self._id(""), without the call
                old_coid = o.client_order_id
                self.orders.send_amend(o, new_coid, s.price, s.total, s.expiration_ts_s, now_ms)
                o.intent_id, o.book_seq = iid, seq
                self.desk.sync_order(o)
                out.append(
                    eb.amend_order(
                        o.order_id, old_coid, new_coid, o.ticker, o.side, s.price, s.total, s.expiration_ts_s, iid, seq
                    )
                )
            elif isinstance(s, Keep):
                continue
            elif isinstance(s, Cancel):
                o = s.order
                self.orders.send_cancel(o, now_ms)
                self.desk.sync_order(o)
                why = block if block is not None and s.reason == "requote" else s.reason
                out.append(ev.CancelOrder(o.order_id, o.client_order_id, o.ticker, why))
            elif isinstance(s, Decrease):
                o = s.order
                assert o.order_id is not None  # working orders are acknowledged
                self.orders.send_decrease(o, s.reduce_by, now_ms)
                self.desk.sync_order(o)
                out.append(ev.DecreaseOrder(o.order_id, o.client_order_id, o.ticker, s.reduce_by, o.intent_id))
            elif isinstance(s, Place):
                if (s.side == "bid" and ask_low is not None and s.price >= ask_low) or (
                    s.side == "ask" and bid_top is not None and s.price <= bid_top
                ):
                    continue  # as for an amend above
                ids = m.intent_ids[s.side]
                iid = ids.get(s.price) or next(iter(ids.values()), "")
                coid = self._id("")
                o = self.orders.new(
                    coid,
                    m.ticker,
                    s.side,
                    s.price,
                    s.count,
                    now_ms,
                    intent_id=iid,
                    book_seq=seq,
                    expiration_ts_s=s.expiration_ts_s,
                )
                self.desk.sync_order(o)
                out.append(
                    ev.PlaceOrder(
                        coid,
                        m.ticker,
                        s.side,
                        s.price,
                        s.count,
                        iid,
                        seq,
                        expiration_ts_s=s.expiration_ts_s,
                        use_order_group=self.config.use_order_group,
                    )
                )
        return out

    # ================================================================================================ flatten
    def _flatten(self, m: MarketState, now_ms: int, *, force: bool) -> list[ev.Output]:
        """A reduce-only IOC against the best opposite price, within the allowed concession from fair value."""
        fc = self.config.flatten
        close = m.spec.close_ts_ms
        if not force and not (fc.enabled and close is not None and close - fc.before_close_ms <= now_ms < close):
            return []
        pos = self.desk.position(m.ticker)
        if pos == 0 or m.flatten_inflight is not None or not m.book.valid or not m.tradable:
            return []
        if not self._exchange_ok or "paused" in m.blocks or self.orders.has_unknown(m.ticker):
            return []
        bid, bid_size, ask, ask_size = external_top(m.book, m.own)
        fair = fair_value("mid", bid, bid_size, ask, ask_size)
        if pos > 0 and bid is not None and bid_size:
            # long YES: sell YES into the best bid (V2 side ask at that price)
            if fair is not None and bid < fair - fc.max_concession:
                return []
            side: ev.BookSide = "ask"
            price, count = bid, Count(min(pos, bid_size))
        elif pos < 0 and ask is not None and ask_size:
            if fair is not None and ask > fair + fc.max_concession:
                return []
            side, price, count = "bid", ask, Count(min(-pos, ask_size))
        else:
            return []
        iid = self._id("i")
        coid = self._id("")
        outcome: ev.Outcome = "yes" if side == "bid" else "no"
        note = ev.IntentNote(
            iid,
            now_ms,
            m.ticker,
            outcome,
            price if side == "bid" else Price(ONE_DOLLAR - price),
            count,
            m.book.top(),
            {"model": "flatten", "position": pos, "forced": force},
        )
        refusal = self.desk.check_flatten(m.spec, side, price, count, fair)
        if refusal is not None:
            return [note]
        o = self.orders.new(
            coid, m.ticker, side, price, count, now_ms, intent_id=iid, book_seq=m.book.seq, kind="flatten"
        )
        m.flatten_inflight = coid
        self.desk.sync_order(o)
        return [
            note,
            ev.PlaceOrder(
                coid,
                m.ticker,
                side,
                price,
                count,
                iid,
                m.book.seq,
                time_in_force="immediate_or_cancel",
                post_only=False,
                reduce_only=True,
                expiration_ts_s=None,
                cancel_order_on_pause=True,
                use_order_group=False,
            ),
        ]

    # ================================================================================================ helpers
    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{self._tag}{kind}{self._n:x}"

    def _spec(self, ticker: str) -> ev.MarketSpec | None:
        m = self._markets.get(ticker)
        return m.spec if m is not None else None

    def _schedule(self, m: MarketState, now_ms: int) -> None:
        """Recompute when this market next needs a look, and put it on the deadline heap."""
        m.version += 1
        c = self.config
        fl = c.flatten
        # the earliest of the candidates below (a running minimum: no list, no min() call; None: no deadline)
        best = next_time_edge(
            m.spec, now_ms, c.stop_before_close_ms, fl.before_close_ms if fl.enabled else None, c.release_windows
        )
        cool = m.cooldown_until_ms
        if cool > now_ms and (best is None or cool < best):
            best = cool
        if m.last_quote_ms is not None and any(m.intent_levels.values()):  # quoting: the quote's TTL
            ttl = m.last_quote_ms + c.quote_ttl_ms
            if best is None or ttl < best:
                best = ttl
        window = self._refresh_window_s
        ticker = m.spec.ticker  # m.ticker without the property call
        for o in self.orders.orders(ticker):
            if o.state in WORKING and o.expiration_ts_s is not None and o.kind == "quote":
                due = (o.expiration_ts_s - window) * 1000
                if due <= now_ms:
                    due = now_ms + 1  # max(now_ms + 1, due) without the call
                if best is None or due < best:
                    best = due
        if m.flatten_inflight is None and fl.enabled and self.desk.position(ticker):
            close = m.spec.close_ts_ms  # in the window: keep trying to flatten
            in_window = close is not None and close - fl.before_close_ms <= now_ms < close
            if in_window and (best is None or now_ms + 1_000 < best):
                best = now_ms + 1_000
        if best is not None:
            heapq.heappush(self._heap, (best, m.version, ticker))
