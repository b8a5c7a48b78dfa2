"""Shared helpers for the engine tests: a market, books, and a tiny 'venue' that acks what the engine sends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from kalshibot.core import events as ev
from kalshibot.core.engine import Engine, EngineConfig
from kalshibot.core.fixed import Count, Price, contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.core.quoter import QuoteParams
from kalshibot.core.risk import RiskLimits

T = "KXTEST-26JAN01-B50"
EV_T = "KXTEST-26JAN01"
T0 = 1_767_000_000_000  # ms
CLOSE = T0 + 3_600_000

SPEC = ev.MarketSpec(
    ticker=T, event_ticker=EV_T, series_ticker="KXTEST", grid=PriceGrid.linear_cent(), close_ts_ms=CLOSE
)


def config(**kw: object) -> EngineConfig:
    base = EngineConfig(
        quote=QuoteParams(model="linear", fair_value="mid", spread=Price(40_000), skew=Price(0), size=contracts(5)),
        risk=RiskLimits(price_band=None),
        requote_tolerance_ticks=1,
        expiration_s=60,
        stop_before_close_ms=300_000,
        strict=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def snap(seq: int, bid: str = "0.40", ask: str = "0.50", size: int = 20, ticker: str = T) -> ev.BookSnapshot:
    """A book with one YES bid level and one YES ask level (given as the NO bid at 1 - ask)."""
    no_bid = dollars("1") - dollars(ask)
    return ev.BookSnapshot(ticker, 1, seq, ((dollars(bid), contracts(size)),), ((Price(no_bid), contracts(size)),))


def delta(seq: int, side: ev.Outcome, price: str, d: int, ticker: str = T) -> ev.BookDelta:
    """``price`` is YES price for side yes, NO-leg price for side no."""
    return ev.BookDelta(ticker, 1, seq, side, dollars(price), contracts(d))


def of(out: Iterable[ev.Output], kind: type) -> list:  # type: ignore[type-arg]
    return [o for o in out if isinstance(o, kind)]


def order_actions(out: Iterable[ev.Output]) -> list[ev.Output]:
    return [o for o in out if isinstance(o, ev.PlaceOrder | ev.AmendOrder | ev.DecreaseOrder | ev.CancelOrder)]


class Venue:
    """Acks every order action the engine sends (optionally), keeping order ids stable."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.oids: dict[str, str] = {}
        self.n = 0

    def oid(self, coid: str) -> str:
        if coid not in self.oids:
            self.n += 1
            self.oids[coid] = f"ex-{self.n}"
        return self.oids[coid]

    def ack_all(self, out: Iterable[ev.Output], now_ms: int) -> list[ev.Output]:
        """Feed back the exchange's answers to every action in ``out``; returns everything the engine said."""
        said: list[ev.Output] = []
        for a in list(out):
            if isinstance(a, ev.PlaceOrder):
                said += self.eng.handle(
                    ev.OrderAck(a.client_order_id, self.oid(a.client_order_id), Count(0), a.count), now_ms
                )
            elif isinstance(a, ev.CancelOrder):
                oid = a.order_id or self.oid(a.client_order_id)
                o = self.eng.orders.get(a.client_order_id)
                rem = o.remaining if o is not None else Count(0)
                said += self.eng.handle(ev.CancelAck(oid, a.client_order_id, Count(max(rem, 1))), now_ms)
            elif isinstance(a, ev.AmendOrder):
                self.oids[a.new_client_order_id] = a.order_id
                o = self.eng.orders.get(a.client_order_id)
                filled = o.filled if o is not None else 0
                said += self.eng.handle(
                    ev.AmendAck(
                        a.order_id,
                        a.new_client_order_id,
                        a.price,
                        Count(a.count - filled),
                        Count(filled),
                        a.expiration_ts_s,
                    ),
                    now_ms,
                )
            elif isinstance(a, ev.DecreaseOrder):
                o = self.eng.orders.get(a.client_order_id)
                assert o is not None
                said += self.eng.handle(
                    ev.DecreaseAck(a.order_id, a.client_order_id, Count(o.remaining - a.reduce_by)), now_ms
                )
        return said


def started(**kw: object) -> tuple[Engine, Venue, list[ev.Output]]:
    """An engine with one market, a first snapshot applied and its quotes acknowledged."""
    eng = Engine(config(**kw), client_order_id_prefix="kb-", id_seed="t1")
    eng.set_trading_day("2026-01-01", T0 - 1000)
    v = Venue(eng)
    out = eng.handle(ev.MarketAdded(SPEC), T0)
    out += eng.handle(snap(1), T0)
    v.ack_all(out, T0)
    return eng, v, out
