"""Replay round 2 (docs/benchmarks.md figure 4): the msgspec batch reader and the inlined per-delta work compute
exactly what the code before them did.

References: ``ref_merged`` (heapq.merge over ``iter_file``, the original reader) and the reference replayer of
tests/test_replay_perf_fastpath.py (old per-delta bookkeeping, old analytics top of book), with the round-2
changes to shared code undone per instance here: the analytics PnL sample (one Fraction op per step, as before)
and the model lane's quote update through ``venue.resting()``. The new side is what ``kalshibot replay`` runs:
``feed_files`` on journal files. Random journals are written to files with unreadable, blank and non-object lines
and delta lines of odd shapes (each one the msgspec decoder must refuse or accept exactly as orjson reads it), and
read in tiny batches so batch ends fall everywhere.
"""

from __future__ import annotations

import types
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.replay import fastread
from kalshibot.replay.analytics import MARK_SAMPLE_MS, Analytics
from kalshibot.replay.fastpath import feed_files
from kalshibot.replay.fastread import DeltaRec, merged_fast
from kalshibot.replay.fillmodels import MarketFillState
from kalshibot.replay.replayer import ModelLane, Replayer
from kalshibot.replay.sources import MARKET_TYPES, ReadStats
from tests.test_replay_perf_fastpath import DATA, journals, ref_merged, reference_replayer, state_of


