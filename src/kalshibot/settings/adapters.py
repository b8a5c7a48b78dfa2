"""Settings -> the pure core's parameter objects, in one place (the daemon, replay and backtest share it).

Only core types whose shape is settled live here; the field names match one to one, so this is a typed copy.
"""

from __future__ import annotations

from kalshibot.core.fixed import Count, Money, Price
from kalshibot.core.quoter import QuoteParams
from kalshibot.core.risk import RiskLimits
from kalshibot.settings.models import QuotingSection, RiskSection


def quote_params(q: QuotingSection) -> QuoteParams:
    """``settings.quoting`` -> :class:`kalshibot.core.quoter.QuoteParams`."""
    return QuoteParams(
        model=q.model,
        fair_value=q.fair_value,
        spread=Price(q.spread),
        skew=Price(q.skew),
        gamma=q.gamma,
        k=q.k,
        sigma=q.sigma,
        tau_cap_s=q.tau_cap_s,
        max_position=Count(q.max_position),
        size=Count(q.size),
        levels=q.levels,
        level_spacing_ticks=q.level_spacing_ticks,
    )


def risk_limits(r: RiskSection) -> RiskLimits:
    """``settings.risk`` -> :class:`kalshibot.core.risk.RiskLimits` (every limit set: the config has no "off").

    ``order_group_contracts_limit`` (the exchange-side breaker) and ``trading_day_tz`` are the shells' business.
    """
    return RiskLimits(
        max_notional_per_market=Money(r.max_notional_per_market),
        daily_loss_kill=Money(r.daily_loss_kill),
        max_event_exposure=Money(r.max_event_exposure),
        max_account_exposure=Money(r.max_account_exposure),
        max_position=Count(r.max_position),
        max_order_size=Count(r.max_order_size),
        price_band=Price(r.price_band),
        reducing_fraction=r.reducing_fraction,
        reducing_hysteresis=r.reducing_hysteresis,
    )
