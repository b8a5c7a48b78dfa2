"""PaperExecutor: the executor seam without an exchange; journals like live with paper: true; replays exactly."""

from __future__ import annotations

import asyncio
import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest

from kalshibot.cli import main
from kalshibot.core import events as ev
from kalshibot.core.fixed import contracts, dollars
from kalshibot.journal.writer import Journal
from kalshibot.net.executor_support import MemoryJournal
from kalshibot.paper import PaperExecutor
from kalshibot.replay.cli import run_replay

T = "KX-TEST-A"
T0 = 1_767_000_000_000  # a fixed data time (no wall clock anywhere)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def place(coid: str, side: str, price: str, n: int, **kw: Any) -> ev.PlaceOrder:
    return ev.PlaceOrder(coid, T, side, dollars(price), contracts(n), intent_id=f"i-{coid}", book_seq=1, **kw)  # type: ignore[arg-type]


def snapshot(seq: int = 1) -> ev.BookSnapshot:
    return ev.BookSnapshot(T, 1, seq, ((dollars("0.40"), contracts(10)),), ((dollars("0.55"), contracts(10)),))


class Session:
    """A paper session whose market data and decisions go to a Journal (as the daemon wires it)."""

    def __init__(self, sink: Any, market: Any | None = None) -> None:
        self.clock = Clock()
        self.events: list[ev.Event] = []
        self.sink = sink
        self.market_sink = market
        self.px = PaperExecutor(self.events.append, sink, clock_ms=self.clock)

    def at(self, dt_ms: int) -> Session:
        self.clock.now = T0 + dt_ms
        return self

    def md(self, e: ev.BookSnapshot | ev.BookDelta | ev.TradePrint) -> None:
        if self.market_sink is not None:
            from kalshibot.journal.records import book_record, trade_record

            rec = (
                trade_record(e, "s1", self.clock.now)
                if isinstance(e, ev.TradePrint)
                else book_record(e, "s1", self.clock.now)
            )
            self.market_sink.write(rec)
        self.px.on_market_event(e)

    def submit(self, *actions: ev.Action) -> None:
        asyncio.run(self.px.submit(list(actions)))


def run_script(s: Session) -> None:
    s.at(1_000).md(snapshot())
    s.at(2_000).submit(place("kb-1", "bid", "0.40", 5), place("kb-2", "ask", "0.45", 5))
    s.at(3_000).md(ev.TradePrint(T, "t1", dollars("0.40"), contracts(8), "no"))
    s.at(3_001).md(ev.BookDelta(T, 1, 2, "yes", dollars("0.40"), -contracts(8)))
    s.at(4_000).md(ev.TradePrint(T, "t2", dollars("0.40"), contracts(4), "no"))
    s.at(4_001).md(ev.BookDelta(T, 1, 3, "yes", dollars("0.40"), -contracts(2)))
    s.at(5_000).md(ev.TradePrint(T, "t3", dollars("0.46"), contracts(3), "yes"))
    s.at(6_000).submit(ev.CancelOrder(None, "kb-1", T, "requote"))
    s.at(7_000).md(ev.BookDelta(T, 1, 4, "no", dollars("0.55"), -contracts(10)))


def test_paper_acks_fills_and_journals_paper_records() -> None:
    j = MemoryJournal()
    s = Session(j)
    run_script(s)
    acks = [e for e in s.events if isinstance(e, ev.OrderAck)]
    fills = [e for e in s.events if isinstance(e, ev.FillEvent)]
    assert [a.client_order_id for a in acks] == ["kb-1", "kb-2"]
    assert [(f.client_order_id, f.count, f.yes_price, f.paper, f.is_taker) for f in fills] == [
        ("kb-1", contracts(2), dollars("0.40"), True, False),
        ("kb-2", contracts(3), dollars("0.45"), True, False),
    ]
    assert fills[-1].post_position == -contracts(1)
    cancel = [e for e in s.events if isinstance(e, ev.CancelAck)]
    assert [(c.client_order_id, c.reduced_by) for c in cancel] == [("kb-1", contracts(3))]
    jf = j.of_type("fill")
    assert [r["paper"] for r in jf] == [True, True]
    assert [r["side"] for r in jf] == ["yes", "no"]
    assert jf[1]["price"] == "0.5500"  # the NO price paid
    assert [r["stage"] for r in j.of_type("cancel")] == ["sent", "acked"]
    assert len(j.of_type("order_sent")) == 2 and len(j.of_type("ack")) == 2


