"""Replay round 3 (issue 9, figure 4) against the general path:

* ``fastpath._trade``: a ``trade`` record fed without ``Replayer.feed``'s dispatch must leave every lane, venue and
  analytics exactly as ``feed`` does, fills included (trade-heavy journals where prints hit our resting orders),
  and fail the same way on a malformed print;
* ``Analytics._until``: the fast loop's one comparison must say "advance" exactly when the three tests it replaces
  do, after any sequence of fills, clock moves, samples and ``finish``;
* the reader's per-file switch (no DeltaRec try after a batch without a delta): the same records and statistics as
  the original reader, and deltas decoded as DeltaRec again once a batch shows book records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.replay import fastpath, fastread
from kalshibot.replay.analytics import _FLOOR, MARK_SAMPLE_MS, Analytics
from kalshibot.replay.fastread import DeltaRec, merged_fast
from kalshibot.replay.replayer import Replayer
from kalshibot.replay.sources import ReadStats
from tests.test_replay_perf2_fastpath import _same_record, stats_of
from tests.test_replay_perf_fastpath import ref_merged, state_of

PRICES = ["0.4600", "0.4800", "0.5000", "0.5200", "0.5400"]
SIZES = ["1.00", "2.00", "5.00", "10.00"]


@st.composite
def trade_journals(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Our orders resting around the book, deltas moving it, and many prints at and through our prices."""
    ts = 5_000_000
    recs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(3, 90))):
        ts += draw(st.sampled_from([0, 1, 30, 300, 900, 2_500, -5]))
        t = draw(st.sampled_from(["A", "B"]))
        base: dict[str, Any] = {"v": 1, "ts_ms": ts, "session": "s", "ticker": t}
        kind = draw(st.sampled_from(["trade"] * 4 + ["delta"] * 3 + ["sent", "snap", "cancel"]))
        if kind == "trade":
            rec = {
                **base,
                "type": "trade",
                "trade_id": f"t{i}",
                "yes_price": draw(st.sampled_from(PRICES)),
                "count": draw(st.sampled_from(SIZES)),
                "taker_side": draw(st.sampled_from(["yes", "no", "sideways"])),
            }
            odd = draw(st.integers(0, 12))  # shapes the trade shortcut leaves to feed
            if odd == 0:
                rec["ts_ms"] = float(ts)
            elif odd == 1:
                rec["ts_ms"] = None
            recs.append(rec)
        elif kind == "delta":
            recs.append(
                {
                    **base,
                    "type": "book",
                    "kind": "delta",
                    "sid": 1,
                    "seq": i,
                    "side": draw(st.sampled_from(["yes", "no"])),
                    "price": draw(st.sampled_from(PRICES)),
                    "delta": draw(st.sampled_from(["", "-"])) + draw(st.sampled_from(SIZES)),
                    "client_order_id": None,
                    "exchange_ts_ms": None,
                }
            )
        elif kind == "snap":
            lv = draw(st.lists(st.tuples(st.sampled_from(PRICES[:3]), st.sampled_from(SIZES)), max_size=3))
            nv = draw(st.lists(st.tuples(st.sampled_from(PRICES[:3]), st.sampled_from(SIZES)), max_size=3))
            recs.append({**base, "type": "book", "kind": "snapshot", "sid": 1, "seq": i, "yes": lv, "no": nv})
        elif kind == "sent":
            recs.append(
                {
                    **base,
                    "type": "order_sent",
                    "client_order_id": f"c{i}",
                    "side": draw(st.sampled_from(["bid", "ask"])),
                    "price": draw(st.sampled_from(PRICES)),
                    "count": draw(st.sampled_from(SIZES)),
                    "post_only": False,
                }
            )
        else:
            recs.append({**base, "type": "cancel", "client_order_id": f"c{max(0, i - 3)}"})
    return recs


def run_pair(records: list[dict[str, Any]], models: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = Replayer(models, series_cap=7)
    fast.feed_all(records)  # the fast path (deltas and trades)
    ref = Replayer(models, series_cap=7)
    for rec in records:
        ref.feed(rec)  # the general path, record by record
    a, b = state_of(fast), state_of(ref)
    a["summaries"], b["summaries"] = fast.finish().summaries, ref.finish().summaries
    return a, b


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trade_journals(),
    st.sampled_from([["queue", "recorded"], ["touch", "recorded"], ["conservative", "queue", "recorded"]]),
)
def test_trades_by_the_fast_path_equal_feed(records: list[dict[str, Any]], models: list[str]) -> None:
    a, b = run_pair(records, models)
    assert a == b


