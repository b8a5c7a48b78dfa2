"""Streaming input for replay: journal and market files (plain or gzip, files or directories), merged by time.

Records are read lazily, one line at a time per file, and merged with :func:`heapq.merge` on
``(ts_ms, rank, file index, line number)`` (market data first at equal timestamps, then the journal; file order
and line order break the remaining ties), so memory stays bounded by the number of files and the order is
deterministic. One file is read straight through, and the usual pair (journal + market data) by a two-way merge
that gives exactly ``heapq.merge``'s order without its per-record key tuples. Replay reads the JSON as is (the
``journal validate`` command is the strict checker); a line that does not parse, typically a torn last line of a
file still being written, is counted and skipped.
"""

from __future__ import annotations

import gzip
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from kalshibot.core.events import BookDelta, BookSnapshot, TradePrint
from kalshibot.core.fixed import Count, Price, parse_count, parse_price
from kalshibot.errors import UsageError

MARKET_TYPES = frozenset({"book", "trade"})
# A journal repeats the same few hundred price and size strings; parsing each once is the biggest single cost of
# turning a record into an event. Only successful parses of ``str`` are stored, so bad input still raises every
# time; bounded so a pathological file cannot grow them without limit.
MEMO_MAX = 50_000
_PRICES: dict[str, Price] = {}
_COUNTS: dict[str, Count] = {}
_SIGNED: dict[str, Count] = {}


def _price(v: Any) -> Price:
    if type(v) is str:
        r = _PRICES.get(v)
        if r is None:
            r = parse_price(v)
            if len(_PRICES) < MEMO_MAX:
                _PRICES[v] = r
        return r
    return parse_price(v)


def _count(v: Any, memo: dict[str, Count] = _COUNTS, signed: bool = False) -> Count:
    if type(v) is str:
        r = memo.get(v)
        if r is None:
            r = parse_count(v, signed=signed)
            if len(memo) < MEMO_MAX:
                memo[v] = r
        return r
    return parse_count(v, signed=signed)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, directories expanded to their ``*.jsonl`` / ``*.jsonl.gz`` files in name order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.name.endswith((".jsonl", ".jsonl.gz")) and f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    return out


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


@dataclass(slots=True)
class ReadStats:
    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    bytes_read: int = 0
    bad_where: list[str] = field(default_factory=list)


def iter_file(path: Path, stats: ReadStats) -> Iterator[dict[str, Any]]:
    with _open(path) as fh:
        for n, line in enumerate(fh, 1):
            stats.bytes_read += len(line)
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                # a blank line never parses either: telling it from a bad one only here keeps strip() off the
                # per-line path
                if not line.strip():
                    continue
                stats.bad_lines += 1
                if len(stats.bad_where) < 5:
                    stats.bad_where.append(f"{path.name}:{n}")
                continue
            if not isinstance(obj, dict) or "type" not in obj:
                stats.bad_lines += 1
                continue
            stats.lines += 1
            yield obj


def merged(paths: Iterable[str | Path], stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """All records of all files in timestamp order (see the module docstring)."""
    st = stats if stats is not None else ReadStats()
    files = expand_paths(paths)
    st.files = len(files)

    if len(files) == 1:
        yield from iter_file(files[0], st)
        return
    if len(files) == 2:
        yield from _merge2(iter_file(files[0], st), iter_file(files[1], st))
        return

    def keyed(i: int, path: Path) -> Iterator[tuple[int, int, int, int, dict[str, Any]]]:
        for n, rec in enumerate(iter_file(path, st)):
            ts = rec.get("ts_ms")
            yield (ts if isinstance(ts, int) else 0, 0 if rec.get("type") in MARKET_TYPES else 1, i, n, rec)

    for *_, rec in heapq.merge(*(keyed(i, p) for i, p in enumerate(files))):
        yield rec


def _merge2(a: Iterator[dict[str, Any]], b: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``heapq.merge`` of two files' records on ``(ts_ms, rank, file index, line)`` without a key tuple and a
    generator per record (the usual journal + market file pair). Same records, same order, and each file is read
    at the same moments (both primed first, then a file's next record right after one of its records is yielded),
    so the read statistics change at the same points too. ``2 * ts + rank`` orders like ``(ts, rank)``; at equal
    keys the first file goes first, as its index is lower."""
    market = MARKET_TYPES
    ra = next(a, None)
    rb = next(b, None)
    if ra is not None and rb is not None:
        ts = ra.get("ts_ms")
        ka = 2 * (ts if isinstance(ts, int) else 0) + (0 if ra.get("type") in market else 1)
        ts = rb.get("ts_ms")
        kb = 2 * (ts if isinstance(ts, int) else 0) + (0 if rb.get("type") in market else 1)
        while True:
            if ka <= kb:
                yield ra
                ra = next(a, None)
                if ra is None:
                    break
                ts = ra.get("ts_ms")
                ka = 2 * (ts if isinstance(ts, int) else 0) + (0 if ra.get("type") in market else 1)
            else:
                yield rb
                rb = next(b, None)
                if rb is None:
                    break
                ts = rb.get("ts_ms")
                kb = 2 * (ts if isinstance(ts, int) else 0) + (0 if rb.get("type") in market else 1)
    # one file is done: the rest of the other, in its order
    if ra is not None:
        yield ra
        yield from a
    elif rb is not None:
        yield rb
        yield from b


def market_event_of(rec: Mapping[str, Any]) -> BookSnapshot | BookDelta | TradePrint | None:
    """A ``book``/``trade`` record (journal/records.py shapes; NO levels in NO-leg prices) as a core event."""
    ts = int(rec.get("ts_ms") or 0)
    t = rec.get("type")
    if t == "trade":
        return TradePrint(
            ticker=str(rec["ticker"]),
            trade_id=str(rec["trade_id"]),
            yes_price=_price(rec["yes_price"]),
            count=_count(rec["count"]),
            taker_outcome="no" if rec.get("taker_side") == "no" else "yes",
            ts_ms=ts,
        )
    if t != "book":
        return None
    if rec.get("kind") == "snapshot":
        return BookSnapshot(
            ticker=str(rec["ticker"]),
            sid=int(rec.get("sid") or 0),
            seq=int(rec.get("seq") or 0),
            yes=tuple((_price(p), _count(c)) for p, c in rec.get("yes") or ()),
            no=tuple((_price(p), _count(c)) for p, c in rec.get("no") or ()),
            ts_ms=ts,
        )
    coid = rec.get("client_order_id")
    return BookDelta(
        ticker=str(rec["ticker"]),
        sid=int(rec.get("sid") or 0),
        seq=int(rec.get("seq") or 0),
        side="no" if rec.get("side") == "no" else "yes",
        price=_price(rec["price"]),
        delta=_count(rec["delta"], _SIGNED, True),
        client_order_id=coid if isinstance(coid, str) else None,
        ts_ms=ts,
    )
