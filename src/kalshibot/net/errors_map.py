"""The one place that maps transport failures and HTTP statuses into the error tree (``kalshibot.errors``).

Grouped by what the caller must do (DESIGN.md):

* retry: 429 -> :class:`RateLimitedError` (Kalshi sends no ``Retry-After``, API.md §6), 5xx and transport errors that
  happened *before* the request was sent -> :class:`TransientError`;
* look it up: a write whose request may have reached the exchange (read timeout, dropped connection after send)
  -> :class:`OutcomeUnknownError`;
* reject: other 4xx -> :class:`RejectedError` (404 :class:`NotFoundError`, 409 :class:`ConflictError`);
* fatal: 401/403 -> :class:`AuthError`.

Kalshi's own ``code`` and ``message`` are kept. The error envelope is ``{"error": {"code", "message", "details"}}``,
occasionally ``{"error": "too many requests"}`` (a bare string) or the spec's unwrapped ``{"code", "message"}``
(API.md §6): all three are read. Nothing from the request (headers, body) is ever put into an error: request
headers carry signatures or bearer tokens.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from kalshibot.errors import (
    AuthError,
    ConflictError,
    ExchangeError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

_MAX_MESSAGE = 300  # keep error text bounded: a proxy's HTML error page is not a message


def parse_error_body(body: bytes) -> tuple[str | None, str, str | None]:
    """(code, message, details) from an error response body; tolerant of every envelope seen in the wild."""
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return None, text[:_MAX_MESSAGE], None
    if isinstance(data, dict):
        inner: Any = data.get("error", data)
        if isinstance(inner, str):
            return None, inner[:_MAX_MESSAGE], None
        if isinstance(inner, dict):
            code = inner.get("code")
            message = inner.get("message") or inner.get("msg") or ""
            details = inner.get("details")
            return (
                str(code) if code is not None else None,
                str(message)[:_MAX_MESSAGE],
                str(details)[:_MAX_MESSAGE] if details is not None else None,
            )
    return None, "", None


def error_for_status(status: int, body: bytes, *, what: str) -> ExchangeError:
    """The error for a non-2xx answer. ``what`` names the call (``"POST /portfolio/events/orders"``)."""
    code, message, details = parse_error_body(body)
    text = message or f"HTTP {status}"
    msg = f"{what}: {text}"
    cls: type[ExchangeError]
    if status == 429:
        cls = RateLimitedError
    elif status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif 400 <= status < 500:
        cls = RejectedError
    else:
        # 5xx (and anything else unexpected): Kalshi returns 500/503/504 during outages (API.md §3.2)
        cls = TransientError
    return cls(msg, status=status, code=code, details=details)


def raise_for_response(response: httpx.Response, *, what: str) -> None:
    if response.status_code >= 400:
        raise error_for_status(response.status_code, response.content, what=what)


# Transport errors that prove the request never left: safe to resend anything.
_NOT_SENT: tuple[type[BaseException], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def error_for_transport(exc: httpx.HTTPError, *, what: str, write: bool) -> ExchangeError:
    """Map an httpx exception. For a write, anything that may have happened after the request was sent
    (read timeout, connection dropped mid-response) makes the outcome unknown: the caller must look it up rather
    than resend blindly (the guide's duplicate-order bug)."""
    kind = type(exc).__name__
    if isinstance(exc, _NOT_SENT) or not write:
        return TransientError(f"{what}: {kind}", code=kind)
    return OutcomeUnknownError(f"{what}: {kind} after send; outcome unknown", code=kind)


__all__ = ["error_for_status", "error_for_transport", "parse_error_body", "raise_for_response"]
