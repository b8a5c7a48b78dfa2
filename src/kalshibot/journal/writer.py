"""The journal writer: ``journal-YYYY-MM-DD.jsonl`` and ``market-YYYY-MM-DD.jsonl`` under one directory.

Theory of operation
-------------------
Every record is validated through its model (:mod:`.records`) and written as one orjson line. The two files have
different durability needs (CONTRACTS.md "Files under logs/"):

* the journal (decisions and execution, the audit trail) is written with one ``os.write`` per record on an
  ``O_APPEND`` descriptor, so a record is in the kernel's page cache when ``record()`` returns and survives a crash
  of the process; record types in ``fsync`` (default ``fill`` and ``risk``) are also ``fsync``-ed, so they survive
  a crash of the machine;
* market data (book snapshots/deltas, trades) is high volume and replaceable, so it is buffered in memory and
  written when the buffer is older than ``market_flush_ms`` (default 1 s) or larger than 64 KiB, on rotation, on
  :meth:`Journal.flush` (the daemon calls it from its once-a-second timer, so data never waits longer than that
  even when the market goes quiet) and on :meth:`Journal.close`. Never fsync-ed.

Files are named by the *trading day* of the injected wall clock (``clock_ms``) in the configured time zone
(default America/New_York, the risk day of CONTRACTS.md). The first write at or after the next local midnight
rotates: the market buffer goes to the old file, both files are closed, new ones open lazily. Rotation (and the
constructor) then runs maintenance: files of older days are gzip-compressed (to ``.gz.tmp``, then renamed, then the
original removed, so a crash never leaves a half-written ``.gz`` under the final name) and files older than
``retention_days`` days are deleted. Maintenance runs on a background thread by default so a large market file does
not stall the event loop at midnight; :meth:`Journal.close` waits for it.

A crash can leave a torn last line. Reopening a file whose last byte is not a newline first writes one, so the torn
fragment stays a single bad line (reported by the reader) instead of corrupting the next record. Any ``OSError``
(disk full, permissions, a vanished directory) raises :class:`~kalshibot.errors.JournalError` chained to the cause,
so the daemon can halt rather than trade without an audit trail.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from kalshibot.errors import JournalError
from kalshibot.journal.models import JOURNAL_TYPES, MARKET_TYPES, AnyRecord, dump_record, make_record

log = structlog.get_logger(__name__)

FILE_RE = re.compile(r"^(journal|market)-(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?$")
DEFAULT_FSYNC = frozenset({"fill", "risk"})
MARKET_BUFFER_BYTES = 1 << 16


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def file_day(name: str) -> tuple[str, date, bool] | None:
    """``("journal"|"market", day, gzipped)`` for a journal file name, else None."""
    m = FILE_RE.match(name)
    if m is None:
        return None
    try:
        day = date.fromisoformat(m.group(2))
    except ValueError:
        return None
    return m.group(1), day, m.group(3) is not None


class _File:
    """One append-only file descriptor, opened lazily, with torn-line repair."""

    __slots__ = ("fd", "need_newline", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.need_newline = False

    def open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size > 0:
                with open(self.path, "rb") as f:
                    f.seek(size - 1)
                    # a torn last line from a crash: terminate it so the next record starts on its own line
                    self.need_newline = f.read(1) != b"\n"
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        return fd

    def write(self, data: bytes) -> None:
        fd = self.fd if self.fd is not None else self.open()
        if self.need_newline:
            data = b"\n" + data
            self.need_newline = False
        view = memoryview(data)
        try:
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError:
            # part of the line may be on disk: the next write starts on a fresh line
            self.need_newline = True
            raise

    def fsync(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


class Journal:
    """Append-only JSONL journal and market-data files in ``directory`` (see the module docstring).

    ``record(type, ts_ms, **fields)`` writes a journal record, ``market(type, ts_ms, **fields)`` a market-data
    record, ``write(rec)`` a record built by a converter (routed by its type). Price/count/money fields given as
    fixed-point ints are formatted (``price=560_000`` -> ``"0.5600"``). Not thread-safe: one owner (the daemon's
    event loop)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        session_id: str,
        *,
        fsync: Iterable[str] = DEFAULT_FSYNC,
        retention_days: int | None = 30,
        tz: str = "America/New_York",
        clock_ms: Callable[[], int] = wall_clock_ms,
        market_flush_ms: int = 1000,
        compress: bool = True,
        background: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.session_id = session_id
        self.fsync_types = frozenset(fsync)
        unknown = self.fsync_types - JOURNAL_TYPES - MARKET_TYPES
        if unknown:
            raise ValueError(f"unknown record types in fsync: {sorted(unknown)}")
        if retention_days is not None and retention_days < 0:
            raise ValueError("retention_days must be >= 0")
        self.retention_days = retention_days
        self.tz = ZoneInfo(tz)
        self._clock_ms = clock_ms
        self._market_flush_ms = market_flush_ms
        self._compress = compress
        self._background = background
        self._closed = False
        self._maint: threading.Thread | None = None
        self.maintenance_errors: list[str] = []
        self._mbuf = bytearray()
        self._mbuf_since_ms = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalError(f"cannot create journal directory {self.directory}: {e}") from e
        self._set_day(self._clock_ms())
        self._start_maintenance()

    # ------------------------------------------------------------------------------------------------ naming
    def _set_day(self, now_ms: int) -> None:
        local = datetime.fromtimestamp(now_ms / 1000, tz=self.tz)
        self.day: date = local.date()
        nxt = datetime.combine(self.day + timedelta(days=1), dt_time(0), tzinfo=self.tz)
        self._next_boundary_ms = int(nxt.timestamp()) * 1000
        iso = self.day.isoformat()
        self._journal = _File(self.directory / f"journal-{iso}.jsonl")
        self._market = _File(self.directory / f"market-{iso}.jsonl")

    @property
    def journal_path(self) -> Path:
        return self._journal.path

    @property
    def market_path(self) -> Path:
        return self._market.path

    def _maybe_rotate(self, now_ms: int) -> None:
        # a clock stepping back across midnight does not rotate back: files only move forward
        if now_ms >= self._next_boundary_ms:
            self._flush_market()
            self._close_files()
            self._set_day(now_ms)
            self._start_maintenance()

    # ------------------------------------------------------------------------------------------------ writing
    def record(self, type: str, ts_ms: int, **fields: Any) -> None:
        """Validate and write one journal record (flushed; fsync-ed when its type is configured)."""
        if type not in JOURNAL_TYPES:
            raise JournalError(f"{type!r} is not a journal record type (market data goes through market())")
        self._write_journal(dump_record(make_record(type, ts_ms, self.session_id, **fields)), type)

    def market(self, type: str, ts_ms: int, **fields: Any) -> None:
        """Validate and buffer one market-data record (``book`` or ``trade``)."""
        if type not in MARKET_TYPES:
            raise JournalError(f"{type!r} is not a market-data record type")
        self._write_market(dump_record(make_record(type, ts_ms, self.session_id, **fields)))

    def write(self, rec: AnyRecord) -> None:
        """Write a record built elsewhere (e.g. by a converter in :mod:`.records`), routed by its type."""
        if rec.type in MARKET_TYPES:
            self._write_market(dump_record(rec))
        else:
            self._write_journal(dump_record(rec), rec.type)

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("journal is closed")

    def _write_journal(self, line: bytes, type: str) -> None:
        self._check_open()
        self._maybe_rotate(self._clock_ms())
        f = self._journal
        try:
            f.write(line)
            if type in self.fsync_types:
                f.fsync()
        except OSError as e:
            raise JournalError(f"journal write failed: {f.path}: {e}") from e

    def _write_market(self, line: bytes) -> None:
        self._check_open()
        now = self._clock_ms()
        self._maybe_rotate(now)
        if not self._mbuf:
            self._mbuf_since_ms = now
        self._mbuf += line
        if len(self._mbuf) >= MARKET_BUFFER_BYTES or now - self._mbuf_since_ms >= self._market_flush_ms:
            self._flush_market()

    def _flush_market(self) -> None:
        if not self._mbuf:
            return
        data = bytes(self._mbuf)
        self._mbuf.clear()
        try:
            self._market.write(data)
        except OSError as e:
            raise JournalError(f"market-data write failed: {self._market.path}: {e}") from e

    def flush(self) -> None:
        """Write buffered market data now (call at least once a second) and rotate if the day has changed."""
        self._check_open()
        self._maybe_rotate(self._clock_ms())
        self._flush_market()

    # ------------------------------------------------------------------------------------------------ closing
    def _close_files(self) -> None:
        errors: list[OSError] = []
        for f in (self._journal, self._market):
            try:
                f.fsync()
            except OSError as e:
                errors.append(e)
            try:
                f.close()
            except OSError as e:
                errors.append(e)
        if errors:
            raise JournalError(f"closing journal files failed: {errors[0]}") from errors[0]

    def close(self) -> None:
        """Flush, fsync and close both files; wait for background maintenance. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush_market()
        finally:
            try:
                self._close_files()
            finally:
                self.wait_maintenance()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- maintenance
    def wait_maintenance(self, timeout: float | None = None) -> None:
        t = self._maint
        if t is not None:
            t.join(timeout)
            if not t.is_alive():
                self._maint = None

    def _start_maintenance(self) -> None:
        self.wait_maintenance()  # at most one run at a time (rotation happens once a day)
        if self._background:
            t = threading.Thread(target=self.maintain, name="journal-maintenance", daemon=True)
            self._maint = t
            t.start()
        else:
            self.maintain()

    def maintain(self) -> None:
        """Delete files past retention, gzip files of earlier days. Errors are logged and kept in
        ``maintenance_errors``, never raised: a failed compression must not stop trading."""
        today = self.day
        cutoff = today - timedelta(days=self.retention_days) if self.retention_days is not None else None
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as e:
            self._maint_error(f"listing {self.directory}: {e}")
            return
        for name in names:
            info = file_day(name)
            if info is None:
                continue
            _, day, gz = info
            path = self.directory / name
            try:
                if cutoff is not None and day < cutoff:
                    path.unlink()
                elif not gz and day < today and self._compress:
                    gzip_file(path)
            except OSError as e:
                self._maint_error(f"{path}: {e}")
        for name in names:
            if name.endswith(".gz.tmp"):  # left by a crash during compression: redone from the original
                try:
                    (self.directory / name).unlink(missing_ok=True)
                except OSError as e:
                    self._maint_error(f"{name}: {e}")

    def _maint_error(self, msg: str) -> None:
        self.maintenance_errors.append(msg)
        log.warning("journal maintenance failed", error=msg)


def gzip_file(path: Path) -> Path:
    """Compress ``path`` to ``path.gz`` crash-safely (tmp file, fsync, rename, then remove the original)."""
    gz = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0) as out:
            shutil.copyfileobj(src, out, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, gz)
    path.unlink()
    return gz
