"""Golden test: a scripted, recorded-looking session through the engine produces exactly the expected outputs.

The script covers a first snapshot, acks, size-only deltas (silence), a one-tick wobble (intent only), a big move
(amends), a fill and its duplicate, a lost amend answer (lookup, market blocked, resolved), a sequence gap (cancels
and resync, then a fresh snapshot), a good-till-time refresh, an earlier close time (stop quoting before close),
determination and settlement. Expected outputs live in tests/data/engine_golden.jsonl; regenerate them after an
intended behaviour change with ``KALSHIBOT_REGEN_GOLDEN=1 pytest tests/test_engine_golden.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from kalshibot.core import events as ev
from kalshibot.core.engine import Engine
from kalshibot.core.fixed import Count, Money, contracts
from kalshibot.core.grid import PriceGrid
from tests.test_engine_support import CLOSE, SPEC, T0, T, Venue, config, delta, snap

GOLDEN = Path(__file__).parent / "data" / "engine_golden.jsonl"


def _plain(o: Any) -> Any:
    if isinstance(o, PriceGrid):
        return {"structure": o.structure, "ranges": o.to_wire()}
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        d = {f.name: _plain(getattr(o, f.name)) for f in dataclasses.fields(o)}
        return {"type": type(o).__name__, **d}
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_plain(v) for v in o]
    return o


def run_script() -> list[dict[str, Any]]:
    eng = Engine(config(), client_order_id_prefix="gold-", id_seed="s1")
    eng.set_trading_day("2026-01-01", T0 - 1000)
    v = Venue(eng)
    lines: list[dict[str, Any]] = []

    def feed(step: str, e: ev.Event, t: int, *, ack: bool = True) -> list[ev.Output]:
        out = eng.handle(e, t)
        lines.append({"step": step, "t": t - T0, "event": _plain(e), "out": _plain(out)})
        if ack:
            said = v.ack_all(out, t)
            if said:
                lines.append({"step": step + ":acks", "t": t - T0, "out": _plain(said)})
        return out

    feed("add", ev.MarketAdded(SPEC), T0)
    out = feed("snapshot", snap(1), T0 + 10)
    bid = next(a for a in out if isinstance(a, ev.PlaceOrder) and a.side == "bid")
    feed("size_only", delta(2, "no", "0.50", 7), T0 + 20)
    feed("wobble", delta(3, "yes", "0.41", 10), T0 + 30)
    feed("big_move", delta(4, "yes", "0.46", 10), T0 + 40)
    order = eng.orders.get(v.oids and bid.client_order_id)
    assert order is not None
    coid, oid = order.client_order_id, v.oid(bid.client_order_id)
    fill = ev.FillEvent(
        oid, "tr-1", T, "yes", "bid", order.price, contracts(2), Money(8_800), False, client_order_id=coid
    )
    feed("fill", fill, T0 + 50)
    feed("fill_duplicate", fill, T0 + 51)
    feed("trade", ev.TradePrint(T, "tr-1", order.price, contracts(2), "no"), T0 + 52)
    feed("amend_lost", ev.OutcomeUnknown(order.client_order_id, oid, "amend"), T0 + 60)
    feed("blocked_move", delta(5, "yes", "0.46", -10), T0 + 61)  # best bid gone: would requote
    upd = ev.OrderUpdate(
        oid, order.client_order_id, T, "resting", "bid", order.price, contracts(2), contracts(3), contracts(5)
    )
    feed("lookup_answer", upd, T0 + 70)
    feed("gap", ev.BookGap((T,), 1), T0 + 80)
    feed("resnapshot", snap(30, "0.44", "0.52"), T0 + 90)
    deadline = eng.next_deadline()
    assert deadline is not None
    feed("timer_refresh", ev.Timer(), deadline)
    feed("close_moved", ev.MarketLifecycle(T, "close_date_updated", close_ts_ms=T0 + 400_000), deadline + 1)
    stop = T0 + 400_000 - 300_000
    n = 0
    while (dl := eng.next_deadline()) is not None and dl <= stop:
        n += 1
        feed(f"timer_{n}" if dl < stop else "timer_stop", ev.Timer(), dl)
    assert lines[-1]["step"].startswith("timer_stop")
    feed("determined", ev.MarketLifecycle(T, "determined", result="no"), CLOSE)
    feed("settled", ev.MarketLifecycle(T, "settled"), CLOSE + 60_000)
    lines.append({"step": "final", "positions": _plain(eng.positions()), "open": len(eng.open_orders())})
    return lines


def test_engine_golden() -> None:
    got = run_script()
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in got)
    if os.environ.get("KALSHIBOT_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(text)
    expected = GOLDEN.read_text().splitlines()
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g == json.loads(e), g["step"]


def test_golden_script_is_deterministic() -> None:
    assert run_script() == run_script()


def test_golden_script_shape() -> None:
    """Independent of the recorded file: the facts the script is about hold."""
    by = {line["step"]: line for line in run_script()}
    assert by["size_only"]["out"] == []
    assert not [o for o in by["wobble"]["out"] if o["type"] in ("PlaceOrder", "AmendOrder", "CancelOrder")]
    assert {o["type"] for o in by["big_move"]["out"]} >= {"AmendOrder", "IntentNote"}
    assert by["fill_duplicate"]["out"] == []
    assert [o["type"] for o in by["amend_lost"]["out"]] == ["LookupOrder"]
    assert by["blocked_move"]["out"] == []
    assert {o["type"] for o in by["lookup_answer"]["out"]} >= {"AmendOrder"}  # unblocked: requotes at once
    assert "ResyncBook" in {o["type"] for o in by["gap"]["out"]}
    assert {o["type"] for o in by["timer_refresh"]["out"]} == {"AmendOrder"}
    assert {o["type"] for o in by["timer_stop"]["out"]} >= {"CancelOrder"}
    settled = [o for o in by["settled"]["out"] if o["type"] == "SettlementNote"]
    assert settled and settled[0]["position"] == Count(200) and settled[0]["payout"] == 0
    assert by["final"] == {"step": "final", "positions": {}, "open": 0}
