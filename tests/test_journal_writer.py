"""Journal writer: files, rotation at the trading day's boundary, gzip and retention, fsync policy, failures."""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from kalshibot.core.events import BookDelta, FillEvent
from kalshibot.core.fixed import Count, Money, contracts, dollars
from kalshibot.errors import JournalError
from kalshibot.journal import records as r
from kalshibot.journal.reader import read_records
from kalshibot.journal.writer import Journal, file_day, gzip_file
from tests.test_journal_records import sample_records

NY = ZoneInfo("America/New_York")
T = "KXTEST-26JAN15"


def ny_ms(y: int, mo: int, d: int, h: int = 12, mi: int = 0, s: int = 0, ms: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=NY).timestamp()) * 1000 + ms


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def ack(j: Journal, n: int = 1) -> None:
    j.record("ack", 1, client_order_id=f"c-{n}", order_id=f"o-{n}", exchange_ts_ms=None)


def lines(p: Path) -> list[dict[str, object]]:
    data = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
    return [orjson.loads(x) for x in data.splitlines() if x]


def test_records_land_in_the_days_files(tmp_path: Path) -> None:
    clock = Clock(ny_ms(2026, 1, 15))
    with Journal(tmp_path, "s1", clock_ms=clock, background=False) as j:
        assert j.journal_path == tmp_path / "journal-2026-01-15.jsonl"
        assert j.market_path == tmp_path / "market-2026-01-15.jsonl"
        for rec in sample_records():
            j.write(rec)
        j.record("intent", 5, intent_id="i", ticker=T, side="yes", price=dollars("0.44"), count=contracts(1),
                 yes_bid=None, yes_bid_size=None, yes_ask=None, yes_ask_size=None, book_seq=None)  # fmt: skip
        j.market("trade", 6, ticker=T, trade_id="t", yes_price="0.4400", count="1.00", taker_side="yes")
    journal = lines(tmp_path / "journal-2026-01-15.jsonl")
    market = lines(tmp_path / "market-2026-01-15.jsonl")
    assert {x["type"] for x in journal} == r.JOURNAL_TYPES
    assert {x["type"] for x in market} == r.MARKET_TYPES
    assert journal[-1]["price"] == "0.4400" and journal[-1]["session"] == "s1"
    # model -> line -> reader -> equal, for every record type
    recs, rep = read_records(tmp_path)
    assert rep.ok and rep.records == len(sample_records()) + 2
    assert recs[: len(journal) - 1] == [x for x in sample_records() if x.type in r.JOURNAL_TYPES]
    assert [x for x in recs if x.type in r.MARKET_TYPES][:-1] == [
        x for x in sample_records() if x.type in r.MARKET_TYPES
    ]


def test_type_routing_and_validation_errors(tmp_path: Path) -> None:
    with Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2026, 1, 15)), background=False) as j:
        with pytest.raises(JournalError, match="market"):
            j.record("book", 1, kind="delta")
        with pytest.raises(JournalError, match="not a market-data"):
            j.market("fill", 1)
        with pytest.raises(JournalError, match="price"):
            j.record("order_sent", 1, intent_id="i", client_order_id="c", ticker=T, side="bid", price="0.5",
                     count="1.00", tif="good_till_canceled", post_only=True, expiration_time=None)  # fmt: skip
    assert not (tmp_path / "journal-2026-01-15.jsonl").exists()  # nothing invalid was written
    with pytest.raises(JournalError, match="closed"):
        ack(j)
    j.close()  # idempotent


def test_rotation_at_new_york_midnight(tmp_path: Path) -> None:
    clock = Clock(ny_ms(2026, 1, 15, 23, 59, 59, 999))
    with Journal(tmp_path, "s", clock_ms=clock, background=False) as j:
        ack(j, 1)
        j.market("trade", 1, ticker=T, trade_id="t1", yes_price="0.4400", count="1.00", taker_side="yes")
        clock.now_ms += 1  # exactly midnight in New York (05:00 UTC): the next day
        ack(j, 2)
        assert j.journal_path.name == "journal-2026-01-16.jsonl"
        j.market("trade", 2, ticker=T, trade_id="t2", yes_price="0.4400", count="1.00", taker_side="yes")
    names = sorted(p.name for p in tmp_path.iterdir())
    # the previous day's files are compressed, the buffered trade went to the old day's market file
    assert names == [
        "journal-2026-01-15.jsonl.gz",
        "journal-2026-01-16.jsonl",
        "market-2026-01-15.jsonl.gz",
        "market-2026-01-16.jsonl",
    ]
    assert [x["client_order_id"] for x in lines(tmp_path / "journal-2026-01-15.jsonl.gz")] == ["c-1"]
    assert [x["trade_id"] for x in lines(tmp_path / "market-2026-01-15.jsonl.gz")] == ["t1"]
    assert [x["trade_id"] for x in lines(tmp_path / "market-2026-01-16.jsonl")] == ["t2"]
    recs, rep = read_records(tmp_path, kind="journal")
    assert rep.ok and [getattr(x, "client_order_id", None) for x in recs] == ["c-1", "c-2"]


