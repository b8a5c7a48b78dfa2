"""Journal reader: torn tails, bad lines, gzip, directories, strict mode, fill keys."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kalshibot.errors import JournalError
from kalshibot.journal import records as r
from kalshibot.journal.reader import ReaderReport, fill_keys, iter_records, journal_files, read_records
from tests.test_journal_records import sample_records

RECS = [x for x in sample_records() if x.type in r.JOURNAL_TYPES]
GOOD = b"".join(r.dump_record(x) for x in RECS[:3])
ACK = r.dump_record(RECS[3])


def test_torn_last_line_without_newline_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "journal-2026-01-15.jsonl"
    p.write_bytes(GOOD + ACK[:25])
    recs, rep = read_records(p, strict=True)  # a torn tail never raises, even when strict
    assert recs == RECS[:3]
    assert rep.records == 3 and rep.bad_lines == []
    assert [(t.line, "not JSON" in t.error) for t in rep.torn] == [(4, True)]
    assert not rep.ok and "1 torn tail" in rep.summary()


def test_unparseable_last_line_with_newline_is_torn(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    p.write_bytes(GOOD + b"{garbage\n")
    _, rep = read_records(p)
    assert [t.line for t in rep.torn] == [4] and rep.bad_lines == []


def test_complete_last_line_without_newline_is_yielded(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    p.write_bytes(GOOD + ACK.rstrip(b"\n"))
    recs, rep = read_records(p)
    assert recs == RECS[:4] and rep.ok and rep.files[0].unterminated


def test_bad_lines_in_the_middle_are_counted_or_raised(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    invalid = ACK.replace(b'"order_id":"o-1"', b'"order_id":1')
    p.write_bytes(GOOD + b"{torn frag\n" + invalid + b"[1,2]\n\n" + ACK)
    recs, rep = read_records(p)
    assert recs == [*RECS[:3], RECS[3]]
    assert [b.line for b in rep.bad_lines] == [4, 5, 6]
    assert "not JSON" in rep.bad_lines[0].error
    assert rep.bad_lines[1].error.startswith("ack:") and "order_id" in rep.bad_lines[1].error
    assert "not a JSON object" in rep.bad_lines[2].error
    assert rep.torn == [] and rep.records == 4
    with pytest.raises(JournalError, match=r"j\.jsonl:4: not JSON"):
        list(iter_records(p, strict=True))


def test_validate_false_yields_dicts(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    p.write_bytes(GOOD + b'{"anything": 1}\n')
    rep = ReaderReport()
    out = list(iter_records(p, validate=False, report=rep))
    assert out[-1] == {"anything": 1} and out[0]["type"] == "session" and rep.ok


def test_generator_returns_report(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    p.write_bytes(GOOD)
    gen = iter_records(p)
    n = 0
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
            n += 1
    assert n == 3 and isinstance(stop.value.value, ReaderReport) and stop.value.value.records == 3


def test_gzip_and_directory_reading(tmp_path: Path) -> None:
    (tmp_path / "journal-2026-01-14.jsonl.gz").write_bytes(gzip.compress(GOOD))
    (tmp_path / "journal-2026-01-15.jsonl").write_bytes(ACK)
    (tmp_path / "market-2026-01-14.jsonl").write_bytes(r.dump_record(sample_records()[-1]))
    (tmp_path / "notes.jsonl").write_bytes(b"ignored: not a journal file name\n")
    (tmp_path / "state").mkdir()
    assert [p.name for p in journal_files(tmp_path)] == [
        "journal-2026-01-14.jsonl.gz",
        "journal-2026-01-15.jsonl",
        "market-2026-01-14.jsonl",
    ]
    recs, rep = read_records(tmp_path)
    assert recs == [*RECS[:4], sample_records()[-1]] and rep.ok and len(rep.files) == 3
    recs, _ = read_records(tmp_path, kind="market")
    assert [x.type for x in recs] == ["trade"]
    # a file named directly is read whatever its name; a list mixes files and directories
    recs, _ = read_records([tmp_path / "journal-2026-01-15.jsonl", tmp_path / "journal-2026-01-14.jsonl.gz"])
    assert recs == [RECS[3], *RECS[:3]]


def test_plain_file_shadows_its_gz_twin(tmp_path: Path) -> None:
    """A crash between writing the .gz and removing the original leaves both: read the records once."""
    (tmp_path / "journal-2026-01-14.jsonl").write_bytes(GOOD)
    (tmp_path / "journal-2026-01-14.jsonl.gz").write_bytes(gzip.compress(GOOD))
    recs, _ = read_records(tmp_path)
    assert recs == RECS[:3]


def test_truncated_gzip_is_a_torn_tail(tmp_path: Path) -> None:
    p = tmp_path / "journal-2026-01-14.jsonl.gz"
    big = GOOD * 200
    p.write_bytes(gzip.compress(big)[:-40])
    recs, rep = read_records(p)
    assert 0 < len(recs) <= 600 and rep.bad_lines == [] and len(rep.torn) == 1
    assert "compressed" in rep.torn[0].error


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no such"):
        read_records(tmp_path / "nope")


def test_fill_keys(tmp_path: Path) -> None:
    fill = next(x for x in RECS if x.type == "fill")
    (tmp_path / "journal-2026-01-15.jsonl").write_bytes(GOOD + r.dump_record(fill) + b"{torn")
    assert fill_keys(tmp_path) == {("o-1", "t-1")}
