"""One error tree for the whole project, grouped by what the caller must do.

::

    KalshibotError
    ├── UsageError                  exit 2: bad command line or configuration
    │   └── ConfigError             (names the file, the field path and what was expected)
    ├── CredentialError             exit 3: bad/missing key, loose key-file permissions, login refused
    │   └── ClockSkewError          local clock too far from the exchange's
    ├── LockHeldError               exit 4: another instance holds the account/subaccount lock
    ├── DataError                   malformed input we parsed (never fatal to the daemon: counted, resynced)
    │   ├── FixedPointError         a price/count/money string or number that is not valid fixed point
    │   ├── GridError               a price off the market's grid / malformed price_ranges
    │   ├── BookError               an order book update that cannot be applied (forces a resync)
    │   │   └── SequenceGapError    a seq that is not last + 1
    │   ├── WireError               a frame / response body that does not match the protocol
    │   └── JournalError            a journal line that does not parse or validate
    └── ExchangeError               the exchange (or the path to it) answered badly; carries status, code, message
        ├── RetryableError          try again later (idempotent calls are retried automatically)
        │   ├── TransientError      5xx, connect/read errors, timeouts before the request was sent
        │   └── RateLimitedError    429 (Kalshi sends no Retry-After)
        ├── OutcomeUnknownError     a write whose outcome is unknown (timeout after send): look it up
        ├── RejectedError           the exchange said no (4xx): do not retry as is
        │   ├── NotFoundError       404
        │   └── ConflictError       409 (e.g. duplicate client_order_id: look the order up)
        └── FatalError              cannot continue without an operator
            └── AuthError           401/403 on a signed request

The CLI maps the tree to exit codes (``exit_code``); one place in ``kalshibot.net`` maps httpx errors and HTTP
statuses into it, chaining with ``raise ... from``.
"""

from __future__ import annotations


class KalshibotError(Exception):
    """Root of every error the project raises on purpose."""

    exit_code = 1


class UsageError(KalshibotError):
    exit_code = 2


class ConfigError(UsageError):
    """A configuration error: ``file``, ``field`` path and ``expected`` are shown to the user."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        parts = [p for p in (file, field) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)


class CredentialError(KalshibotError):
    exit_code = 3


class ClockSkewError(CredentialError):
    pass


class LockHeldError(KalshibotError):
    exit_code = 4


class DataError(KalshibotError):
    pass


class FixedPointError(DataError, ValueError):
    pass


class GridError(DataError, ValueError):
    pass


class BookError(DataError):
    pass


class SequenceGapError(BookError):
    def __init__(self, sid: int, expected: int, got: int) -> None:
        self.sid, self.expected, self.got = sid, expected, got
        super().__init__(f"sequence gap on sid {sid}: expected {expected}, got {got}")


class WireError(DataError):
    pass


class JournalError(DataError):
    pass


class ExchangeError(KalshibotError):
    """An error answer from the exchange. ``code``/``message`` keep Kalshi's own strings."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        prefix = " ".join(str(p) for p in (status, code) if p is not None)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class RetryableError(ExchangeError):
    pass


class TransientError(RetryableError):
    pass


class RateLimitedError(RetryableError):
    pass


class OutcomeUnknownError(ExchangeError):
    pass


class RejectedError(ExchangeError):
    pass


class NotFoundError(RejectedError):
    pass


class ConflictError(RejectedError):
    pass


class FatalError(ExchangeError):
    exit_code = 1


class AuthError(FatalError):
    exit_code = 3


def exit_code(exc: BaseException) -> int:
    """The process exit code for an error (CONTRACTS.md: 1 runtime, 2 usage/config, 3 credentials, 4 lock)."""
    if isinstance(exc, KalshibotError):
        return exc.exit_code
    return 1
