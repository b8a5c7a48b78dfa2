"""``kalshibot journal validate PATH...``: check every line of journal / market-data files.

Lines are validated through the record models (the same rules the checked-in JSON Schema states; ``jsonschema`` is
not a runtime dependency). One summary line per file, then up to ``MAX_SHOWN`` bad lines with their line numbers.
Exit 0 when every line of every file is a valid record, 1 when any line is invalid (a torn last line counts: it is
a crash artifact worth knowing about), 2 for a path that does not exist.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from kalshibot.errors import JournalError, UsageError
from kalshibot.journal.reader import BadLine, FileReport, ReaderReport, expand_paths, iter_records

MAX_SHOWN = 10


def _describe(fr: FileReport) -> str:
    status = "OK" if fr.ok else "INVALID"
    parts = [f"{fr.records} valid record(s)"]
    if fr.bad:
        parts.append(f"{len(fr.bad)} invalid line(s)")
    if fr.torn_tail is not None:
        parts.append(f"torn last line {fr.torn_tail.line}")
    if fr.unterminated:
        parts.append("last line has no newline")
    return f"{status}  {fr.path}: {', '.join(parts)}"


def validate_paths(paths: list[str], out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    try:
        files = expand_paths(paths)
    except JournalError as e:
        raise UsageError(str(e)) from e
    if not files:
        raise UsageError(f"no journal files found in {' '.join(paths)}")
    rep = ReaderReport()
    for path in files:
        try:
            for _ in iter_records(path, report=rep):
                pass
        except JournalError as e:  # unreadable file (the reader registered it before opening): keep going
            rep.files[-1].bad.append(BadLine(str(path), 0, str(e)))
            print(f"INVALID  {path}: {e}", file=out)
            continue
        fr = rep.files[-1]
        print(_describe(fr), file=out)
        problems = [*fr.bad, *([fr.torn_tail] if fr.torn_tail else [])]
        for bad in problems[:MAX_SHOWN]:
            print(f"    line {bad.line}: {bad.error}", file=out)
        if len(problems) > MAX_SHOWN:
            print(f"    ... {len(problems) - MAX_SHOWN} more", file=out)
    print(f"journal validate: {rep.summary()}: {'OK' if rep.ok else 'INVALID'}", file=out)
    return 0 if rep.ok else 1


def journal_main(args: argparse.Namespace) -> int:
    """Entry point of ``kalshibot journal <subcommand>`` (cli.HANDLERS["journal"])."""
    sub = getattr(args, "journal_command", "validate")
    if sub != "validate":
        raise UsageError(f"unknown journal command {sub!r}")
    return validate_paths(list(args.paths))