# ------------------------------------------------------------------------------------------- old shared code
def _ref_sample(self: Analytics, force: bool = False) -> None:
    if not force and self._last_sample_ms is not None and self.now_ms - self._last_sample_ms < MARK_SAMPLE_MS:
        return
    self._last_sample_ms = self.now_ms
    pnl = self.net_pnl()
    if self._peak is None or pnl > self._peak:
        self._peak = pnl
    self._max_dd = max(self._max_dd, self._peak - pnl)
    self.pnl_series.add(self.now_ms, int(pnl // 1))


def _ref_quotes(self: ModelLane, ticker: str, ts_ms: int) -> None:
    resting = self.venue.resting(ticker)
    bids = [o.price for o in resting if o.side == "bid"]
    asks = [o.price for o in resting if o.side == "ask"]
    self.analytics.on_quotes(ticker, max(bids) if bids else None, min(asks) if asks else None, ts_ms)


def ref2_replayer(models: list[str], series_cap: int = 2_000) -> Replayer:
    r = reference_replayer(models, series_cap)
    for lane in r.lanes.values():
        lane.analytics._sample = types.MethodType(_ref_sample, lane.analytics)  # type: ignore[method-assign]
        if isinstance(lane, ModelLane):
            lane._quotes = types.MethodType(_ref_quotes, lane)  # type: ignore[method-assign]
    return r


# --------------------------------------------------------------------------------------------- journal files
# lines the reader must get right: unreadable (counted, named in order), blank (skipped), not an object / no type
# (counted), and delta lines msgspec refuses (an unknown field, JSON numbers where strings go, a float or u64
# timestamp, a null ticker) or accepts (keys reordered, no optional fields, spaces) while orjson reads them all
BAD = [b'{"v":1,"type":"book","ts_ms":12', b"not json", b'{"a":"\xff"}']
ODD = [b"", b"   ", b"[1,2]", b'{"ts_ms":5}', b'"str"']


def _odd_delta(ts: int, variant: int) -> bytes:
    base: dict[str, Any] = {"v": 1, "type": "book", "ts_ms": ts, "session": "s", "kind": "delta", "ticker": "A"}
    base |= {"sid": 1, "seq": 7, "side": "yes", "price": "0.5000", "delta": "-1.00", "client_order_id": None}
    if variant == 0:
        base["extra"] = {"deep": [1, 2.5, None]}
    elif variant == 1:
        base["price"] = 0.5
    elif variant == 2:
        base["ts_ms"] = float(ts)
    elif variant == 3:
        base["ts_ms"] = 2**63 + ts
    elif variant == 4:
        base["ticker"] = None
    elif variant == 5:
        base = dict(reversed(base.items()))
    elif variant == 6:
        for k in ("v", "session", "client_order_id"):
            del base[k]
    elif variant == 7:
        return orjson.dumps(base).replace(b",", b" , ") + b"  "
    elif variant == 8:
        base["side"] = "maybe"
    elif variant == 9:
        base["client_order_id"] = 17
    return orjson.dumps(base)


@st.composite
def journal_files(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[int, bytes]]]:
    """Records (split into a market and a journal file by type) and extra lines to put in at given places."""
    records = draw(journals())
    extra = draw(
        st.lists(
            st.tuples(
                st.integers(0, 400),
                st.one_of(
                    st.sampled_from(BAD + ODD),
                    st.tuples(st.integers(999_000, 1_100_000), st.integers(0, 9)).map(lambda a: _odd_delta(*a)),
                ),
            ),
            max_size=8,
        )
    )
    return records, extra


def write_files(tmp: Path, records: list[dict[str, Any]], extra: list[tuple[int, bytes]], n: int) -> list[Path]:
    market = [orjson.dumps(r) for r in records if r.get("type") in MARKET_TYPES]
    journal = [orjson.dumps(r) for r in records if r.get("type") not in MARKET_TYPES]
    for i, (where, line) in enumerate(extra):
        lines = market if i % 2 else journal
        lines.insert(where % (len(lines) + 1), line)
    paths = [tmp / "journal-x.jsonl", tmp / "market-x.jsonl"]
    for p, lines in zip(paths, (journal, market), strict=True):
        # the last line sometimes without its newline (a file still being written)
        p.write_bytes(b"\n".join(lines) + (b"\n" if len(lines) % 3 else b""))
    return paths[:n]


def stats_of(st_: ReadStats) -> tuple[Any, ...]:
    return (st_.files, st_.lines, st_.bad_lines, st_.bytes_read, list(st_.bad_where))


def _plain(rec: Any) -> dict[str, Any]:
    """A DeltaRec as the dict orjson gives for its line (absent optional fields read as None in both)."""
    if type(rec) is DeltaRec:
        return msgspec.structs.asdict(rec)
    return rec  # type: ignore[no-any-return]


def _same_record(new: Any, old: dict[str, Any]) -> bool:
    if type(new) is not DeltaRec:
        return new == old
    d = msgspec.structs.asdict(new)
    return set(old) <= set(d) and all(old.get(k) == v for k, v in d.items())


def run_files(paths: list[Path], models: list[str], series_cap: int) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = Replayer(models, series_cap=series_cap)
    fs = ReadStats()
    assert feed_files(fast, paths, fs)
    ref = ref2_replayer(models, series_cap)
    rs = ReadStats()
    for rec in ref_merged(list(paths), rs):
        ref.feed(rec)
    a, b = state_of(fast), state_of(ref)
    a["summaries"] = fast.finish().summaries
    b["summaries"] = ref.finish().summaries
    a["after"], b["after"] = state_of(fast), state_of(ref)
    a["stats"], b["stats"] = stats_of(fs), stats_of(rs)
    return a, b


MODEL_SETS = (["queue", "recorded"], ["touch", "recorded"], ["conservative", "recorded"], ["recorded", "queue"])


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastread, "BATCH_BYTES", 300)  # a few lines per batch: batch ends everywhere


# --------------------------------------------------------------------------------------------------- tests
def test_demo_journal_files_equal_reference(small_batches: None) -> None:
    paths = sorted(DATA.glob("*.jsonl.gz"))  # gzip: the reader reads those in batches too
    assert len(paths) == 2
    for models in (*MODEL_SETS, ["queue", "touch", "conservative", "recorded"]):
        a, b = run_files(paths, models, 2_000)
        assert a == b
    assert a["summaries"]["queue"].fills > 0
    assert a["stats"][1] > 1_000


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(journal_files(), st.sampled_from(MODEL_SETS), st.sampled_from([3, 2_000]), st.sampled_from([1, 2, 2]))
def test_random_journal_files_equal_reference(
    tmp_path_factory: pytest.TempPathFactory,
    small_batches: None,
    data: tuple[list[dict[str, Any]], list[tuple[int, bytes]]],
    models: list[str],
    series_cap: int,
    n_files: int,
) -> None:
    paths = write_files(tmp_path_factory.mktemp("j"), *data, n_files)
    a, b = run_files(paths, models, series_cap)
    assert a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journal_files(), st.sampled_from([1, 2]), st.sampled_from([1, 300, 1 << 16]))
