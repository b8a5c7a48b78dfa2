"""The requote cache scoped per market (order answers invalidate their own market and the markets with a risk
refusal outstanding, not every market) must send exactly what the old engine-wide invalidation sends.

Differential: two engines get the same random stream (book deltas on markets sharing an event under tight
event limits, so the risk guard refuses levels; answers to some of the actions in flight, rejects, venue
updates that shrink a resting order without changing its state, fills) and must produce identical outputs at every
step. The reference engine bumps the global epoch on every order answer, i.e. the engine before the change. The
test also checks that the scoped engine really skipped requotes the reference ran (else it would prove nothing);
breaking either invalidation (own market, refused markets) makes it fail (checked by hand when it was written).
"""

from __future__ import annotations

import random

import pytest

from kalshibot.core import events as ev
from kalshibot.core.engine import _SCOPED_ANSWERS, Engine
from kalshibot.core.fixed import Count, Money, Price, contracts
from kalshibot.core.grid import PriceGrid
from kalshibot.core.orders import Order, State
from kalshibot.core.quoter import QuoteParams
from kalshibot.core.risk import RiskLimits
from tests.test_engine_support import T0, config

TICKERS = ["KXC-26JAN01-M0", "KXC-26JAN01-M1", "KXC-26JAN01-M2", "KXD-26JAN01-M3"]
EVENTS = ["KXC-26JAN01", "KXC-26JAN01", "KXC-26JAN01", "KXD-26JAN01"]


class _Counting(Engine):
    """Counts full requotes (the pipeline past the cache)."""

    full = 0

    def _intents(self, *a: object, **kw: object) -> list[ev.Output]:
        self.full += 1
        return super()._intents(*a, **kw)  # type: ignore[arg-type]


class _Reference(_Counting):
    """The engine before the change: every order answer invalidates every market's requote cache."""

    def handle(self, event: ev.Event, now_ms: int) -> list[ev.Output]:
        if type(event) in _SCOPED_ANSWERS:
            self._epoch += 1
        return super().handle(event, now_ms)


def _engines() -> tuple[_Counting, _Reference]:
    cfg = config(
        quote=QuoteParams(
            model="linear", fair_value="mid", spread=Price(40_000), skew=Price(2_000), size=contracts(5), levels=2
        ),
        # each market wants ~$4 at stake; the three-market event has room for ~2 of them: refusals
        risk=RiskLimits(
            price_band=None,
            max_event_exposure=Money(8_000_000),
            max_account_exposure=Money(20_000_000),
            reducing_fraction=1.0,
            reducing_hysteresis=0.0,
        ),
        expiration_s=600,
        quote_ttl_ms=600_000,
        strict=False,
    )
    a = _Counting(cfg, client_order_id_prefix="kb-", id_seed="d")
    b = _Reference(cfg, client_order_id_prefix="kb-", id_seed="d")
    return a, b