def test_paper_post_only_cross_is_cancelled_like_the_exchange() -> None:
    j = MemoryJournal()
    s = Session(j)
    s.at(1_000).md(snapshot())
    s.at(2_000).submit(place("kb-9", "bid", "0.46", 1))
    upd = [e for e in s.events if isinstance(e, ev.OrderUpdate)]
    assert [(u.status, u.reason) for u in upd] == [("canceled", "PostOnlyCrossCancel")]
    assert s.px.venue.resting() == []


def test_paper_observe_hides_real_fills_and_unknown_cancel_rejects() -> None:
    s = Session(MemoryJournal())
    real = ev.FillEvent("o", "t", T, "yes", "bid", dollars("0.5"), contracts(1), 0, False)
    assert s.px.observe(real) is False
    assert s.px.observe(ev.Timer()) is True
    s.submit(ev.CancelOrder(None, "nope", T))
    assert isinstance(s.events[-1], ev.OrderReject) and s.events[-1].request == "cancel"


def _journal_session(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    clock = Clock()
    jr = Journal(d, "s1", clock_ms=clock, background=False, compress=False, retention_days=None)
    s = Session(jr, jr)
    s.clock = clock
    s.px.clock_ms = clock
    jr.record("session", T0, phase="start", version="0", config_hash="x", environment="sim", universe=[T], paper=True)
    run_script(s)
    clock.now = T0 + 8_000
    jr.record("lifecycle", T0 + 8_000, ticker=T, event_type="determined", result="yes", settlement_value="1.0000")
    jr.close()
    return d


def test_replay_recorded_and_queue_reproduce_the_paper_session(tmp_path: Path) -> None:
    d = _journal_session(tmp_path)
    lines, res = run_replay([str(d)], "queue")
    rec, q = res.summaries["recorded"], res.summaries["queue"]
    assert rec.fills == q.fills == 2
    assert rec.contracts == q.contracts == contracts(5)
    assert rec.fees == q.fees == dollars("0.03")  # 0.01 + 0.02 after Kalshi's per-order rounding (API.md §8)
    # -0.80 (bought 2 YES at 0.40) + 1.35 (3 NO at 0.55 = sold YES at 0.45) - 1.00 (short 1 YES settles at 1) - fees
    assert rec.net_pnl == q.net_pnl == dollars("-0.48")
    assert rec.payout == 0  # long 1 NO, result yes: pays nothing
    assert rec.orders == {"amend": 0, "cancel": 1, "create": 2, "decrease": 0}
    assert rec.tokens == 2 * 10 + 2
    assert any(line.startswith("TOTAL") for line in lines)


def test_replay_is_deterministic_and_reads_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _journal_session(tmp_path)
    for f in sorted(d.glob("market-*.jsonl")):
        with f.open("rb") as src, gzip.open(str(f) + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        f.unlink()
    assert main(["replay", str(d)]) == 0
    first = capsys.readouterr().out
    assert main(["replay", str(d)]) == 0
    assert capsys.readouterr().out == first
    assert "fill model: queue" in first and "book 4" in first


def test_replay_touch_is_at_least_queue_and_conservative_at_most(tmp_path: Path) -> None:
    d = _journal_session(tmp_path)
    _, res = run_replay([str(d)], "queue", report_dir=str(tmp_path / "rep"))
    c = {k: v.contracts for k, v in res.summaries.items()}
    assert c["touch"] >= c["queue"] >= c["conservative"]
    assert c["conservative"] == contracts(3)  # only the print through our ask at 0.46
    for name in ("pnl", "inventory", "quotes", "markouts", "calibration"):
        png = tmp_path / "rep" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "![Markout curve](markouts.png)" in md
