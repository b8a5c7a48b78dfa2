"""structlog configuration: JSON lines to stdout for journald, a readable console format on a terminal.

A redaction processor drops anything that looks like a secret (keys named like one, PEM blocks, bearer tokens)
before rendering; the journal, not this log, is the audit trail.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SECRET_KEYS = re.compile(r"(password|passwd|secret|token|signature|private|pem|authorization|access-key)", re.I)
SECRET_VALUES = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|Bearer\s+\S+)", re.I)


def redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event_dict):
        v = event_dict[k]
        if SECRET_KEYS.search(k) and k != "event":
            event_dict[k] = "****"
        elif isinstance(v, str) and SECRET_VALUES.search(v):
            event_dict[k] = SECRET_VALUES.sub("****", v)
    return event_dict


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False) if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping().get(level.upper(), 20)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