def test_the_trade_shortcut_is_taken_and_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property above would pass vacuously if trades never took the shortcut or never filled."""
    calls: list[int] = []
    real = fastpath._trade

    def counting(*args: Any) -> None:
        calls.append(1)
        real(*args)

    monkeypatch.setattr(fastpath, "_trade", counting)
    base = {"v": 1, "session": "s", "ticker": "A"}
    records = [
        {**base, "ts_ms": 1, "type": "book", "kind": "snapshot", "sid": 1, "seq": 1, "yes": [], "no": []},
        {**base, "ts_ms": 2, "type": "order_sent", "client_order_id": "c1", "side": "bid", "price": "0.5000"}
        | {"count": "5.00", "post_only": False},
        {**base, "ts_ms": 3, "type": "trade", "trade_id": "t1", "yes_price": "0.4800", "count": "2.00"}
        | {"taker_side": "no"},
        {**base, "ts_ms": 2_000, "type": "trade", "trade_id": "t2", "yes_price": "0.5000", "count": "9.00"}
        | {"taker_side": "no"},
    ]
    a, b = run_pair(records, ["queue", "recorded"])
    assert a == b
    assert len(calls) == 2
    assert a["summaries"]["queue"].fills > 0


def test_a_malformed_trade_fails_as_in_feed() -> None:
    rec = {"v": 1, "ts_ms": 7, "type": "trade", "ticker": "A", "trade_id": "t", "count": "1.00"}  # no yes_price
    fast, ref = Replayer(["queue", "recorded"]), Replayer(["queue", "recorded"])
    with pytest.raises(KeyError) as e1:
        fast.feed_all([rec])
    with pytest.raises(KeyError) as e2:
        ref.feed(rec)
    assert e1.value.args == e2.value.args
    assert state_of(fast) == state_of(ref)  # counted and clocked before the event was built, in both


# ------------------------------------------------------------------------------------------- Analytics._until
def needs_advance(a: Analytics, now: int) -> bool:
    """The fast loop's original three tests."""
    sampled = a._last_sample_ms
    return now > a._next_due or sampled is None or now - sampled >= MARK_SAMPLE_MS


analytics_op = st.one_of(
    st.tuples(st.just("fill"), st.integers(-3_000, 70_000), st.sampled_from(["bid", "ask"])),
    st.tuples(st.just("advance"), st.integers(-3_000, 70_000), st.just("")),
    st.tuples(st.just("top"), st.integers(-3_000, 70_000), st.just("")),
    st.tuples(st.just("finish"), st.integers(0, 70_000), st.just("")),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(analytics_op, max_size=40), horizons=st.sampled_from([(1_000,), (1_000, 5_000, 30_000), ()]))
def test_until_says_advance_exactly_when_the_three_tests_do(
    ops: list[tuple[str, int, str]], horizons: tuple[int, ...]
) -> None:
    a = Analytics(horizons)
    assert a._until == _FLOOR  # no sample yet: always advance
    for kind, ts, side in ops:
        if kind == "fill":
            a.market("X").mark = 500_000
            a.on_fill("X", side, 480_000, 100, 1, False, ts)  # type: ignore[arg-type]
        elif kind == "advance":
            a.advance(ts)
        elif kind == "top":
            a.on_book_top("X", ts, 480_000, 520_000)
        else:
            a.finish(ts)
        probes = {a.now_ms, ts, a._until, a._until + 1, a._next_due, a._next_due + 1}
        if a._last_sample_ms is not None:
            probes |= {a._last_sample_ms + MARK_SAMPLE_MS - 1, a._last_sample_ms + MARK_SAMPLE_MS}
        for now in probes:
            assert (now > a._until) == needs_advance(a, now), (kind, ts, now)


# ---------------------------------------------------------------------------------------- the reader's switch
def _delta_line(ts: int, seq: int) -> bytes:
    rec = {"v": 1, "type": "book", "ts_ms": ts, "session": "s", "kind": "delta", "ticker": "A", "sid": 1}
    rec |= {"seq": seq, "side": "yes", "price": "0.5000", "delta": "1.00", "client_order_id": None}
    return orjson.dumps(rec | {"exchange_ts_ms": None})