def test_reader_gives_the_records_and_stats_of_the_original(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    data: tuple[list[dict[str, Any]], list[tuple[int, bytes]]],
    n_files: int,
    batch: int,
) -> None:
    monkeypatch.setattr(fastread, "BATCH_BYTES", batch)
    paths = write_files(tmp_path_factory.mktemp("r"), *data, n_files)
    fs, rs = ReadStats(), ReadStats()
    chunks = merged_fast(paths, fs)
    assert chunks is not None
    new = [rec for chunk in chunks for rec in chunk]
    old = list(ref_merged(list(paths), rs))
    assert len(new) == len(old)
    assert all(_same_record(n, o) for n, o in zip(new, old, strict=True))
    assert stats_of(fs) == stats_of(rs)
    # a delta decoded by msgspec is one orjson reads with the same values; the others stay dicts
    assert all(type(n) is DeltaRec or isinstance(n, dict) for n in new)


def test_odd_delta_lines_are_refused_or_read_as_orjson_reads_them() -> None:
    for variant in range(10):
        line = _odd_delta(1_000_000, variant)
        obj = orjson.loads(line)
        try:
            rec = fastread._decode_delta(line)
        except fastread._NOT_MINE:
            assert variant in (0, 1, 2, 3, 4, 9)
            continue
        assert variant in (5, 6, 7, 8)
        assert set(obj) <= set(msgspec.structs.asdict(rec))
        assert all(obj.get(k) == v for k, v in _plain(rec).items())


def test_more_than_two_files_use_the_original_reader(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        p = tmp_path / f"market-{i}.jsonl"
        p.write_bytes(_odd_delta(1_000_000 + i, 6) + b"\n")
        paths.append(p)
    assert merged_fast(paths, ReadStats()) is None
    r = Replayer(["queue", "recorded"])
    stats = ReadStats()
    assert feed_files(r, paths, stats)
    assert r.counts == {"book": 3} and stats.lines == 3


def test_non_stock_replayer_is_not_fed_by_feed_files(tmp_path: Path) -> None:
    r = Replayer(["queue"])
    r.extra.append(lambda rec, ev, ts: None)
    assert not feed_files(r, [DATA], ReadStats())
    assert r.counts == {}


# ------------------------------------------------------------------------------------ shared-code rewrites
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["bid", "ask"]), st.integers(1, 4), st.integers(1, 9)),
        max_size=12,
    ),
    st.sampled_from(["bid", "ask"]),
    st.integers(1, 4),
)
def test_pending_at_equals_the_sum(pending: list[Any], side: Any, price: int) -> None:
    st_ = MarketFillState(pending=pending)
    assert st_.pending_at(side, price) == sum(n for _, s, p, n in pending if s == side and p == price)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2_500),  # time step
            st.sampled_from(["bid", "ask"]),
            st.integers(1, 99).map(lambda c: c * 10_000),
            st.integers(1, 500),
            st.integers(0, 3),  # fee
            st.sampled_from([None, 300_000, 500_000, 700_000]),  # a mark for the market, or none (at cost)
        ),
        min_size=1,
        max_size=25,
    )
)
def test_pnl_sample_equals_fraction_arithmetic(steps: list[Any]) -> None:
    new, ref = Analytics(), Analytics()
    ref._sample = types.MethodType(_ref_sample, ref)  # type: ignore[method-assign]
    ts = 0
    for dt, side, price, count, fee, mark in steps:
        ts += dt
        for a in (new, ref):
            a.market("X").mark = mark
            a.on_fill("X", side, price, count, fee, False, ts)
            a.advance(ts + 1_000)
    assert (new._peak, new._max_dd, new.pnl_series.points) == (ref._peak, ref._max_dd, ref.pnl_series.points)
    assert isinstance(new._max_dd, Fraction)
    assert new.finish(ts + 2_000) == ref.finish(ts + 2_000)
