"""The JSONL journal: what the bot decided and did (``journal-YYYY-MM-DD.jsonl``) and the market data it saw
(``market-YYYY-MM-DD.jsonl``), one JSON object per line (CONTRACTS.md "Files under logs/", "Journal records";
docs/journal.md).

* :mod:`.models`: the pydantic models (one per record type), ``make_record`` / ``parse_record`` / ``dump_record``.
* :mod:`.records`: converters from core types (and a re-export of :mod:`.models`).
* :mod:`.writer`: :class:`~kalshibot.journal.writer.Journal`, rotation, gzip, retention, fsync policy.
* :mod:`.reader`: :func:`~kalshibot.journal.reader.iter_records`, streaming, torn-tail tolerant.
* :mod:`.schema`: the JSON Schema generated from the models (checked in as ``kalshibot/data/journal.schema.json``).
* :mod:`.validate` / :mod:`.tail`: the ``kalshibot journal validate`` and ``kalshibot tail`` commands.
"""

from __future__ import annotations

from kalshibot.journal.models import (
    JOURNAL_TYPES,
    MARKET_TYPES,
    RECORD_TYPES,
    SCHEMA_VERSION,
    Record,
    make_record,
    parse_record,
)
from kalshibot.journal.reader import ReaderReport, iter_records, read_records
from kalshibot.journal.writer import Journal

__all__ = [
    "JOURNAL_TYPES",
    "MARKET_TYPES",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "Journal",
    "ReaderReport",
    "Record",
    "iter_records",
    "make_record",
    "parse_record",
    "read_records",
]