def test_rotation_is_by_trading_day_not_utc(tmp_path: Path) -> None:
    # 2026-03-08 is the spring-forward day: local midnight of the 9th is 04:00 UTC, not 05:00
    clock = Clock(int(datetime(2026, 3, 9, 3, 59, 59, tzinfo=ZoneInfo("UTC")).timestamp()) * 1000)
    with Journal(tmp_path, "s", clock_ms=clock, background=False, compress=False) as j:
        ack(j)
        assert j.journal_path.name == "journal-2026-03-08.jsonl"
        clock.now_ms += 1000
        ack(j)
        assert j.journal_path.name == "journal-2026-03-09.jsonl"
        clock.now_ms -= 5000  # a clock stepping back does not rotate back
        ack(j)
        assert j.journal_path.name == "journal-2026-03-09.jsonl"
    with Journal(tmp_path / "utc", "s", clock_ms=Clock(ny_ms(2026, 1, 15, 22)), tz="UTC", background=False) as j:
        assert j.journal_path.name == "journal-2026-01-16.jsonl"  # 22:00 New York is already the 16th in UTC


def test_retention_and_compression_of_old_files(tmp_path: Path) -> None:
    for name in (
        "journal-2025-11-30.jsonl.gz",
        "journal-2025-12-15.jsonl",  # 31 days before 2026-01-15: past retention
        "journal-2025-12-16.jsonl",  # exactly 30 days: kept, compressed
        "market-2026-01-14.jsonl",
        "market-2026-01-10.jsonl",
        "journal-2026-01-12.jsonl.gz.tmp",  # a crash during compression
        "notes.txt",
        "journal-2026-13-01.jsonl",  # not a date: left alone
    ):
        (tmp_path / name).write_bytes(b'{"x":1}\n')
    (tmp_path / "market-2026-01-10.jsonl.gz").write_bytes(b"stale")  # half-done earlier: redone from the original
    j = Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2026, 1, 15)), retention_days=30)
    j.wait_maintenance()
    assert j.maintenance_errors == []
    j.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "journal-2025-12-16.jsonl.gz",
        "journal-2026-13-01.jsonl",
        "market-2026-01-10.jsonl.gz",
        "market-2026-01-14.jsonl.gz",
        "notes.txt",
    ]
    assert gzip.decompress((tmp_path / "market-2026-01-10.jsonl.gz").read_bytes()) == b'{"x":1}\n'
    # retention None keeps everything
    j = Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2030, 1, 1)), retention_days=None, background=False)
    j.close()
    assert (tmp_path / "journal-2025-12-16.jsonl.gz").exists()


def test_file_day() -> None:
    assert file_day("journal-2026-01-15.jsonl") == ("journal", datetime(2026, 1, 15).date(), False)
    assert file_day("market-2026-01-15.jsonl.gz") == ("market", datetime(2026, 1, 15).date(), True)
    assert file_day("journal-2026-02-30.jsonl") is None
    assert file_day("other.jsonl") is None


def test_gzip_file_is_crash_safe(tmp_path: Path) -> None:
    p = tmp_path / "journal-2026-01-01.jsonl"
    p.write_bytes(b"a\n" * 1000)
    gz = gzip_file(p)
    assert not p.exists() and not (tmp_path / "journal-2026-01-01.jsonl.gz.tmp").exists()
    assert gzip.decompress(gz.read_bytes()) == b"a\n" * 1000


