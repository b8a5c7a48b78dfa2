"""The replay command's reader when the replayer takes the fast path (docs/benchmarks.md, figure 4).

Why it exists: turning a journal line into a dict with ``orjson.loads`` was a quarter of a replayed record's cost,
and nine lines in ten are public book deltas whose fields the fast path reads once each. Here msgspec decodes such
a line straight into a :class:`DeltaRec` (in C, no dict built, the field types checked on the way), and lines are
read and decoded in batches, so there is no generator step per line. Everything else is read exactly as
:func:`kalshibot.replay.sources.iter_file` reads it (orjson to a dict, the same bad-line rules).

:class:`DeltaRec` is deliberately narrower than what ``orjson`` accepts (as ``net/decode.py``'s ``fast_delta``):
every field of a journal delta record declared with its exact type, no unknown field, integers within int64. A line
it refuses is not an error but "not mine": orjson decodes it and the replayer's general rules apply, as before. So
it only has to be right where it accepts, where the values are those orjson would have given (a duplicated key: the
last one, in both). Only :func:`kalshibot.replay.fastpath.feed_fast` understands a :class:`DeltaRec`; the
statistics (:class:`~kalshibot.replay.sources.ReadStats`) end the same, and the places of unreadable lines are
noted in the same order (a marker in the batch, noted when the merge moves past it, where ``iter_file`` would have
read it), so the printed summary is byte-identical (tests/test_replay_perf2_reader.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import orjson

from kalshibot.replay.sources import MARKET_TYPES, ReadStats, _open

_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]  # bounded: orjson's ints reach u64, msgspec's not
BATCH_BYTES = 1 << 16  # lines per batch: ~300; memory stays bounded by the number of files


class DeltaRec(msgspec.Struct, forbid_unknown_fields=True, gc=False, kw_only=True):
    """A ``book`` ``delta`` record (journal/models.py ``BookDeltaRecord``), fields in the writer's key order (msgspec
    tries the next declared field first)."""

    v: _Int | None = None
    type: Literal["book"]
    ts_ms: _Int
    session: str | None = None
    kind: Literal["delta"]
    ticker: str
    sid: _Int
    seq: _Int
    side: str
    price: str
    delta: str
    client_order_id: str | None = None
    exchange_ts_ms: _Int | None = None

    def as_record(self) -> dict[str, Any]:
        """The record as the general path wants it: only the fields a delta record's handling reads (the same
        values orjson gives; an absent optional field reads as None there too)."""
        return {
            "type": self.type,
            "ts_ms": self.ts_ms,
            "kind": self.kind,
            "ticker": self.ticker,
            "sid": self.sid,
            "seq": self.seq,
            "side": self.side,
            "price": self.price,
            "delta": self.delta,
            "client_order_id": self.client_order_id,
        }


_decode_delta = msgspec.json.Decoder(DeltaRec).decode
# what msgspec raises on a line it refuses (UnicodeDecodeError, a ValueError, on bad UTF-8)
_NOT_MINE = (msgspec.MsgspecError, ValueError, TypeError, RecursionError)


class _Bad:
    """An unreadable line, in its batch where it was: noted in ReadStats.bad_where when the reader moves past it."""

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where


Rec = DeltaRec | dict[str, Any]


def _batches(path: Path, stats: ReadStats) -> Iterator[list[Any]]:
    """Batches of a file's records (DeltaRec or dict) and :class:`_Bad` markers, in line order."""
    dec = _decode_delta
    loads = orjson.loads
    not_mine = _NOT_MINE
    bad_json = orjson.JSONDecodeError
    name = path.name
    n = 0
    # whether to try the DeltaRec decoder on this batch's lines: not after a batch that had no delta (a journal
    # file has none, and a refused try costs ~0.5 µs, more than the decode of a delta). Either way a delta is the
    # same record (a DeltaRec, or orjson's dict for the replayer's dict path: tests/test_replay_perf2_fastpath.py)
    try_rec = True
    with _open(path) as fh:
        while True:
            lines = fh.readlines(BATCH_BYTES)
            if not lines:
                return
            out: list[Any] = []
            append = out.append
            markers = 0  # records in the batch: len(out) - markers
            recs = 0  # DeltaRecs in the batch, or book records read as dicts (a market file: try again)
            for line in lines:
                n += 1
                if try_rec:
                    try:
                        append(dec(line))
                        recs += 1
                        continue
                    except not_mine:
                        pass
                try:
                    obj = loads(line)
                except bad_json:
                    if not line.strip():
                        continue
                    stats.bad_lines += 1  # a count: the same whenever it is added
                    append(_Bad(f"{name}:{n}"))
                    markers += 1
                    continue
                if type(obj) is not dict or "type" not in obj:
                    stats.bad_lines += 1
                    continue
                if obj["type"] == "book":
                    recs += 1
                append(obj)
            stats.lines += len(out) - markers
            stats.bytes_read += sum(map(len, lines))
            try_rec = recs > 0 or len(out) == markers  # (a batch of only bad or blank lines says nothing)
            yield out


def _note(stats: ReadStats, bad: _Bad) -> None:
    if len(stats.bad_where) < 5:
        stats.bad_where.append(bad.where)


