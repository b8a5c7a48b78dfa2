"""PnL and execution-quality analytics over a stream of market data, our quotes and our fills.

Theory of operation
-------------------
One :class:`Analytics` instance per "lane" (a fill model, the recorded fills, a backtest strategy). The driver calls,
in timestamp order: :meth:`on_market` for every public book/trade event, :meth:`on_quotes` whenever our resting best
bid/ask in a market changes, :meth:`on_fill` for each of our fills, :meth:`on_request` for each order request sent
(tokens per API.md §7.1: 10 per create/amend/decrease, 2 per cancel), :meth:`on_settlement` when a market
determines, and :meth:`finish` once at the end.

Accounting is in YES terms and exact: a bid fill buys YES (cash -= p*c), an ask fill buys NO at 1 - p, which Kalshi
nets against YES (API.md §3.5), so it is cash += p*c and position -= c. At settlement at YES value v the position
pays pos*v in these terms, which gives the same PnL as Kalshi's payout (long YES c gets c*v, long NO c gets c*(1-v)).
Realized PnL uses the average cost of the open position (exact fractions, rounded down to a micro-dollar only when
reported); marked PnL adds the open position at the book's mid (or at the settlement value once known). Fees are
the fills' net fees (API.md §8). Spread captured is each fill's edge against the mid just before it; markouts at
horizon h are the mid h later minus the fill price, signed by direction (negative = adverse selection), evaluated
with the mid as of the last event at or before ts + h. Two-sided uptime is the share of observed time with both a
bid and an ask of ours resting. Memory is bounded: per-fill state lives only until its last horizon has passed and
time series are decimated to at most ``series_cap`` points.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

from kalshibot.core.events import BookDelta, BookSide, BookSnapshot, TradePrint
from kalshibot.core.fixed import COUNT_ONE, Count, Money, Price
from kalshibot.replay.fillmodels import LevelBook

DEFAULT_HORIZONS_MS: tuple[int, ...] = (1_000, 5_000, 30_000, 60_000, 300_000)
_NEVER = 1 << 62  # "no markout pending" for the due-time guard in advance()
_FLOOR = -(1 << 64)  # below every timestamp a journal can hold (orjson's and msgspec's ints stop at -2**63)
TOKEN_COST = {"create": 10, "amend": 10, "decrease": 10, "cancel": 2}  # API.md §7.1
MARK_SAMPLE_MS = 1_000  # the PnL curve is sampled at every fill and at most once a second of data time otherwise


class Series:
    """A time series capped at ``cap`` points by deterministic decimation (keep every other point, double the
    stride), so a long replay stays in bounded memory and the same input always gives the same points."""

    __slots__ = ("_skip", "cap", "points", "stride")

    def __init__(self, cap: int = 2_000) -> None:
        self.cap = max(2, cap)
        self.points: list[tuple[int, ...]] = []
        self.stride = 1
        self._skip = 0

    def add(self, *point: int) -> None:
        if self._skip:
            self._skip -= 1
            return
        self.points.append(point)
        self._skip = self.stride - 1
        if len(self.points) >= self.cap:
            self.points = self.points[::2]
            self.stride *= 2


@dataclass(slots=True)
class MarketStats:
    ticker: str
    position: int = 0
    cash_pc: int = 0  # YES-terms cash in price*count units (micro-dollars x centi-contracts)
    basis: Fraction = field(default_factory=Fraction)  # cost of the open position, price*count units, signed
    realized_pc: Fraction = field(default_factory=Fraction)
    fees: int = 0
    fills: int = 0
    contracts: int = 0
    maker_contracts: int = 0
    spread_pc: int = 0  # edge vs mid at fill, price*count units
    spread_contracts: int = 0
    payout: int = 0
    settled: bool = False
    settle_value: int | None = None
    mark: int | None = None  # last mid
    # uptime
    first_ms: int | None = None
    last_ms: int = 0
    observed_ms: int = 0
    two_sided_ms: int = 0
    quoted_ms: int = 0
    our_bid: int | None = None
    our_ask: int | None = None

    def marked_pc(self) -> Fraction:
        """Net PnL before fees, open position at the settlement value or the last mid (at cost if neither)."""
        price = self.settle_value if self.settle_value is not None else self.mark
        if price is None:
            return Fraction(self.cash_pc) + self.basis
        return Fraction(self.cash_pc + self.position * price)


@dataclass(frozen=True, slots=True)
class MarketSummary:
    ticker: str
    fills: int
    contracts: Count
    position: Count
    fees: Money
    realized: Money
    net_pnl: Money  # marked, after fees
    payout: Money
    spread_captured: Money
    two_sided_permille: int
    quoted_permille: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything a report or a table needs; ints only (micro-dollars, centi-contracts, ms, permille)."""

    markets: tuple[MarketSummary, ...]
    fills: int
    contracts: Count
    maker_contracts: Count
    fees: Money
    realized: Money
    net_pnl: Money
    payout: Money
    spread_captured: Money
    max_drawdown: Money
    markouts: tuple[tuple[int, int, Count], ...]  # (horizon_ms, sum in price*count units, contracts evaluated)
    orders: dict[str, int]
    tokens: int
    two_sided_permille: int
    start_ms: int
    end_ms: int

    def pnl_per_contract(self) -> Money | None:
        if self.contracts <= 0:
            return None
        return Money(self.net_pnl * COUNT_ONE // self.contracts)

    def markout_per_contract(self, horizon_ms: int) -> Price | None:
        for h, total, n in self.markouts:
            if h == horizon_ms and n > 0:
                return Price(total // n)
        return None


@dataclass(slots=True)
class _Pending:
    due_ms: int
    ticker: str
    sign: int
    price: int
    count: int


class Analytics:
    def __init__(
        self,
        horizons_ms: tuple[int, ...] = DEFAULT_HORIZONS_MS,
        series_cap: int = 2_000,
        books: dict[str, LevelBook] | None = None,
    ) -> None:
        """``books``: public books kept by the caller, who applies every market event to them *before* calling
        :meth:`on_market` (the replayer shares one set between its lanes instead of each lane applying every
        event again); None = this instance keeps and updates its own."""
        self.horizons = tuple(sorted(set(horizons_ms)))
        self.markets: dict[str, MarketStats] = {}
        self._own_books = books is None
        self.books: dict[str, LevelBook] = {} if books is None else books
        self.orders = {k: 0 for k in TOKEN_COST}
        self._pending: dict[int, deque[_Pending]] = {h: deque() for h in self.horizons}
        self._markout_sum: dict[int, int] = {h: 0 for h in self.horizons}
        self._markout_n: dict[int, int] = {h: 0 for h in self.horizons}
        self._next_due = _NEVER  # <= the earliest due_ms at the head of the _pending queues
        self.now_ms = 0
        self.start_ms: int | None = None
        self._peak: Fraction | None = None
        self._max_dd = Fraction(0)
        self._last_sample_ms: int | None = None
        # the latest time advance() has nothing to do but move the clock: no markout due and no PnL sample due
        # (see _retime; the replayer's fast loop compares against it, one load instead of three tests)
        self._until = _FLOOR
        self.pnl_series = Series(series_cap)  # (ts_ms, net marked PnL micros)
        self.inventory: dict[str, Series] = {}  # ticker -> (ts_ms, position)
        self.quotes: dict[str, Series] = {}  # ticker -> (ts_ms, our bid, our ask, best bid, best ask); -1 = none
        # markets whose last book event found its quote row equal to the last point: while neither the top of the
        # book nor the series changes (_record_quotes drops the market), a book event has nothing to record
        self._quiet: set[str] = set()
        self.series_cap = series_cap

    # ------------------------------------------------------------------------------------------ inputs
    def market(self, ticker: str) -> MarketStats:
        m = self.markets.get(ticker)
        if m is None:
            m = self.markets[ticker] = MarketStats(ticker)
        return m

    def advance(self, ts_ms: int) -> None:
        """Time passes to ``ts_ms``: uptime accrues, markouts due strictly before it are evaluated with the mids
        as they are now (the state after every event at or before their due time).

        Uptime accrues lazily (:meth:`_catch_up`): a market's uptime fields only change when its own quote or
        settlement state changes, so advancing every market on every event (O(markets) per event) is deferred to
        the next time that market is touched, or to :meth:`finish`. The sums are the same: the intervals
        telescope while the market's state is constant (tests/test_replay_analytics_lazy.py checks this against
        the eager computation)."""
        if ts_ms < self.now_ms:
            ts_ms = self.now_ms  # journals from several processes may interleave by a few ms: never go back
        if ts_ms > self._next_due:
            self._pop_markouts(ts_ms)
        self.now_ms = ts_ms
        if self.start_ms is None:
            self.start_ms = ts_ms
        if self._last_sample_ms is None or ts_ms - self._last_sample_ms >= MARK_SAMPLE_MS:
            self._sample()

    def _pop_markouts(self, ts_ms: int) -> None:
        nxt = _NEVER
        for h in self.horizons:
            q = self._pending[h]
            while q and q[0].due_ms < ts_ms:
                p = q.popleft()
                mid = self.markets[p.ticker].settle_value
                if mid is None:
                    mid = self.markets[p.ticker].mark
                if mid is not None:
                    self._markout_sum[h] += p.sign * (mid - p.price) * p.count
                    self._markout_n[h] += p.count
            if q and q[0].due_ms < nxt:
                nxt = q[0].due_ms
        self._next_due = nxt
        self._retime()

    def _retime(self) -> None:
        """``_until`` after ``_next_due`` or ``_last_sample_ms`` changed: ``now > _until`` exactly when ``now >
        _next_due or _last_sample_ms is None or now - _last_sample_ms >= MARK_SAMPLE_MS`` (integers)."""
        sampled = self._last_sample_ms
        last_quiet = _FLOOR if sampled is None else sampled + MARK_SAMPLE_MS - 1
        self._until = self._next_due if self._next_due < last_quiet else last_quiet

    def _catch_up(self, m: MarketStats) -> None:
        """Accrue ``m``'s uptime up to ``now_ms`` with its current state; call before changing that state."""
        ts_ms = self.now_ms
        if ts_ms > m.last_ms:
            if m.first_ms is not None and not m.settled:
                dt = ts_ms - m.last_ms
                m.observed_ms += dt
                if m.our_bid is not None and m.our_ask is not None:
                    m.two_sided_ms += dt
                if m.our_bid is not None or m.our_ask is not None:
                    m.quoted_ms += dt
            m.last_ms = ts_ms

    def _touch(self, ticker: str) -> MarketStats:
        m = self.markets.get(ticker)
        if m is None:
            # a new market: the eager form would have moved its last_ms to now without accruing (no first_ms)
            m = self.markets[ticker] = MarketStats(ticker, last_ms=self.now_ms)
        else:
            self._catch_up(m)
        return m

    def on_market(self, ev: BookSnapshot | BookDelta | TradePrint, ts_ms: int) -> None:
        self.advance(ts_ms)
        if isinstance(ev, TradePrint):
            return
        book = self.books.get(ev.ticker)
        if book is None:
            book = self.books[ev.ticker] = LevelBook()
        if self._own_books:
            if isinstance(ev, BookSnapshot):
                book.apply_snapshot(ev)
            else:
                book.apply_delta(ev)
        bids, asks = book.bids, book.asks
        self._on_top(ev.ticker, ts_ms, max(bids) if bids else None, min(asks) if asks else None)

    def on_book_top(self, ticker: str, ts_ms: int, bb: int | None, ba: int | None, same_top: bool = False) -> None:
        """:meth:`on_market` for a book change of a shared book (``books`` given) the caller has already applied,
        with that book's best bid/ask (the replayer's per-record fast path: no event built, top computed once for
        every lane). ``same_top``: the caller knows the best bid/ask equal those of the market's previous book
        event (which this instance saw too)."""
        # advance(ts_ms) when it only moves the clock (no markout due, no PnL sample due): the common case
        now = self.now_ms
        t = ts_ms if ts_ms > now else now
        sampled = self._last_sample_ms
        if t > self._next_due or sampled is None or t - sampled >= MARK_SAMPLE_MS or self.start_ms is None:
            self.advance(ts_ms)
        else:
            self.now_ms = t
        if same_top and ticker in self._quiet:
            return  # first_ms is set, the mark is the same, the row equals the last point (see _quiet)
        if ticker not in self.books:
            self.books[ticker] = LevelBook()
        self._on_top(ticker, ts_ms, bb, ba)

    def _on_top(self, ticker: str, ts_ms: int, bb: int | None, ba: int | None) -> None:
        m = self.markets.get(ticker)
        if m is None:
            m = self.market(ticker)  # a book change is not a change of our quote state: no uptime catch-up
        if m.first_ms is None:
            m.first_ms = m.last_ms = ts_ms
        if bb is not None and ba is not None:
            m.mark = (bb + ba) // 2  # LevelBook.mid()
        # _record_quotes(m, ts_ms, top=(bb, ba)), inlined (once per top-of-book change per lane): the row is only
        # built when it differs from the last point
        tb = -1 if bb is None else bb
        ta = -1 if ba is None else ba
        ob = -1 if m.our_bid is None else m.our_bid
        oa = -1 if m.our_ask is None else m.our_ask
        s = self.quotes.get(ticker)
        if s is None:
            s = self.quotes[ticker] = Series(self.series_cap)
        elif s.points:
            last = s.points[-1]
            if last[3] == tb and last[4] == ta and last[1] == ob and last[2] == oa:
                self._quiet.add(ticker)
                return
        self._quiet.discard(ticker)
        s.add(ts_ms, ob, oa, tb, ta)

    def on_quotes(self, ticker: str, bid: Price | None, ask: Price | None, ts_ms: int) -> None:
        self.advance(ts_ms)
        m = self._touch(ticker)
        if m.first_ms is None:
            m.first_ms = m.last_ms = ts_ms
        if (m.our_bid, m.our_ask) != (bid, ask):
            m.our_bid, m.our_ask = bid, ask
            self._record_quotes(m, ts_ms, force=True)

    def on_request(self, kind: str, n: int = 1) -> None:
        self.orders[kind] = self.orders.get(kind, 0) + n

    def on_fill(
        self, ticker: str, book_side: BookSide, yes_price: Price, count: Count, fee: Money, is_taker: bool, ts_ms: int
    ) -> None:
        self.advance(ts_ms)
        m = self.market(ticker)
        sign = 1 if book_side == "bid" else -1
        pc = yes_price * count
        m.cash_pc -= sign * pc
        # average-cost realized PnL
        if m.position == 0 or (m.position > 0) == (sign > 0):
            m.basis += sign * pc
        else:
            closing = min(count, abs(m.position))
            share = m.basis * closing / abs(m.position)
            # closing a long: proceeds - cost; closing a short: proceeds(basis<0) - cost
            m.realized_pc += -sign * (yes_price * closing) - share
            m.basis -= share
            opening = count - closing
            if opening:
                m.basis = Fraction(sign * yes_price * opening)
        m.position += sign * count
        if m.position == 0:
            m.basis = Fraction(0)
        m.fees += fee
        m.fills += 1
        m.contracts += count
        if not is_taker:
            m.maker_contracts += count
        book = self.books.get(ticker)
        mid = book.mid() if book is not None else None
        if mid is not None:
            m.spread_pc += sign * (mid - yes_price) * count
            m.spread_contracts += count
        for h in self.horizons:
            self._pending[h].append(_Pending(ts_ms + h, ticker, sign, yes_price, count))
            if ts_ms + h < self._next_due:
                self._next_due = ts_ms + h
        self._retime()
        s = self.inventory.get(ticker)
        if s is None:
            s = self.inventory[ticker] = Series(self.series_cap)
        s.add(ts_ms, m.position)
        self._sample(force=True)

    def on_settlement(self, ticker: str, yes_value: Price, ts_ms: int) -> None:
        """The market determined at ``yes_value`` per YES contract: the open position pays out."""
        self.advance(ts_ms)
        m = self._touch(ticker)
        if m.settled:
            return
        pos = m.position
        m.payout += pos * yes_value // COUNT_ONE if pos > 0 else (-pos) * (1_000_000 - yes_value) // COUNT_ONE
        m.realized_pc += Fraction(pos * yes_value) - m.basis
        m.cash_pc += pos * yes_value
        m.position = 0
        m.basis = Fraction(0)
        m.settle_value = yes_value
        m.settled = True
        self._record_quotes(m, ts_ms)
        self._sample(force=True)

    # ----------------------------------------------------------------------------------------- outputs
    def net_pnl(self) -> Fraction:
        """Sum of :meth:`MarketStats.marked_pc` over the markets, in micro-dollars, less fees. Summed in ints
        where the terms are ints (all but the open positions at cost), one Fraction at the end: the same exact
        value as summing Fractions, without a Fraction operation per market (it runs once per second of data)."""
        total = 0
        fees = 0
        frac: Fraction | None = None
        for m in self.markets.values():
            price = m.settle_value if m.settle_value is not None else m.mark
            if price is None:
                total += m.cash_pc
                frac = m.basis if frac is None else frac + m.basis
            else:
                total += m.cash_pc + m.position * price
            fees += m.fees
        if frac is None:
            return Fraction(total - fees * COUNT_ONE, COUNT_ONE)  # = Fraction(total, COUNT_ONE) - fees
        return (frac + total) / COUNT_ONE - fees

    def finish(self, end_ms: int | None = None) -> Summary:
        if end_ms is not None:
            self.advance(end_ms)
        for m in self.markets.values():
            self._catch_up(m)
        # horizons past the end of the data are known only for markets that settled: the value is final
        for h in self.horizons:
            for p in self._pending[h]:
                v = self.markets[p.ticker].settle_value
                if v is not None:
                    self._markout_sum[h] += p.sign * (v - p.price) * p.count
                    self._markout_n[h] += p.count
            self._pending[h].clear()
        self._next_due = _NEVER
        self._retime()
        self._sample(force=True)
        mk: list[MarketSummary] = []
        for t in sorted(self.markets):
            m = self.markets[t]
            mk.append(
                MarketSummary(
                    ticker=t,
                    fills=m.fills,
                    contracts=Count(m.contracts),
                    position=Count(m.position),
                    fees=Money(m.fees),
                    realized=Money(int(m.realized_pc // COUNT_ONE) - m.fees),
                    net_pnl=Money(int((m.marked_pc() / COUNT_ONE) // 1) - m.fees),
                    payout=Money(m.payout),
                    spread_captured=Money(m.spread_pc // COUNT_ONE),
                    two_sided_permille=m.two_sided_ms * 1000 // m.observed_ms if m.observed_ms else 0,
                    quoted_permille=m.quoted_ms * 1000 // m.observed_ms if m.observed_ms else 0,
                )
            )
        obs = sum(m.observed_ms for m in self.markets.values())
        two = sum(m.two_sided_ms for m in self.markets.values())
        return Summary(
            markets=tuple(mk),
            fills=sum(m.fills for m in self.markets.values()),
            contracts=Count(sum(m.contracts for m in self.markets.values())),
            maker_contracts=Count(sum(m.maker_contracts for m in self.markets.values())),
            fees=Money(sum(m.fees for m in self.markets.values())),
            realized=Money(
                int(sum((m.realized_pc for m in self.markets.values()), Fraction(0)) // COUNT_ONE)
                - sum(m.fees for m in self.markets.values())
            ),
            net_pnl=Money(int(self.net_pnl() // 1)),
            payout=Money(sum(m.payout for m in self.markets.values())),
            spread_captured=Money(sum(m.spread_pc for m in self.markets.values()) // COUNT_ONE),
            max_drawdown=Money(int(self._max_dd // 1)),
            markouts=tuple((h, self._markout_sum[h], Count(self._markout_n[h])) for h in self.horizons),
            orders=dict(sorted(self.orders.items())),
            tokens=sum(TOKEN_COST.get(k, 10) * n for k, n in self.orders.items()),
            two_sided_permille=two * 1000 // obs if obs else 0,
            start_ms=self.start_ms or 0,
            end_ms=self.now_ms,
        )

    # --------------------------------------------------------------------------------------- internals
    def _sample(self, force: bool = False) -> None:
        if not force and self._last_sample_ms is not None and self.now_ms - self._last_sample_ms < MARK_SAMPLE_MS:
            return
        self._last_sample_ms = self.now_ms
        self._retime()
        pnl = self.net_pnl()
        peak = self._peak
        if peak is None or pnl > peak:
            self._peak = pnl  # a new peak: no drawdown from it (the max with 0 keeps _max_dd, which is >= 0)
        else:
            dd = peak - pnl
            if dd > self._max_dd:
                self._max_dd = dd
        self.pnl_series.add(self.now_ms, pnl.numerator // pnl.denominator)  # int(pnl // 1), without a Fraction op

    def _record_quotes(
        self, m: MarketStats, ts_ms: int, force: bool = False, top: tuple[int | None, int | None] | None = None
    ) -> None:
        self._quiet.discard(m.ticker)
        bb: int | None
        ba: int | None
        if top is None:
            book = self.books.get(m.ticker)
            bb = book.best_bid() if book else None
            ba = book.best_ask() if book else None
        else:
            bb, ba = top  # the caller just computed the book's best bid/ask
        s = self.quotes.get(m.ticker)
        if s is None:
            s = self.quotes[m.ticker] = Series(self.series_cap)
        row = (
            ts_ms,
            -1 if m.our_bid is None else m.our_bid,
            -1 if m.our_ask is None else m.our_ask,
            -1 if bb is None else bb,
            -1 if ba is None else ba,
        )
        if not force and s.points and s.points[-1][1:] == row[1:]:
            return
        s.add(*row)
