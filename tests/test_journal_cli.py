"""`kalshibot journal validate` and `kalshibot tail`, through the real CLI entry point."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from kalshibot.cli import main
from kalshibot.journal import records as r
from kalshibot.journal.tail import Follower, format_row, header, run_tail
from tests.test_journal_records import sample_records

JOURNAL = [x for x in sample_records() if x.type in r.JOURNAL_TYPES]
GOOD = b"".join(r.dump_record(x) for x in JOURNAL)


def _ack(n: int, ts_ms: int = 1768485600000) -> bytes:
    return r.dump_record(
        r.make_record("ack", ts_ms, "s", client_order_id=f"c-{n}", order_id=f"o-{n}", exchange_ts_ms=None)
    )


def test_validate_good_files_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "journal-2026-01-15.jsonl").write_bytes(GOOD)
    (tmp_path / "journal-2026-01-14.jsonl.gz").write_bytes(gzip.compress(GOOD))
    (tmp_path / "market-2026-01-15.jsonl").write_bytes(
        b"".join(r.dump_record(x) for x in sample_records() if x.type in r.MARKET_TYPES)
    )
    assert main(["journal", "validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("OK  ") == 3 and f"{len(JOURNAL)} valid record(s)" in out
    assert out.rstrip().endswith(": OK")


def test_validate_bad_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_bytes(GOOD)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(GOOD + GOOD.splitlines(keepends=True)[1].replace(b'"0.5300"', b"0.53") + _ack(1))
    assert main(["journal", "validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"OK  {good}" in out and f"INVALID  {bad}" in out
    assert f"line {len(JOURNAL) + 1}: intent:" in out and "price" in out


def test_validate_torn_tail_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "journal-2026-01-15.jsonl"
    p.write_bytes(GOOD + _ack(2)[:30])
    assert main(["journal", "validate", str(p)]) == 1
    assert "torn last line" in capsys.readouterr().out


def test_validate_missing_path_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "validate", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["journal", "validate", str(tmp_path / "empty")]) == 2


def test_tail_no_follow_prints_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "journal-2026-01-14.jsonl.gz").write_bytes(gzip.compress(_ack(1)))
    (tmp_path / "journal-2026-01-15.jsonl").write_bytes(GOOD + b"{torn")
    assert main(["tail", str(tmp_path), "--no-follow"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == header() and out[0].startswith("TIME")
    assert len(out) == 1 + len(JOURNAL)  # newest file only; the torn partial line is held back
    fill = next(line for line in out if " fill " in line)
    # time in New York, type, ticker, side, price of the side bought, count, detail
    assert "KXHIGHNY-26JAN15-B41.5" in fill and " no " in fill and "0.5200" in fill and "2.50" in fill
    assert "maker" in fill and "pos -2.50" in fill
    intent = next(line for line in out if " intent " in line)
    assert "top 0.4300x125.00 / 0.4700x-" in intent


def test_tail_no_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail", str(tmp_path), "--no-follow"]) == 1
    assert main(["tail", str(tmp_path / "missing"), "--no-follow"]) == 2


def test_format_row_columns() -> None:
    row = format_row({"type": "ack", "ts_ms": 1768485600123, "order_id": "o-9", "client_order_id": "c-9"})
    assert row.startswith("09:00:00.123 ack")  # 14:00:00.123 UTC is 09:00 in New York (EST)
    assert "oid=o-9" in row
    assert format_row({"type": "weird"}).startswith("?")


def test_follower_handles_partial_lines_and_rotation(tmp_path: Path) -> None:
    day1 = tmp_path / "journal-2026-01-15.jsonl"
    day1.write_bytes(_ack(1) + _ack(2))
    fol = Follower(tmp_path)
    assert len(fol.poll()) == 2 and fol.current == day1
    assert fol.poll() == []
    line3 = _ack(3)
    with open(day1, "ab") as f:
        f.write(line3[:20])
    assert fol.poll() == []  # held back until its newline arrives
    with open(day1, "ab") as f:
        f.write(line3[20:] + _ack(4))
    assert [b'"c-3"' in x or b'"c-4"' in x for x in fol.poll()] == [True, True]
    # rotation: the old file gets a last line and the next day's file appears; nothing is skipped
    with open(day1, "ab") as f:
        f.write(_ack(5))
    (tmp_path / "journal-2026-01-16.jsonl").write_bytes(_ack(6))
    got = fol.poll()
    assert [b'"c-5"' in got[0], b'"c-6"' in got[1]] == [True, True] and len(got) == 2
    assert fol.current == tmp_path / "journal-2026-01-16.jsonl"
    fol.close()


def test_follower_waits_for_first_file(tmp_path: Path) -> None:
    fol = Follower(tmp_path)
    assert fol.poll() == [] and fol.current is None
    (tmp_path / "journal-2026-01-15.jsonl").write_bytes(_ack(1))
    assert len(fol.poll()) == 1
    fol.close()


def test_run_tail_single_file(tmp_path: Path) -> None:
    p = tmp_path / "any-name.jsonl"
    p.write_bytes(_ack(1) + b"not json\n")
    out = io.StringIO()
    assert run_tail(str(p), follow=False, out=out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "oid=o-1" in lines[1] and "unreadable" in lines[2]
