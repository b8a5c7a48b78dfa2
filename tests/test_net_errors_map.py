"""errors_map: statuses and transport failures land in the right branch of the error tree, Kalshi's code kept."""

from __future__ import annotations

import httpx
import pytest

from kalshibot import errors as E
from kalshibot.net.errors_map import error_for_status, error_for_transport, parse_error_body


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, E.RejectedError),
        (401, E.AuthError),
        (403, E.AuthError),
        (404, E.NotFoundError),
        (409, E.ConflictError),
        (410, E.RejectedError),
        (429, E.RateLimitedError),
        (500, E.TransientError),
        (503, E.TransientError),
        (504, E.TransientError),
    ],
)
def test_status_classes(status: int, cls: type[E.ExchangeError]) -> None:
    err = error_for_status(status, b'{"error":{"code":"x_y","message":"nope"}}', what="GET /x")
    assert type(err) is cls
    assert err.status == status and err.code == "x_y" and "nope" in err.message


def test_auth_error_exits_3_and_rejects_are_not_retryable() -> None:
    assert E.exit_code(error_for_status(401, b"", what="GET /x")) == 3
    assert not isinstance(error_for_status(400, b"", what="x"), E.RetryableError)
    assert isinstance(error_for_status(429, b"", what="x"), E.RetryableError)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error":{"code":"invalid_price","message":"invalid price","service":"exchange"}}',
            ("invalid_price", "invalid price", None),
        ),
        (b'{"error": "too many requests"}', (None, "too many requests", None)),
        (b'{"code":"c","message":"m","details":"d"}', ("c", "m", "d")),
        (b"<html>bad gateway</html>", (None, "<html>bad gateway</html>", None)),
        (b"", (None, "", None)),
    ],
)
def test_envelopes(body: bytes, expected: tuple[str | None, str, str | None]) -> None:
    assert parse_error_body(body) == expected


def test_transport_errors_read_vs_write() -> None:
    req = httpx.Request("POST", "http://x/")
    # never sent: retryable whatever the call
    assert type(error_for_transport(httpx.ConnectError("x", request=req), what="w", write=True)) is E.TransientError
    # maybe sent: a write's outcome is unknown, a read is simply retried
    rt = httpx.ReadTimeout("x", request=req)
    assert type(error_for_transport(rt, what="w", write=True)) is E.OutcomeUnknownError
    assert type(error_for_transport(rt, what="r", write=False)) is E.TransientError