def test_fsync_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    fill = r.fill_record(FillEvent("o", "t", T, "yes", "bid", dollars("0.5"), Count(100), Money(0), False), "s", 100)
    risk = r.make_record(
        "risk", 1, "s", state="HALTED", limit="daily_loss", value=None, threshold=None, scope="account"
    )
    delta = r.book_record(BookDelta(T, 1, 2, "yes", dollars("0.5"), Count(100)), "s", 1)
    j = Journal(tmp_path / "a", "s", clock_ms=Clock(ny_ms(2026, 1, 15)), background=False)
    for _ in range(3):
        ack(j)
        j.write(delta)
    assert synced == []  # neither ack nor market data is fsync-ed by default
    j.write(fill)
    j.write(risk)
    assert len(synced) == 2
    j.close()
    assert len(synced) >= 3  # close fsyncs the journal file
    synced.clear()
    j = Journal(tmp_path / "b", "s", fsync=["ack"], clock_ms=Clock(ny_ms(2026, 1, 15)), background=False)
    ack(j)
    j.write(fill)
    assert len(synced) == 1
    j.close()
    with pytest.raises(ValueError, match="unknown"):
        Journal(tmp_path / "c", "s", fsync={"nope"})


def test_market_data_is_buffered_and_flushed_per_second(tmp_path: Path) -> None:
    clock = Clock(ny_ms(2026, 1, 15))
    j = Journal(tmp_path, "s", clock_ms=clock, background=False)
    d = r.book_record(BookDelta(T, 1, 2, "yes", dollars("0.5"), Count(100)), "s", 1)
    j.write(d)
    j.write(d)
    assert not j.market_path.exists() or j.market_path.read_bytes() == b""
    clock.now_ms += 999
    j.write(d)
    assert not j.market_path.exists() or j.market_path.read_bytes() == b""
    clock.now_ms += 1  # the oldest buffered line is now 1 s old
    j.write(d)
    assert len(lines(j.market_path)) == 4
    j.write(d)
    j.flush()  # the daemon's once-a-second timer
    assert len(lines(j.market_path)) == 5
    j.write(d)
    j.close()
    assert len(lines(j.market_path)) == 6
    ack_path = j.journal_path
    assert not ack_path.exists()  # journal file opened lazily: nothing journaled, no file


def test_journal_lines_are_on_disk_when_record_returns(tmp_path: Path) -> None:
    j = Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2026, 1, 15)), background=False)
    ack(j, 1)
    assert [x["order_id"] for x in lines(j.journal_path)] == ["o-1"]
    j.close()


def test_write_failure_raises_journal_error(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    (tmp_path / "journal-2026-01-15.jsonl").symlink_to("/dev/full")
    (tmp_path / "market-2026-01-15.jsonl").symlink_to("/dev/full")
    j = Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2026, 1, 15)), background=False)
    with pytest.raises(JournalError, match="journal write failed") as ei:
        ack(j)
    assert isinstance(ei.value.__cause__, OSError) and ei.value.__cause__.errno == errno.ENOSPC
    j.write(r.book_record(BookDelta(T, 1, 2, "yes", dollars("0.5"), Count(100)), "s", 1))
    with pytest.raises(JournalError, match="market-data write failed"):
        j.flush()
    with contextlib.suppress(JournalError):  # fsync of /dev/full may fail too; closing must still finish
        j.close()
    with pytest.raises(JournalError, match="closed"):
        ack(j)


def test_torn_tail_is_terminated_before_appending(tmp_path: Path) -> None:
    p = tmp_path / "journal-2026-01-15.jsonl"
    good = r.dump_record(sample_records()[3])
    p.write_bytes(good + b'{"v":1,"type":"ack","ts_')  # a crash mid-line
    j = Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2026, 1, 15)), background=False)
    ack(j, 7)
    j.close()
    assert p.read_bytes().count(b"\n") == 3
    recs, rep = read_records(p)
    assert [getattr(x, "order_id", None) for x in recs] == ["o-1", "o-7"]
    assert [b.line for b in rep.bad_lines] == [2] and rep.torn == []


def test_failed_write_leaves_next_record_on_its_own_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    j = Journal(tmp_path, "s", clock_ms=Clock(ny_ms(2026, 1, 15)), background=False)
    ack(j, 1)
    real_write = os.write

    def half_then_fail(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data)[:10])
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(JournalError):
        ack(j, 2)
    monkeypatch.setattr(os, "write", real_write)
    ack(j, 3)
    j.close()
    recs, rep = read_records(j.journal_path)
    assert [getattr(x, "order_id", None) for x in recs] == ["o-1", "o-3"]
    assert len(rep.bad_lines) == 1
