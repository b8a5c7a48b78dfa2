"""The guide's written hypothesis and its invalidation rule, judged against the data so far.

Theory of operation
-------------------
The config's ``hypothesis`` section (``statement``, ``metric``, ``threshold`` in micro-dollars, ``min_fills``) says
what the strategy claims and how to invalidate it, e.g. "net PnL per contract after fees stays above 0 over at least
100 fills". Given a replay or backtest :class:`~kalshibot.replay.analytics.Summary` the verdict is one of:

* ``cannot yet judge``: fewer fills than ``min_fills`` (too little data to say anything);
* ``supports``: the metric is strictly above the threshold;
* ``invalidates``: it is at or below the threshold.

Metrics: ``net_pnl_per_contract`` (net PnL after fees / contracts filled), ``net_pnl``, and
``markout_per_contract`` (average markout at :data:`MARKOUT_HORIZON_MS`, negative = adverse selection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from kalshibot.core.fixed import format_money
from kalshibot.replay.analytics import Summary

MARKOUT_HORIZON_MS = 60_000
Verdict = Literal["supports", "invalidates", "cannot yet judge"]


class HypothesisLike(Protocol):
    @property
    def statement(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def threshold(self) -> int: ...
    @property
    def min_fills(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Hypothesis:
    statement: str
    metric: str = "net_pnl_per_contract"
    threshold: int = 0
    min_fills: int = 100


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    value: int | None
    fills: int
    line: str


def metric_value(metric: str, s: Summary) -> int | None:
    if metric == "net_pnl_per_contract":
        return s.pnl_per_contract()
    if metric == "net_pnl":
        return s.net_pnl
    if metric == "markout_per_contract":
        return s.markout_per_contract(MARKOUT_HORIZON_MS)
    raise ValueError(f"unknown hypothesis metric {metric!r}")


def judge(h: HypothesisLike, s: Summary) -> Judgement:
    value = metric_value(h.metric, s)
    cond = f"{h.metric} > {format_money(h.threshold)} over >= {h.min_fills} fills"
    if s.fills < h.min_fills or value is None:
        v: Verdict = "cannot yet judge"
        why = f"{s.fills} of {h.min_fills} fills so far"
    elif value > h.threshold:
        v = "supports"
        why = f"{h.metric} = {format_money(value)} over {s.fills} fills"
    else:
        v = "invalidates"
        why = f"{h.metric} = {format_money(value)} over {s.fills} fills"
    return Judgement(v, value, s.fills, f'hypothesis: "{h.statement}" ({cond}): {v.upper()} ({why})')