def _snap_line(ts: int) -> bytes:
    rec = {"v": 1, "type": "book", "ts_ms": ts, "kind": "snapshot", "ticker": "A", "sid": 1, "seq": 1}
    return orjson.dumps(rec | {"yes": [["0.4000", "3.00"]] * 8, "no": []})


def _intent_line(ts: int, n: int = 0) -> bytes:
    return orjson.dumps({"v": 1, "type": "intent", "ts_ms": ts, "ticker": "A", "note": "x" * 40, "n": n})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=st.lists(
        st.tuples(st.sampled_from(["delta", "snap", "intent", "blank", "bad"]), st.integers(1, 12)),
        min_size=1,
        max_size=8,
    ),
    batch=st.sampled_from([200, 700, 1 << 16]),
)
def test_reader_switch_gives_the_original_records_and_stats(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    layout: list[tuple[str, int]],
    batch: int,
) -> None:
    monkeypatch.setattr(fastread, "BATCH_BYTES", batch)
    lines: list[bytes] = []
    ts = 1_000
    for kind, n in layout:
        for _ in range(n):
            ts += 1
            make = {"delta": _delta_line, "snap": lambda t, _s: _snap_line(t), "intent": lambda t, _s: _intent_line(t)}
            if kind == "blank":
                lines.append(b"")
            elif kind == "bad":
                lines.append(b'{"type":"book","ts_ms":')
            else:
                lines.append(make[kind](ts, len(lines)))
    path = tmp_path_factory.mktemp("s") / "market-x.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    fs, rs = ReadStats(), ReadStats()
    chunks = merged_fast([path], fs)
    assert chunks is not None
    new = [rec for chunk in chunks for rec in chunk]
    old = list(ref_merged([path], rs))
    assert len(new) == len(old)
    assert all(_same_record(n, o) for n, o in zip(new, old, strict=True))
    assert stats_of(fs) == stats_of(rs)


def test_deltas_after_batches_without_one_are_decoded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal-like start (no delta for several batches), then snapshots, then deltas: once a batch shows book
    records the decoder is tried again, so the long run of deltas comes back as DeltaRec (the performance half of
    the switch; the records themselves are checked above)."""
    monkeypatch.setattr(fastread, "BATCH_BYTES", 300)
    lines = [_intent_line(i) for i in range(40)] + [_snap_line(100 + i) for i in range(10)]
    lines += [_delta_line(200 + i, i) for i in range(200)]
    path = tmp_path / "market-x.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    chunks = merged_fast([path], ReadStats())
    assert chunks is not None
    recs = [rec for chunk in chunks for rec in chunk]
    assert all(isinstance(r, dict) for r in recs[:40])  # no DeltaRec try after the first batch
    deltas = recs[50:]
    assert sum(type(r) is DeltaRec for r in deltas) >= len(deltas) - 5  # at most the first batch's worth as dicts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(
        st.lists(st.tuples(st.sampled_from(["delta"] * 5 + ["intent", "snap"]), st.integers(0, 3)), max_size=60),
        min_size=2,
        max_size=2,
    ),
    batch=st.sampled_from([150, 400, 1 << 16]),
)
def test_two_file_merge_runs_keep_the_heapq_order_on_ties(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    files: list[list[tuple[str, int]]],
    batch: int,
) -> None:
    """Both files full of deltas whose timestamps collide (the merge's run loop decides ties: the first file
    first), against heapq.merge over the original reader; every record is told apart by its seq."""
    monkeypatch.setattr(fastread, "BATCH_BYTES", batch)
    tmp = tmp_path_factory.mktemp("m")
    paths = []
    seq = 0
    for i, spec in enumerate(files):
        lines = []
        ts = 1_000
        for kind, step in spec:
            ts += step
            seq += 1
            lines.append(
                _delta_line(ts, seq)
                if kind == "delta"
                else _intent_line(ts, seq)
                if kind == "intent"
                else _snap_line(ts)
            )
        p = tmp / f"market-{i}.jsonl"
        p.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(p)
    fs, rs = ReadStats(), ReadStats()
    chunks = merged_fast(paths, fs)
    assert chunks is not None
    new = [rec for chunk in chunks for rec in chunk]
    old = list(ref_merged(list(paths), rs))
    assert len(new) == len(old)
    assert all(_same_record(n, o) for n, o in zip(new, old, strict=True))
    assert stats_of(fs) == stats_of(rs)
