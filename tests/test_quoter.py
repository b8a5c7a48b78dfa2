"""Quoting models: hand-computed cases from the formulas, and Hypothesis properties of the finished quotes."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kalshibot.core.fair import fair_value
from kalshibot.core.fees import fee_floor_half_spread, trade_fee
from kalshibot.core.fixed import Count, Price, contracts, dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.core.quoter import LinearQuoter, LogitQuoter, QuoteContext, QuoteParams, Quoter, make_quoter

CENT = PriceGrid.linear_cent()
GRIDS = [CENT, PriceGrid.from_wire(None, "tapered_deci_cent"), PriceGrid.from_wire(None, "deci_cent")]
QM = "quadratic_with_maker_fees"


def ctx(
    fair: str, position: int = 0, best_bid: str | None = None, best_ask: str | None = None, **kw: object
) -> QuoteContext:
    return QuoteContext(
        ticker="T",
        fair=dollars(fair),
        best_bid=dollars(best_bid) if best_bid else None,
        best_ask=dollars(best_ask) if best_ask else None,
        position=contracts(position),
        grid=kw.pop("grid", CENT),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


GUIDE = LinearQuoter(spread=dollars("0.02"), skew_per_contract=dollars("0.005"), size=contracts(1))


# ------------------------------------------------------------------------------------------------ linear
def test_linear_guide_case() -> None:
    # guide: bid = mid - SPREAD/2 - SKEW*inv = 0.50 - 0.01 - 0.005*2 = 0.48; ask = 0.50 + 0.01 - 0.01 = 0.50
    q = GUIDE.quote(ctx("0.50", position=2, best_bid="0.45", best_ask="0.55"))
    assert q.bids == ((dollars("0.48"), contracts(1)),)
    assert q.asks == ((dollars("0.50"), contracts(1)),)
    assert q.reason["model"] == "linear"


def test_linear_short_inventory_raises_quotes() -> None:
    # inventory -3: both prices up by 0.015: bid 0.5050 -> rounds down to 0.50, ask 0.5250 -> rounds up to 0.53
    q = GUIDE.quote(ctx("0.50", position=-3))
    assert q.bids[0][0] == dollars("0.50") and q.asks[0][0] == dollars("0.53")


def test_linear_rounds_in_makers_favour_not_to_nearest() -> None:
    # raw bid 0.4937 -> 0.49 (down), raw ask 0.5137 -> 0.52 (up), where round() would give 0.51 for the ask
    q = GUIDE.quote(ctx("0.5037"))
    assert q.bids[0][0] == dollars("0.49") and q.asks[0][0] == dollars("0.52")


def test_post_only_steps_away_from_best_prices() -> None:
    # raw bid 0.49 would lock a best ask of 0.49: step one tick inside to 0.48; raw ask 0.51 vs best bid 0.52 -> 0.53
    q = GUIDE.quote(ctx("0.50", best_bid="0.40", best_ask="0.49"))
    assert q.bids[0][0] == dollars("0.48")
    q = GUIDE.quote(ctx("0.50", best_bid="0.52", best_ask="0.60"))
    assert q.asks[0][0] == dollars("0.53")
    # not post-only: the quote may cross on purpose
    q = GUIDE.quote(ctx("0.50", best_bid="0.40", best_ask="0.49", post_only=False))
    assert q.bids[0][0] == dollars("0.49")


def test_levels_spaced_by_ticks() -> None:
    lq = LinearQuoter(dollars("0.02"), Price(0), contracts(2), levels=3, level_spacing_ticks=2)
    q = lq.quote(ctx("0.50"))
    assert [p for p, _ in q.bids] == [dollars("0.49"), dollars("0.47"), dollars("0.45")]
    assert [p for p, _ in q.asks] == [dollars("0.51"), dollars("0.53"), dollars("0.55")]
    assert all(c == contracts(2) for _, c in q.bids + q.asks)


def test_levels_stop_at_grid_edge() -> None:
    lq = LinearQuoter(dollars("0.02"), Price(0), contracts(1), levels=5)
    q = lq.quote(ctx("0.025"))
    assert [p for p, _ in q.bids] == [dollars("0.01")]  # raw 0.015 -> 0.01; nothing below
    q = lq.quote(ctx("0.005"))
    assert q.bids == ()  # raw bid -0.005 is off the grid: that side is not quoted


def test_fee_floor_widens_a_too_tight_spread() -> None:
    # zero configured spread, 1 contract, maker 0.0175: the fee floor is (ceil100(2 * 0.004375) + 0.0001) / 2
    # = (0.0088 + 0.0001) / 2 = 0.00445 per side: raw bid 0.49555 -> 0.49, raw ask 0.50445 -> 0.51
    lq = LinearQuoter(Price(0), Price(0), contracts(1))
    assert fee_floor_half_spread(QM, 1_000_000, contracts(1)) == dollars("0.00445")
    q = lq.quote(ctx("0.50"))
    assert q.bids[0][0] == dollars("0.49") and q.asks[0][0] == dollars("0.51")
    assert "fee_floor" in q.reason["clipped"]  # type: ignore[operator]
    # maker-free series: no floor, and the zero spread is still split so bid < ask
    q = lq.quote(ctx("0.50", fee_type="quadratic"))
    assert q.bids[0][0] == dollars("0.49") and q.asks[0][0] == dollars("0.50")


def test_linear_max_position_drops_the_breaching_side() -> None:
    lq = LinearQuoter(dollars("0.02"), Price(0), contracts(2), levels=3, max_position=contracts(5))
    q = lq.quote(ctx("0.50", position=0))
    assert len(q.bids) == 2 and len(q.asks) == 2  # 2 x 2 = 4 <= 5; a third level would make 6
    q = lq.quote(ctx("0.50", position=4))
    assert q.bids == () and len(q.asks) == 3  # 4 + 2 > 5; selling 6 -> -2 is fine
    assert "max_position_bid" in q.reason["clipped"]  # type: ignore[operator]


# ------------------------------------------------------------------------------------------------- logit
def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_logit_hand_computed() -> None:
    gamma, k, sigma, cap = 0.5, 10.0, 0.02, 600.0
    lq = LogitQuoter(gamma, k, sigma, cap, max_position=contracts(10), size=contracts(1))
    fair, q, ttc = 0.60, 3.0, 1000.0
    # written out from the formula: tau = min(1000, 600) = 600; gamma sigma^2 tau = 0.5 * 0.0004 * 600 = 0.12
    x = math.log(0.60 / 0.40)  # 0.405465
    xr = x - q * 0.12  # 0.045465
    d = 0.12 / 2 + math.log(1 + gamma / k) / gamma  # 0.06 + 0.097580 = 0.157580
    bid, ask = _sig(xr - d), _sig(xr + d)  # 0.47200, 0.55059
    assert 0.4719 < bid < 0.4721 and 0.5505 < ask < 0.5507
    out = lq.quote(ctx("0.60", position=3, time_to_close_s=ttc))
    assert out.bids[0][0] == dollars("0.47")  # floor to the cent grid
    assert out.asks[0][0] == dollars("0.56")  # ceil to the cent grid
    # on a deci-cent grid the same raw prices snap to 0.472 and 0.551
    out = lq.quote(ctx("0.60", position=3, time_to_close_s=ttc, grid=GRIDS[2]))
    assert out.bids[0][0] == Price(math.floor(bid * 1000) * 1000)
    assert out.asks[0][0] == Price(math.ceil(ask * 1000) * 1000)
    assert fair == 0.60


def test_logit_tau_is_capped_and_zero_after_close() -> None:
    lq = LogitQuoter(0.5, 10.0, 0.02, 600.0, max_position=contracts(10), size=contracts(1))
    assert lq.tau_s(None) == 600.0 and lq.tau_s(5000.0) == 600.0 and lq.tau_s(-3.0) == 0.0 and lq.tau_s(60.0) == 60.0
    # with tau = 0 inventory has no effect: d = ln(1.05)/0.5 = 0.09758 around logit(0.5) = 0
    a = lq.quote(ctx("0.50", position=5, time_to_close_s=0.0))
    b = lq.quote(ctx("0.50", position=-5, time_to_close_s=0.0))
    assert a.bids == b.bids and a.asks == b.asks
    assert a.bids[0][0] == Price(math.floor(_sig(-0.0975803) * 100) * 10_000)


def test_logit_q_bound() -> None:
    lq = LogitQuoter(0.1, 50.0, 0.005, 3600.0, max_position=contracts(3), size=contracts(1))
    q = lq.quote(ctx("0.50", position=3))
    assert q.bids == () and q.asks  # buying one more would breach +3
    q = lq.quote(ctx("0.50", position=-3))
    assert q.asks == () and q.bids


def test_make_quoter() -> None:
    assert isinstance(make_quoter(QuoteParams()), LinearQuoter)
    assert isinstance(make_quoter(QuoteParams(model="logit")), LogitQuoter)
    with pytest.raises(ValueError):
        make_quoter(QuoteParams(model="logit", max_position=None))
    with pytest.raises(ValueError):
        make_quoter(QuoteParams(size=Count(0)))


# ------------------------------------------------------------------------------------------------ fair value
def test_fair_value_modes() -> None:
    b, a = dollars("0.40"), dollars("0.50")
    assert fair_value("mid", b, contracts(1), a, contracts(1)) == dollars("0.45")
    # microprice (0.40 * 10 + 0.50 * 30) / 40 = 0.475: the heavy bid pulls towards the ask
    assert fair_value("microprice", b, contracts(30), a, contracts(10)) == dollars("0.475")
    assert fair_value("microprice", b, None, a, contracts(10)) == dollars("0.45")  # no sizes -> mid
    assert fair_value("mid", b, contracts(1), None, None) is None  # one-sided book
    assert fair_value("mid", a, contracts(1), b, contracts(1)) is None  # crossed book
    assert fair_value("external", None, None, None, None, external=dollars("0.33")) == dollars("0.33")
    assert fair_value("external", b, contracts(1), a, contracts(1)) is None
    # rounding to the nearest micro: (0.01 * 1 + 0.02 * 2) / 3 = 0.016666.. -> 0.016667
    assert fair_value("microprice", dollars("0.01"), Count(200), dollars("0.02"), Count(100)) == Price(16_667)


# ------------------------------------------------------------------------------------------------ properties
@st.composite
def quoters(draw: st.DrawFn) -> Quoter:
    size = Count(draw(st.integers(1, 2_000)))
    levels = draw(st.integers(1, 3))
    spacing = draw(st.integers(1, 3))
    qmax = Count(draw(st.integers(0, 5_000)))
    if draw(st.booleans()):
        return LinearQuoter(
            Price(draw(st.integers(0, 100_000))),
            Price(draw(st.integers(0, 20_000))),
            size,
            levels,
            spacing,
            draw(st.one_of(st.none(), st.just(qmax))),
        )
    return LogitQuoter(
        draw(st.floats(0.01, 2.0)),
        draw(st.floats(0.5, 200.0)),
        draw(st.floats(0.0, 0.05)),
        draw(st.floats(0.0, 7200.0)),
        qmax,
        size,
        levels,
        spacing,
    )


@st.composite
def contexts(draw: st.DrawFn) -> QuoteContext:
    grid = draw(st.sampled_from(GRIDS))
    fair = Price(draw(st.integers(1, 999_999)))
    bb = draw(st.one_of(st.none(), st.sampled_from(grid.ticks)))
    ba = draw(st.one_of(st.none(), st.sampled_from(grid.ticks)))
    if bb is not None and ba is not None and bb >= ba:
        bb, ba = (None, ba) if draw(st.booleans()) else (bb, None)
    return QuoteContext(
        ticker="T",
        fair=fair,
        best_bid=None if bb is None else Price(bb),
        best_ask=None if ba is None else Price(ba),
        position=Count(draw(st.integers(-6_000, 6_000))),
        grid=grid,
        fee_type=draw(st.sampled_from(["quadratic", QM, "quadratic_with_combo_maker_fees", "flat"])),
        fee_multiplier_ppm=draw(st.integers(0, 3_000_000)),
        time_to_close_s=draw(st.one_of(st.none(), st.floats(-10.0, 10_000.0))),
        post_only=draw(st.booleans()),
    )


def _size(qr: Quoter) -> Count:
    return qr._shape.size  # type: ignore[attr-defined, no-any-return]


def _qmax(qr: Quoter) -> Count | None:
    return qr._shape.max_position  # type: ignore[attr-defined, no-any-return]


@settings(max_examples=300, deadline=None)
@given(qr=quoters(), c=contexts())
def test_quote_properties(qr: Quoter, c: QuoteContext) -> None:
    q = qr.quote(c)
    for p, n in q.bids + q.asks:
        assert c.grid.is_valid(p) and 0 < p < 1_000_000 and n > 0
    bids = [p for p, _ in q.bids]
    asks = [p for p, _ in q.asks]
    assert bids == sorted(bids, reverse=True) and len(set(bids)) == len(bids)
    assert asks == sorted(asks) and len(set(asks)) == len(asks)
    if bids and asks:
        bid, ask = bids[0], asks[0]
        assert bid < ask
        # fee-aware minimum, judged economically: a maker round trip of one level's size covers both maker fees
        size = _size(qr)
        earned = (ask - bid) * size // 100
        fees = trade_fee(c.fee_type, c.fee_multiplier_ppm, bid, size, is_taker=False) + trade_fee(
            c.fee_type, c.fee_multiplier_ppm, ask, size, is_taker=False
        )
        assert earned >= fees
        assert ask - bid >= 2 * fee_floor_half_spread(c.fee_type, c.fee_multiplier_ppm, size)
    if c.post_only:
        if c.best_ask is not None:
            assert all(p < c.best_ask for p in bids)
        if c.best_bid is not None:
            assert all(p > c.best_bid for p in asks)
    qmax = _qmax(qr)
    if qmax is not None:
        # if everything on a side filled, |position| would not pass Q (unless it already had, for the other side)
        if q.bids:
            assert c.position + sum(n for _, n in q.bids) <= qmax
        if q.asks:
            assert c.position - sum(n for _, n in q.asks) >= -qmax


@settings(max_examples=300, deadline=None)
@given(qr=quoters(), c=contexts(), extra=st.integers(1, 3_000))
def test_quotes_monotone_in_inventory(qr: Quoter, c: QuoteContext, extra: int) -> None:
    lo = qr.quote(c)
    hi_ctx = QuoteContext(
        c.ticker,
        c.fair,
        c.best_bid,
        c.best_ask,
        Count(c.position + extra),
        c.grid,
        c.fee_type,
        c.fee_multiplier_ppm,
        c.time_to_close_s,
        c.post_only,
    )
    hi = qr.quote(hi_ctx)
    assume(lo.bids or lo.asks)
    if lo.bids and hi.bids:
        assert hi.bids[0][0] <= lo.bids[0][0]
    if lo.asks and hi.asks:
        assert hi.asks[0][0] <= lo.asks[0][0]
