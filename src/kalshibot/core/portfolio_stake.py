"""Money at stake for :class:`~kalshibot.core.portfolio.Portfolio` (split out of portfolio.py, which was over 500
lines): per market, per event and per account, as it is and as if a hypothetical order rested, through the caches
the portfolio keeps valid (the portfolio module's docstring explains the figures and the caching).

:class:`StakeMath` is a mixin: it holds no state of its own; the attributes declared below are the portfolio's.
"""

from __future__ import annotations

from kalshibot.core.fixed import ONE_DOLLAR, Money
from kalshibot.core.position import _X, Hypothetical, MarketPosition, _ceil_money, _fixed_loss


class StakeMath:
    # the portfolio's state (set in Portfolio.__init__)
    _markets: dict[str, MarketPosition]
    _order_market: dict[str, str]
    _events: dict[str, dict[str, MarketPosition]]
    _losses_cache: dict[str, tuple[int, int]]
    _event_cache: dict[str, int]
    _event_excl: dict[str, bool]
    _account_clean: int
    _event_base: dict[str, tuple[int, MarketPosition]]
    _dirty_events: set[str]
    _hyp: Hypothetical | None
    _hyp_losses: dict[str, tuple[int, int]]
    _hyp_events: dict[str, int]

    def event_of(self, ticker: str) -> str:
        m = self._markets.get(ticker)
        return ticker if m is None else m.event_ticker

    # --- money at stake ---------------------------------------------------------------------------------
    def market_stake(self, ticker: str, change: Hypothetical | None = None) -> Money:
        m = self._markets.get(ticker)
        if m is None:
            m = MarketPosition(ticker, ticker)
            return _ceil_money(m.stake_x(change))
        return _ceil_money(self._market_stake_x(m, change))

    def event_stake(self, event_ticker: str, change: Hypothetical | None = None) -> Money:
        return _ceil_money(self._event_stake_x(event_ticker, change))

    def account_stake(self, change: Hypothetical | None = None) -> Money:
        for e in self._dirty_events:
            self._event_stake_x(e, None)  # recomputed into the cache and the account total
        self._dirty_events.clear()
        acc = self._account_clean
        if change is None:
            return _ceil_money(acc)
        # only the events of the market(s) the hypothetical touches change (module docstring): _events_touched
        # without building the set
        e1 = self.event_of(change.ticker)
        acc += self._event_stake_x(e1, change) - self._event_stake_x(e1, None)
        if change.replaces is not None:
            t = self._order_market.get(change.replaces)
            if t is not None:
                e2 = self._markets[t].event_ticker
                if e2 != e1:
                    acc += self._event_stake_x(e2, change) - self._event_stake_x(e2, None)
        return _ceil_money(acc)

    def stakes_as_if(self, change: Hypothetical) -> tuple[Money, Money]:
        """``(event_stake(event_of(change.ticker), change), account_stake(change))`` in one call, computed in that
        order through the same caches (the risk check asks for both, for the same hypothetical, one after the
        other: this saves the second pass over the same lookups, ~1 µs a check on the hot path of issue 9)."""
        m = self._markets.get(change.ticker)
        e1 = change.ticker if m is None else m.event_ticker
        hyp = self._event_stake_x(e1, change)
        dirty = self._dirty_events
        if dirty:
            for e in dirty:
                self._event_stake_x(e, None)  # recomputed into the cache and the account total
            dirty.clear()
        acc = self._account_clean + hyp - self._event_stake_x(e1, None)
        if change.replaces is not None:
            t = self._order_market.get(change.replaces)
            if t is not None:
                e2 = self._markets[t].event_ticker
                if e2 != e1:
                    acc += self._event_stake_x(e2, change) - self._event_stake_x(e2, None)
        return Money(-((-hyp) // _X)), Money(-((-acc) // _X))  # _ceil_money of each

    def plan_bound(
        self, ticker: str, amends: dict[str, tuple[int, int]], places: list[tuple[str, int, int]]
    ) -> tuple[int, int, int, int] | None:
        """An upper bound of the figures every exposure check of one plan in ``ticker`` judges (the risk desk's
        bounded filter, ``RiskDesk.filter``): ``(market stake, largest |position| reachable, event stake,
        account stake)``, all as if each amended order (``amends``: resting-order key -> (new price, new
        remaining)) rested at *both* its old and its new figures (per loss outcome and for the count, the larger
        of the two) and every place (``places``: (side, price, count)) rested too. None when the bound is not
        made here (the market is unknown, settled or determined, its event is mutually exclusive, or an amended
        key does not rest in this market): the caller then judges step by step.

        Why it bounds every check: a check judges this market's resting orders with at most one of them
        replaced by its amend, plus some of the places (the ones approved before it), plus its own order; other
        markets as they are. Each loss outcome and each side's reachable count is a sum over the market's orders
        of per-order terms that are >= 0 for an order that passed the fat-finger checks (price in (0, 1), count
        > 0; the caller passes only such steps), so the bound's sums are >= the check's, term by term. The
        market stake is max(0, loss if NO, loss if YES), the reach max(-lowest, highest) position: both
        nondecreasing in those sums. An independent event's stake is the sum of its markets' stakes and the
        account's the sum of its events': nondecreasing in this market's stake, the rest unchanged. Ceiling to
        micro-dollars is nondecreasing too. So no check's figure exceeds the bound's."""
        m = self._markets.get(ticker)
        if m is None or m.settled or m.settlement_value is not None:
            return None
        e = m.event_ticker
        event_now = self._event_cache.get(e)
        if event_now is None:
            event_now = self._event_stake_x(e, None)
        if self._event_excl[e]:
            return None  # mutually exclusive: the event's stake is not a sum of its markets' (judged exactly)
        pos = m.position
        if pos >= 0:
            no_b, yes_b = m.cost_x, m.cost_x - pos * ONE_DOLLAR
        else:
            no_b, yes_b = m.cost_x + pos * ONE_DOLLAR, m.cost_x
        bids = others = 0  # reachable counts of the bound (bids raise the position, the rest lower it)
        found = 0
        for oid, o in m.orders.items():
            price, count = o.price, o.remaining
            a = amends.get(oid)
            if o.side == "bid":
                if a is not None:
                    found += 1
                    new = a[0] * a[1]
                    no_b += new if new > price * count else price * count
                    bids += a[1] if a[1] > count else count
                else:
                    no_b += price * count
                    bids += count
            else:
                old = (ONE_DOLLAR - price) * count
                if a is not None:
                    found += 1
                    new = (ONE_DOLLAR - a[0]) * a[1]
                    yes_b += new if new > old else old
                    others += a[1] if a[1] > count else count
                else:
                    yes_b += old
                    others += count
        if found != len(amends):
            return None  # an amended order is not resting here: check_amend refuses it (judged exactly)
        for side, p_price, p_count in places:
            if side == "bid":
                no_b += p_price * p_count
                bids += p_count
            else:
                yes_b += (ONE_DOLLAR - p_price) * p_count
                others += p_count
        # this market's share of the event's cached stake, from the same cached losses the event's figure was
        # built from (review of round 4): event_now - share_now is then exactly the rest of the event
        share_now = self._market_stake_x(m, None)
        stake_b = no_b if no_b > yes_b else yes_b
        if stake_b < 0:
            stake_b = 0
        hi, lo = pos + bids, pos - others
        reach = -lo if -lo > hi else hi
        dirty = self._dirty_events
        if dirty:
            for d in dirty:
                self._event_stake_x(d, None)  # recomputed into the cache and the account total
            dirty.clear()
        event_b = event_now - share_now + stake_b
        acc_b = self._account_clean - event_now + event_b
        # micro-dollars, rounded up as _ceil_money rounds (without the calls)
        return -((-stake_b) // _X), reach, -((-event_b) // _X), -((-acc_b) // _X)

    def _touches(self, m: MarketPosition, change: Hypothetical | None) -> bool:
        """Whether judging ``change`` changes ``m``'s losses (its market, or the market of the order it replaces)."""
        return change is not None and (change.ticker == m.ticker or change.replaces in m.orders)

    def _events_touched(self, change: Hypothetical) -> set[str]:
        # an unknown ticker is its own event (ensure_market), judged with a fresh, empty position
        events = {self.event_of(change.ticker)}
        if change.replaces is not None:
            t = self._order_market.get(change.replaces)
            if t is not None:
                events.add(self._markets[t].event_ticker)
        return events

    def _for(self, change: Hypothetical) -> None:
        if change is not self._hyp:
            self._hyp = change
            self._hyp_losses.clear()
            self._hyp_events.clear()

    def _losses(self, m: MarketPosition, change: Hypothetical | None) -> tuple[int, int]:
        # _touches and _for inlined (called for every market of an event on the risk check's hot path)
        if change is not None and (change.ticker == m.ticker or change.replaces in m.orders):
            if change is not self._hyp:
                self._hyp = change
                self._hyp_losses.clear()
                self._hyp_events.clear()
            got = self._hyp_losses.get(m.ticker)
            if got is None:
                got = self._hyp_losses[m.ticker] = m.losses_x(change)
            return got
        got = self._losses_cache.get(m.ticker)
        if got is None:
            got = self._losses_cache[m.ticker] = m.losses_x()
        return got

    def _market_stake_x(self, m: MarketPosition, change: Hypothetical | None) -> int:
        losses = self._losses(m, change)
        if m.settlement_value is not None:
            f = _fixed_loss(losses, m.settlement_value)
            return f if f > 0 else 0
        a, b = losses  # max(0, *losses) without the builtin call (several per risk check)
        if b > a:
            a = b
        return a if a > 0 else 0

    def _event_stake_x(self, event_ticker: str, change: Hypothetical | None) -> int:
        if change is None:
            got = self._event_cache.get(event_ticker)
            if got is None:
                base = self._event_base.pop(event_ticker, None)
                if base is None:
                    got = self._event_stake_clean(event_ticker)
                else:  # only base[1]'s orders changed since the event was cached (_touch_orders)
                    m = base[1]
                    losses = self._losses_cache.get(m.ticker)
                    if losses is None:
                        losses = self._losses_cache[m.ticker] = m.losses_x()
                    got = base[0] + _share(m, losses)
                self._event_cache[event_ticker] = got
                self._account_clean += got
            return got
        if change is not self._hyp:  # _for inlined
            self._hyp = change
            self._hyp_losses.clear()
            self._hyp_events.clear()
        got = self._hyp_events.get(event_ticker)
        if got is None:
            got = self._hyp_events[event_ticker] = self._event_stake_hyp(event_ticker, change)
        return got

    def _event_stake_clean(self, event_ticker: str) -> int:
        """``_event_stake_scan(event_ticker, None)``, and the event's ``_event_excl`` flag. The independent-markets
        case (the common one) is one tight loop over the cached losses: after every order change of a market its
        event is recomputed here, once per requote on the hot path."""
        members = self._events.get(event_ticker)
        excl = False
        total = 0
        if members:
            cache = self._losses_cache
            for m in members.values():
                if m.settled:
                    continue
                if m.mutually_exclusive:
                    excl = True
                    break
                losses = cache.get(m.ticker)
                if losses is None:
                    losses = cache[m.ticker] = m.losses_x()
                if m.settlement_value is not None:
                    f = _fixed_loss(losses, m.settlement_value)
                    if f > 0:
                        total += f
                else:
                    a, b = losses  # max(0, *losses) without the builtin call
                    if b > a:
                        a = b
                    if a > 0:
                        total += a
        self._event_excl[event_ticker] = excl
        return self._event_stake_scan(event_ticker, None) if excl else total

    def _event_stake_hyp(self, event_ticker: str, change: Hypothetical) -> int:
        """The event's stake as if ``change`` rested. When no unsettled market of the event is mutually exclusive
        the stake is the sum of its markets' stakes, and only the market(s) the hypothetical touches (its ticker,
        and the market of the order it replaces: :meth:`_touches`) differ from the cached stake as it is: O(1)
        instead of a scan of the event. A mutually exclusive event, or a ticker not yet known, is scanned."""
        members = self._events.get(event_ticker)
        if members is None or change.ticker not in self._markets:
            return self._event_stake_scan(event_ticker, change)
        total = self._event_stake_x(event_ticker, None)
        if self._event_excl[event_ticker]:
            return self._event_stake_scan(event_ticker, change)
        m = members.get(change.ticker)
        if m is not None and not m.settled:
            total += self._market_stake_x(m, change) - self._market_stake_x(m, None)
        if change.replaces is not None:
            t = self._order_market.get(change.replaces)  # the market whose orders hold it (see _touches)
            if t is not None and t != change.ticker:
                m = members.get(t)
                if m is not None and not m.settled:
                    total += self._market_stake_x(m, change) - self._market_stake_x(m, None)
        return total

    def _event_stake_scan(self, event_ticker: str, change: Hypothetical | None) -> int:
        members = self._events.get(event_ticker)
        ms = [m for m in members.values() if not m.settled] if members else []
        if change is not None and change.ticker not in self._markets and change.ticker == event_ticker:
            ms.append(MarketPosition(change.ticker, change.ticker))
        if not ms:
            return 0
        if not any(m.mutually_exclusive for m in ms):
            return sum(self._market_stake_x(m, change) for m in ms)
        # mutually exclusive: at most one market resolves YES
        fixed = 0
        open_: list[tuple[int, int]] = []
        winner: MarketPosition | None = None
        for m in ms:
            if m.settlement_value == ONE_DOLLAR:
                winner = m
            losses = self._losses(m, change)
            if m.settlement_value is None:
                open_.append(losses)
            else:
                fixed += _fixed_loss(losses, m.settlement_value)
        if winner is not None:
            # the one YES is known: every undetermined market resolves NO
            return max(0, fixed + sum(no for no, _ in open_))
        all_no = sum(no for no, _ in open_)
        worst_switch = max((yes - no for no, yes in open_), default=0)
        return max(0, fixed + all_no + max(0, worst_switch))


def _share(m: MarketPosition, losses: tuple[int, int]) -> int:
    """An unsettled market's share of its independent event's stake (as :meth:`Portfolio._event_stake_clean`
    adds it up)."""
    if m.settlement_value is not None:
        f = _fixed_loss(losses, m.settlement_value)
        return f if f > 0 else 0
    a, b = losses
    if b > a:
        a = b
    return a if a > 0 else 0
