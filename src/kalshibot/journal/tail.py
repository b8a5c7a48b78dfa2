"""``kalshibot tail [PATH] [--no-follow]``: the journal as a readable fixed-width table.

PATH is a journal file or a directory (default ``logs``); for a directory the newest ``journal-*.jsonl`` is shown
and, when following, a newer day's file is picked up as soon as it appears (after the current file is drained, so
nothing written just before midnight is skipped; the open descriptor keeps the old file readable even after the
daemon compresses it away). Lines are decoded leniently (a bad or torn line never stops the tail) and a partial last
line is held back until its newline arrives. Times are shown in the trading time zone (America/New_York), the
zone the files are named by.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo

import orjson

from kalshibot.errors import UsageError
from kalshibot.journal.reader import journal_files, open_journal_file

DEFAULT_DIR = "logs"
FOLLOW_BACKLOG = 20  # rows shown before following, like tail -f
POLL_S = 0.5
TZ = ZoneInfo("America/New_York")

_COLS = (("time", 12), ("type", 10), ("ticker", 28), ("side", 4), ("price", 8), ("count", 9))


def _fit(text: str, width: int) -> str:
    return text[: width - 1] + "~" if len(text) > width else text.ljust(width)


def header() -> str:
    return " ".join(_fit(name.upper(), w) for name, w in _COLS) + " DETAIL"


def _s(v: Any) -> str:
    return "-" if v is None else str(v)


def _detail(r: dict[str, Any]) -> str:
    t = r.get("type")
    g = r.get
    if t == "session":
        paper = " paper" if g("paper") else ""
        return f"{g('phase')} v{g('version')} env={g('environment')}{paper} markets={len(g('universe') or [])}"
    if t == "intent":
        top = f"top {_s(g('yes_bid'))}x{_s(g('yes_bid_size'))} / {_s(g('yes_ask'))}x{_s(g('yes_ask_size'))}"
        reason = g("reason") or {}
        why = " ".join(f"{k}={v}" for k, v in list(reason.items())[:4]) if isinstance(reason, dict) else ""
        return f"{top} seq {_s(g('book_seq'))} {why}".rstrip()
    if t == "order_sent":
        return f"{g('tif')} post_only={g('post_only')} coid={g('client_order_id')}"
    if t == "ack":
        return f"oid={g('order_id')} coid={g('client_order_id')}"
    if t == "reject":
        return f"{g('request')} {g('code')}: {g('message')} coid={g('client_order_id')}"
    if t == "amend":
        return f"{g('stage')} oid={g('order_id')} coid={g('new_client_order_id') or g('client_order_id')}"
    if t == "decrease":
        return f"{g('stage')} oid={g('order_id')} reduced_by={_s(g('reduced_by'))} left={_s(g('remaining_count'))}"
    if t == "cancel":
        return f"{g('stage')} oid={_s(g('order_id'))} {g('reason') or ''} reduced_by={_s(g('reduced_by'))}"
    if t == "fill":
        role = "taker" if g("is_taker") else "maker"
        paper = " paper" if g("paper") else ""
        return f"{g('book_side')} {role} fee {g('fee')} pos {g('position_after')} oid={g('order_id')}{paper}"
    if t == "risk":
        where = f"{g('scope')}:{g('scope_id')}" if g("scope_id") else str(g("scope"))
        return f"{g('state')} {g('limit')} {_s(g('value'))}/{_s(g('threshold'))} {where} {g('message') or ''}".rstrip()
    if t == "lifecycle":
        parts = [str(g("event_type"))] + [f"{k}={g(k)}" for k in ("status", "result", "close_ts_ms") if g(k)]
        return " ".join(parts)
    if t == "settlement":
        return f"result {g('result')} pos {g('position')} payout {g('payout')} fees {g('fees')}"
    if t == "book":
        if g("kind") == "snapshot":
            return f"snapshot seq {g('seq')} yes {len(g('yes') or [])} lvls no {len(g('no') or [])} lvls"
        return f"delta seq {g('seq')}"
    if t == "trade":
        return f"taker {g('taker_side')} id={g('trade_id')}"
    return ""


def format_row(r: dict[str, Any], tz: ZoneInfo = TZ) -> str:
    """One table row for a decoded record (tolerant of missing or odd fields)."""
    ts = r.get("ts_ms")
    when = (
        datetime.fromtimestamp(ts / 1000, tz=tz).strftime("%H:%M:%S.%f")[:12]
        if isinstance(ts, int) and not isinstance(ts, bool)
        else "?"
    )
    t = str(r.get("type", "?"))
    price = r.get("price") or r.get("yes_price") or r.get("settlement_value") or ""
    count = r.get("count") or r.get("delta") or ""
    values = (when, t, _s(r.get("ticker") or ""), _s(r.get("side") or ""), str(price), str(count))
    return " ".join(_fit(v, w) for v, (_, w) in zip(values, _COLS)) + " " + _detail(r)


def _row_for_line(line: bytes) -> str | None:
    text = line.strip()
    if not text:
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return f"{'?':<12} <unreadable line: {text[:60]!r}>"
    if not isinstance(obj, dict):
        return f"{'?':<12} <not a record>"
    return format_row(obj)


class Follower:
    """Reads complete new lines from the newest journal file of a directory (or from one file), switching to a
    newer day's file when one appears. ``poll()`` never blocks."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise UsageError(f"tail: no such file or directory: {self.path}")
        self.is_dir = self.path.is_dir()
        self.current: Path | None = None
        self._f: BinaryIO | None = None
        self._partial = b""

    def _newest(self) -> Path | None:
        if not self.is_dir:
            return self.path
        files = journal_files(self.path, "journal")
        return files[-1] if files else None

    def _open(self, p: Path) -> None:
        if self._f is not None:
            self._f.close()
        self._f = open_journal_file(p)
        self.current = p
        self._partial = b""

    def _drain(self) -> list[bytes]:
        assert self._f is not None
        data = self._f.read()
        if not data:
            return []
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when data ended with a newline
        return lines

    def poll(self) -> list[bytes]:
        """New complete lines since the last poll (all lines of the file on the first poll)."""
        out: list[bytes] = []
        if self._f is None:
            newest = self._newest()
            if newest is None:
                return out
            self._open(newest)
        out += self._drain()
        if self.is_dir:
            newest = self._newest()
            if newest is not None and self.current is not None and newest.name > self.current.name:
                self._open(newest)  # rotation: the old file is fully drained above
                out += self._drain()
        return out

    def rows(self) -> Iterator[str]:
        for line in self.poll():
            row = _row_for_line(line)
            if row is not None:
                yield row

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def run_tail(path: str, follow: bool, out: TextIO | None = None, poll_s: float = POLL_S) -> int:
    out = out if out is not None else sys.stdout
    fol = Follower(path)
    try:
        first = list(fol.rows())
        if fol.current is None and not follow:
            print(f"tail: no journal files in {path}", file=sys.stderr)
            return 1
        print(header(), file=out)
        for row in deque(first, maxlen=FOLLOW_BACKLOG) if follow else first:
            print(row, file=out)
        out.flush()
        while follow:
            time.sleep(poll_s)
            for row in fol.rows():
                print(row, file=out)
            out.flush()
    except BrokenPipeError:  # piped into head: not an error
        return 0
    finally:
        fol.close()
    return 0


def tail_main(args: argparse.Namespace) -> int:
    """Entry point of ``kalshibot tail`` (cli.HANDLERS["tail"])."""
    path = getattr(args, "path", None) or DEFAULT_DIR
    return run_tail(path, follow=not getattr(args, "no_follow", False))
