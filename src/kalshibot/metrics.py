"""Prometheus metrics of the daemon (served on the loopback control server's ``/metrics``).

One registry per daemon (not the global default) so tests can run several daemons in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.quotes = Counter("kalshibot_quote_updates", "desired quote changes (intents)", ["ticker"], registry=r)
        self.orders = Counter("kalshibot_orders", "order requests sent", ["kind"], registry=r)
        self.rejects = Counter("kalshibot_rejects", "order requests rejected", ["code"], registry=r)
        self.fills = Counter("kalshibot_fills", "fills", ["ticker"], registry=r)
        self.fill_contracts = Counter("kalshibot_fill_contracts", "contracts filled", ["ticker"], registry=r)
        self.position = Gauge("kalshibot_position_contracts", "signed position (+YES)", ["ticker"], registry=r)
        self.pnl = Gauge("kalshibot_daily_pnl_dollars", "daily PnL (realized + marked)", registry=r)
        self.at_stake = Gauge("kalshibot_money_at_stake_dollars", "money at stake", ["scope"], registry=r)
        self.risk_state = Gauge("kalshibot_risk_state", "risk state (0 ACTIVE, 1 REDUCING, 2 HALTED)", registry=r)
        self.feed_lag = Gauge("kalshibot_feed_age_seconds", "age of the newest market-data message", registry=r)
        self.reconnects = Counter("kalshibot_feed_reconnects", "WebSocket reconnects", registry=r)
        self.gaps = Counter("kalshibot_feed_gaps", "sequence gaps (resyncs)", registry=r)
        self.bad_frames = Counter("kalshibot_feed_bad_frames", "unparseable frames", registry=r)
        self.tokens = Counter("kalshibot_rate_tokens_spent", "rate-limit tokens spent", ["bucket"], registry=r)
        self.loop_lag = Gauge("kalshibot_loop_lag_seconds", "event-loop scheduling lag", registry=r)
        self.resting = Gauge("kalshibot_resting_orders", "our resting orders", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


RISK_STATE_CODE = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