def _one(path: Path, stats: ReadStats) -> Iterator[list[Rec]]:
    for batch in _batches(path, stats):
        if any(type(rec) is _Bad for rec in batch):
            chunk: list[Rec] = []
            for rec in batch:
                if type(rec) is _Bad:
                    _note(stats, rec)
                else:
                    chunk.append(rec)
            batch = chunk
        yield batch


class _Cursor:
    """One file's records for the two-way merge: the current record and its merge key (``2 * ts + rank``, as
    ``sources._merge2``), None at the end; markers met on the way are noted."""

    __slots__ = ("batch", "batches", "i", "key", "rec", "stats")

    def __init__(self, path: Path, stats: ReadStats) -> None:
        self.stats = stats
        self.batches = _batches(path, stats)
        self.batch: list[Any] = []
        self.i = 0
        self.rec: Rec | None = None
        self.key = 0

    def advance(self) -> bool:
        """Move to the next record; False at the end of the file."""
        market = MARKET_TYPES
        while True:
            i = self.i
            batch = self.batch
            while i >= len(batch):  # a batch may be empty (blank lines only)
                nxt = next(self.batches, None)
                if nxt is None:
                    self.rec = None
                    return False
                self.batch = batch = nxt
                i = 0
            rec = batch[i]
            self.i = i + 1
            if type(rec) is DeltaRec:
                self.rec = rec
                self.key = 2 * rec.ts_ms
                return True
            if type(rec) is _Bad:
                _note(self.stats, rec)
                continue
            self.rec = rec
            ts = rec.get("ts_ms")
            self.key = 2 * (ts if isinstance(ts, int) else 0) + (0 if rec.get("type") in market else 1)
            return True


def _two(a: Path, b: Path, stats: ReadStats) -> Iterator[list[Rec]]:
    """``sources._merge2`` over the two files' batches: the same order (ties to the first file), the same moments
    of reading a file on, relative to the records. The next record of a file is taken in line while it is a record
    (a delta or a dict) of the current batch; the cursor's advance() handles the rest (a batch end, a marker), and
    the merged records go out in chunks (a list per run between two such steps: no generator step per record)."""
    ca = _Cursor(a, stats)
    cb = _Cursor(b, stats)
    more_a = ca.advance()
    more_b = cb.advance()
    out: list[Rec] = []
    append = out.append
    if more_a and more_b:
        delta_rec = DeltaRec
        market = MARKET_TYPES
        ra: Any = ca.rec
        ka = ca.key
        ba = ca.batch
        ia = ca.i
        rb: Any = cb.rec
        kb = cb.key
        bb = cb.batch
        ib = cb.i
        while True:
            if ka <= kb:
                append(ra)
                if ia < len(ba) and type(r := ba[ia]) is delta_rec:
                    ia += 1
                    ra = r
                    ka = 2 * r.ts_ms
                elif ia < len(ba) and type(r) is dict:
                    # a dict record of the batch in line too (a journal file is all dicts): its key as
                    # _Cursor.advance computes it
                    ia += 1
                    ra = r
                    ts = r.get("ts_ms")
                    ka = 2 * (ts if isinstance(ts, int) else 0) + (0 if r.get("type") in market else 1)
                else:
                    yield out
                    out = []
                    append = out.append
                    ca.i = ia
                    if not ca.advance():
                        more_a = False
                        cb.i = ib
                        break
                    ra = ca.rec
                    ka = ca.key
                    ba = ca.batch
                    ia = ca.i
            else:
                append(rb)
                # the file's next deltas in line while they still go first (the market file's long runs between
                # two journal records): the same steps as going round this loop once per delta, with fewer loads
                nb = len(bb)
                while ib < nb and type(r := bb[ib]) is delta_rec:
                    ib += 1
                    kb = 2 * r.ts_ms
                    if ka <= kb:
                        rb = r  # the other file's record goes first
                        break
                    append(r)
                else:
                    if ib < nb and type(r := bb[ib]) is dict:  # a dict record in line, as on the other side
                        ib += 1
                        rb = r
                        ts = r.get("ts_ms")
                        kb = 2 * (ts if isinstance(ts, int) else 0) + (0 if r.get("type") in market else 1)
                        continue
                    yield out
                    out = []
                    append = out.append
                    cb.i = ib
                    if not cb.advance():
                        more_b = False
                        ca.i = ia
                        break
                    rb = cb.rec
                    kb = cb.key
                    bb = cb.batch
                    ib = cb.i
        ca.rec = ra
        cb.rec = rb
    # one file is done: the rest of the other, in its order (in chunks of bounded size)
    for c, more in ((ca, more_a), (cb, more_b)):
        if more:
            append(c.rec)  # type: ignore[arg-type]
            while c.advance():
                append(c.rec)  # type: ignore[arg-type]
                if len(out) >= 4096:
                    yield out
                    out = []
                    append = out.append
    if out:
        yield out


def merged_fast(paths: list[Path], stats: ReadStats) -> Iterator[list[Rec]] | None:
    """The records of one or two files (already expanded) in ``sources.merged`` order, deltas as
    :class:`DeltaRec`, in lists (chunks) of consecutive records; None for more files (the caller reads them with
    ``merged``)."""
    stats.files = len(paths)
    if len(paths) == 1:
        return _one(paths[0], stats)
    if len(paths) == 2:
        return _two(paths[0], paths[1], stats)
    return None
