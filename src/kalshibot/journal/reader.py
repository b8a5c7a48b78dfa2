"""Streaming journal reader: files, directories and ``.gz`` files, in bounded memory, tolerant of a torn tail.

A process killed mid-write leaves at most one torn line, at the end of the file it was writing (the writer then
terminates it with a newline on restart, which turns it into a bad line in the middle). The reader therefore
classifies trouble per line:

* a last line that does not decode as JSON (with or without its newline) is the *torn tail*: reported, skipped,
  never an error even when ``strict``;
* a last line that decodes but has no trailing newline is yielded (the record is complete) and flagged
  ``unterminated``;
* any other line that does not decode or does not validate is a *bad line*: counted with its line number and
  error, or, when ``strict``, raised as :class:`~kalshibot.errors.JournalError` naming ``path:line``.

Directories are read in file-name order (``journal-*`` then ``market-*``, each by date); when both ``X.jsonl`` and
``X.jsonl.gz`` exist (a crash during compression) only the plain file is read, so nothing is counted twice.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast, overload

import orjson

from kalshibot.errors import JournalError
from kalshibot.journal.models import AnyRecord, validate_obj
from kalshibot.journal.writer import FILE_RE

Kind = Literal["journal", "market"]
PathArg = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class BadLine:
    path: str
    line: int
    error: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.error}"


@dataclass(slots=True)
class FileReport:
    path: str
    records: int = 0
    bad: list[BadLine] = field(default_factory=list)
    torn_tail: BadLine | None = None
    unterminated: bool = False  # the last line had no newline but was a complete record

    @property
    def ok(self) -> bool:
        return not self.bad and self.torn_tail is None


@dataclass(slots=True)
class ReaderReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def bad_lines(self) -> list[BadLine]:
        return [b for f in self.files for b in f.bad]

    @property
    def torn(self) -> list[BadLine]:
        return [f.torn_tail for f in self.files if f.torn_tail is not None]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def summary(self) -> str:
        return (
            f"{len(self.files)} file(s), {self.records} record(s), {len(self.bad_lines)} bad line(s), "
            f"{len(self.torn)} torn tail(s)"
        )


# ---------------------------------------------------------------------------------------------------- files
def journal_files(directory: PathArg, kind: Kind | None = None) -> list[Path]:
    """The journal/market files in ``directory`` (not recursive), sorted by name; a plain file shadows its
    ``.gz`` twin."""
    d = Path(directory)
    names = sorted(os.listdir(d))
    present = set(names)
    out: list[Path] = []
    for name in names:
        m = FILE_RE.match(name)
        if m is None or (kind is not None and m.group(1) != kind):
            continue
        if m.group(3) and name[: -len(".gz")] in present:
            continue
        out.append(d / name)
    return out


def expand_paths(paths: PathArg | Iterable[PathArg], kind: Kind | None = None) -> list[Path]:
    """Files named directly (any name), plus the journal files of named directories."""
    items: Iterable[PathArg] = [paths] if isinstance(paths, str | os.PathLike) else paths
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(journal_files(p, kind))
        elif p.exists():
            out.append(p)
        else:
            raise JournalError(f"no such journal file or directory: {p}")
    return out


def open_journal_file(path: Path) -> BinaryIO:
    """Open a journal file for binary reading, decompressing ``.gz``."""
    if path.name.endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return open(path, "rb")


# --------------------------------------------------------------------------------------------------- records
@overload
def iter_records(
    paths: PathArg | Iterable[PathArg],
    *,
    validate: Literal[True] = True,
    strict: bool = False,
    report: ReaderReport | None = None,
    kind: Kind | None = None,
) -> Generator[AnyRecord, None, ReaderReport]: ...


@overload
def iter_records(
    paths: PathArg | Iterable[PathArg],
    *,
    validate: Literal[False],
    strict: bool = False,
    report: ReaderReport | None = None,
    kind: Kind | None = None,
) -> Generator[dict[str, Any], None, ReaderReport]: ...


def iter_records(
    paths: PathArg | Iterable[PathArg],
    *,
    validate: bool = True,
    strict: bool = False,
    report: ReaderReport | None = None,
    kind: Kind | None = None,
) -> Generator[Any, None, ReaderReport]:
    """Stream records from ``paths`` (files, ``.gz`` files, directories). With ``validate`` each line is
    validated through the record models and yielded as a model; without, the decoded dict is yielded (any JSON
    object passes). ``report`` (or the generator's return value) collects counts, bad lines and torn tails;
    ``strict`` raises JournalError at the first bad line instead. ``kind`` filters directory contents."""
    rep = report if report is not None else ReaderReport()
    for path in expand_paths(paths, kind):
        fr = FileReport(str(path))
        rep.files.append(fr)
        yield from _iter_file(path, fr, validate, strict)
    return rep


def _bad(fr: FileReport, bad: BadLine, strict: bool) -> None:
    fr.bad.append(bad)
    if strict:
        raise JournalError(str(bad))


def _iter_file(path: Path, fr: FileReport, validate: bool, strict: bool) -> Iterator[Any]:
    name = str(path)
    pending: BadLine | None = None  # an undecodable line: torn if it turns out to be the last one
    lineno = 0
    try:
        with open_journal_file(path) as f:
            for raw in f:
                lineno += 1
                if pending is not None:
                    _bad(fr, pending, strict)
                    pending = None
                text = raw.strip()
                if not text:
                    continue
                terminated = raw.endswith(b"\n")
                try:
                    obj = orjson.loads(text)
                except orjson.JSONDecodeError as e:
                    pending = BadLine(name, lineno, f"not JSON: {e}")
                    continue
                if not isinstance(obj, dict):
                    _bad(fr, BadLine(name, lineno, "not a JSON object"), strict)
                    continue
                if validate:
                    try:
                        rec: Any = validate_obj(obj)
                    except JournalError as e:
                        t = obj.get("type")
                        _bad(fr, BadLine(name, lineno, f"{t if isinstance(t, str) else '?'}: {e}"), strict)
                        continue
                else:
                    rec = obj
                if not terminated:
                    fr.unterminated = True
                fr.records += 1
                yield rec
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        # a truncated or corrupt .gz: whatever decoded so far was yielded; the rest is the torn tail
        if pending is not None:
            fr.bad.append(pending)
        pending = BadLine(name, lineno + 1, f"compressed stream broken: {e}")
    except OSError as e:
        raise JournalError(f"cannot read {path}: {e}") from e
    if pending is not None:
        fr.torn_tail = pending


def read_records(
    paths: PathArg | Iterable[PathArg], *, strict: bool = False, kind: Kind | None = None
) -> tuple[list[AnyRecord], ReaderReport]:
    """All validated records of ``paths`` in memory, with the report (for small files and tests)."""
    rep = ReaderReport()
    recs = list(iter_records(paths, strict=strict, report=rep, kind=kind))
    return recs, rep


def fill_keys(paths: PathArg | Iterable[PathArg]) -> set[tuple[str, str]]:
    """The (order_id, trade_id) of every fill already journaled: a restarted daemon skips these so a fill is
    journaled exactly once also across restarts (CONTRACTS.md "Journal records")."""
    keys: set[tuple[str, str]] = set()
    for obj in iter_records(paths, validate=False, kind="journal"):
        if obj.get("type") == "fill":
            oid, tid = obj.get("order_id"), obj.get("trade_id")
            if isinstance(oid, str) and isinstance(tid, str):
                keys.add((oid, tid))
    return keys
