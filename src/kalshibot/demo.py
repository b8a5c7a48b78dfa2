"""``kalshibot demo``: the daemon against the embedded simulator for a while, a graceful stop, and a summary.

It is ``kalshibot run`` with ``environment: sim`` forced: same engine, executor, feed and journal, over real
loopback HTTP and WebSocket. Exit 0 only when the stop left no order of ours resting. The daemon logs to stderr
here, so stdout carries only the banner and the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from kalshibot import logsetup
from kalshibot.config import load_settings
from kalshibot.core.fixed import format_count, format_money
from kalshibot.daemon import Daemon


def _summary(d: Daemon) -> list[str]:
    e = d.engine
    assert e is not None
    s: dict[str, Any] = d.summary
    now = d.clock_ms()
    journal = d.journal.journal_path if d.journal else "?"
    market_file = d.journal.market_path if d.journal else "?"
    two_sided = f"{(d.first_two_sided_ms - d.started_ms) / 1000:.1f} s after start" if d.first_two_sided_ms else "never"
    positions = {t: c for t, c in e.positions().items() if c}
    lines = [
        "",
        "kalshibot demo summary",
        f"  markets in universe : {len(d.tickers)}",
        f"  markets quoted      : {len(s['quoted'])}",
        f"  first two-sided     : {two_sided}",
        f"  orders placed       : {s['orders']}",
        f"  fills               : {s['fills']}",
        f"  fees paid           : ${format_money(s['fees'])}",
        f"  daily PnL (marked)  : ${format_money(e.daily_pnl(now))}",
        "  positions           : "
        + (", ".join(f"{t} {format_count(c)}" for t, c in sorted(positions.items())) or "flat"),
        f"  risk state          : {e.risk_state}",
        f"  risk events         : {len(s['risk_events'])}"
        + (f" ({'; '.join(s['risk_events'][:3])})" if s["risk_events"] else ""),
        f"  resting after stop  : {s.get('resting_after_stop', 'unknown')}",
        f"  journal             : {journal}",
        f"  market data         : {market_file}",
        f"  replay it           : kalshibot replay {journal} {market_file}",
        "",
    ]
    return lines


def demo_main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, require_secrets=False)
    if not settings.embedded_sim:
        settings = settings.model_copy(update={"environment": "sim", "sim_url": None})
    # the daemon's log goes to stderr here so stdout carries only the banner and the summary (`kalshibot demo
    # 2>/dev/null` shows just the result); `kalshibot run` logs to stdout for journald
    fmt = settings.logging.format
    logsetup.configure(settings.logging.level, "console" if fmt == "auto" and sys.stderr.isatty() else fmt, sys.stderr)
    daemon = Daemon(settings)
    print(f"kalshibot demo: trading the embedded simulator for {args.duration:g} s (Ctrl-C stops early)", flush=True)
    code = asyncio.run(daemon.run(duration_s=args.duration))
    print("\n".join(_summary(daemon)), flush=True)
    if daemon.summary.get("resting_after_stop") != 0:
        return code or 1
    return code