class _Run:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.a, self.b = _engines()
        self.now = T0
        self.inflight: list[ev.Output] = []
        self.seq = dict.fromkeys(TICKERS, 1)
        self.oids: dict[str, str] = {}
        self.n = 0
        # books in cents: YES bids 36-45, NO bids 45-54 (YES asks 46-55): never crossed
        self.books = {t: {"yes": {43: 20, 42: 30}, "no": {52: 20, 51: 30}} for t in TICKERS}

    def feed(self, e: ev.Event) -> None:
        out_a = self.a.handle(e, self.now)
        out_b = self.b.handle(e, self.now)
        assert out_a == out_b, f"diverged on {e!r}"
        self.inflight += [
            x for x in out_a if isinstance(x, ev.PlaceOrder | ev.AmendOrder | ev.CancelOrder | ev.DecreaseOrder)
        ]

    def oid(self, coid: str) -> str:
        if coid not in self.oids:
            self.n += 1
            self.oids[coid] = f"ex-{self.n}"
        return self.oids[coid]

    def start(self) -> None:
        for t, e in zip(TICKERS, EVENTS, strict=True):
            spec = ev.MarketSpec(t, e, t.split("-")[0], PriceGrid.linear_cent(), close_ts_ms=T0 + 3_600_000)
            self.feed(ev.MarketAdded(spec))
        for e2 in (self.a, self.b):
            e2.set_trading_day("2026-01-01", T0 - 1000)
        for t in TICKERS:
            b = self.books[t]
            self.feed(
                ev.BookSnapshot(
                    t,
                    1,
                    1,
                    tuple((Price(p * 10_000), contracts(q)) for p, q in sorted(b["yes"].items())),
                    tuple((Price(p * 10_000), contracts(q)) for p, q in sorted(b["no"].items())),
                )
            )

    def delta(self) -> None:
        rng = self.rng
        t = rng.choice(TICKERS)
        side = rng.choice(("yes", "no"))
        lv = self.books[t][side]
        lo, hi = (36, 45) if side == "yes" else (45, 54)
        price = rng.randint(max(lo, max(lv) - 2), hi) if rng.random() < 0.8 else rng.randint(lo, hi)
        have = lv.get(price, 0)
        d = rng.randint(1, 20) if have == 0 or len(lv) == 1 or rng.random() < 0.5 else -have
        lv[price] = have + d
        if lv[price] == 0:
            del lv[price]
        self.seq[t] += 1
        self.feed(ev.BookDelta(t, 1, self.seq[t], side, Price(price * 10_000), contracts(d)))  # type: ignore[arg-type]

    def answer(self) -> None:
        if not self.inflight:
            return
        a = self.inflight.pop(self.rng.randrange(len(self.inflight)))
        eng = self.a
        if isinstance(a, ev.PlaceOrder):
            if self.rng.random() < 0.03:
                self.feed(ev.OrderReject(a.client_order_id, None, "insufficient_balance", "no"))
            else:
                self.feed(ev.OrderAck(a.client_order_id, self.oid(a.client_order_id), Count(0), a.count))
        elif isinstance(a, ev.CancelOrder):
            o = eng.orders.get(a.client_order_id)
            rem = o.remaining if o is not None else Count(0)
            self.feed(ev.CancelAck(a.order_id or self.oid(a.client_order_id), a.client_order_id, Count(max(rem, 1))))
        elif isinstance(a, ev.AmendOrder):
            self.oids[a.new_client_order_id] = a.order_id
            o = eng.orders.get(a.client_order_id)
            filled = o.filled if o is not None else Count(0)
            self.feed(
                ev.AmendAck(
                    a.order_id, a.new_client_order_id, a.price, Count(a.count - filled), filled, a.expiration_ts_s
                )
            )
        elif isinstance(a, ev.DecreaseOrder):
            o = eng.orders.get(a.client_order_id)
            rem = o.remaining if o is not None else Count(0)
            self.feed(ev.DecreaseAck(a.order_id, a.client_order_id, Count(max(0, rem - a.reduce_by))))

    def step(self) -> None:
        r = self.rng.random()
        if r < 0.55:
            self.delta()
        elif r < 0.89:
            self.answer()
        elif r < 0.95:
            self.venue_shrink()
        else:
            self.fill()

    def resting(self) -> list[object]:
        return [o for o in self.a.orders.all_open() if o.state is State.RESTING and o.order_id is not None]

    def venue_shrink(self) -> None:
        """The venue's view of a resting order with less left (state unchanged: no requote on the answer)."""
        rest = self.resting()
        if not rest:
            return
        o = self.rng.choice(rest)
        left = Count(max(100, o.remaining // 2))  # type: ignore[attr-defined]
        self.feed(
            ev.OrderUpdate(
                o.order_id,  # type: ignore[attr-defined]
                o.client_order_id,  # type: ignore[attr-defined]
                o.ticker,  # type: ignore[attr-defined]
                "resting",
                o.side,  # type: ignore[attr-defined]
                o.price,  # type: ignore[attr-defined]
                Count(0),
                left,
                left,
                expiration_ts_s=o.expiration_ts_s,  # type: ignore[attr-defined]
            )
        )

    def fill(self) -> None:
        rest = self.resting()
        if not rest:
            return
        o = self.rng.choice(rest)
        self.n += 1
        self.feed(
            ev.FillEvent(
                o.order_id,  # type: ignore[attr-defined]
                f"tr-{self.n}",
                o.ticker,  # type: ignore[attr-defined]
                "yes" if o.side == "bid" else "no",  # type: ignore[attr-defined]
                o.side,  # type: ignore[attr-defined]
                o.price,  # type: ignore[attr-defined]
                Count(100),
                Money(0),
                False,
                o.client_order_id,  # type: ignore[attr-defined]
            )
        )


@pytest.mark.parametrize("seed", range(6))
def test_scoped_invalidation_sends_what_global_invalidation_sends(seed: int) -> None:
    run = _Run(seed)
    run.start()
    for _ in range(1500):
        run.now += run.rng.randint(0, 40)  # ~30 s in all, well inside the 600 s quote TTL and expiry: no timer is due
        run.step()
    while run.inflight:
        run.answer()
    for t in TICKERS:
        run.delta()
        assert run.a.orders.orders(t) == run.b.orders.orders(t)
    # the scoped engine skipped requotes the reference ran, and the stream hit refusals: the test is sensitive
    assert run.a.full < run.b.full


def test_stream_reaches_refusals_and_cache_hits() -> None:
    """The workload above is meaningful: risk refusals are outstanding most of the time, and the scoped engine
    still saves requotes."""
    run = _Run(99)
    run.start()
    refusals = 0
    for _ in range(1500):
        run.now += run.rng.randint(0, 40)
        run.step()
        refusals += bool(run.a._refused_markets)
    assert refusals > 500
    assert run.a.full < run.b.full


class _OnlyOwnMarket(_Counting):
    """Broken on purpose: forgets the markets with a refusal outstanding."""

    def _invalidate_after_answer(self, o: Order | None) -> None:
        m = self._markets.get(o.ticker) if o is not None else None
        if m is None:
            self._epoch += 1
        else:
            m.cache_epoch = -1


class _OnlyRefused(_Counting):
    """Broken on purpose: forgets the answered market itself."""

    def _invalidate_after_answer(self, o: Order | None) -> None:
        if o is None:
            self._epoch += 1
            return
        for t in self._refused_markets:
            self._markets[t].cache_epoch = -1


@pytest.mark.parametrize("broken", [_OnlyOwnMarket, _OnlyRefused])
def test_the_differential_catches_a_broken_invalidation(broken: type[_Counting]) -> None:
    """Each half of the invalidation is needed, and this harness notices when one is missing."""
    diverged = 0
    for seed in range(6):
        run = _Run(seed)
        run.a = broken(run.b.config, client_order_id_prefix="kb-", id_seed="d")
        run.start()
        try:
            for _ in range(1500):
                run.now += run.rng.randint(0, 40)
                run.step()
        except AssertionError as e:
            assert "diverged" in str(e)
            diverged += 1
    assert diverged >= 3
