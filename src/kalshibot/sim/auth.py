"""The simulator's authentication: Kalshi API-key signatures (API.md §2.1, §2.2) and the optional legacy
``POST /login`` bearer token (API.md §2.3).

A request is authenticated when it carries all three ``KALSHI-ACCESS-*`` headers, the timestamp is within
``ts_window_ms`` of the simulator's clock, the key id is registered, and the signature verifies over
``ts + METHOD + path`` (query stripped). A bearer token from ``/login`` works instead of the headers while it is
unexpired. Each key and each login maps to one simulator user id. Failures raise :class:`AuthFailure` carrying
the 401 code string from :mod:`.choices`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kalshibot.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PublicKey,
    load_public_key,
    verify,
)
from kalshibot.sim import choices


class AuthFailure(Exception):
    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    public_key: PublicKey
    user_id: str


@dataclass(slots=True)
class _Token:
    user_id: str
    expires_ms: int


class Authenticator:
    """Registered keys and legacy logins; ``clock`` gives the server's wall-clock ms."""

    def __init__(
        self,
        clock: Callable[[], int],
        ts_window_ms: int = choices.TS_WINDOW_MS,
        token_lifetime_s: int = choices.TOKEN_LIFETIME_S,
    ) -> None:
        self.clock = clock
        self.ts_window_ms = ts_window_ms
        self.token_lifetime_s = token_lifetime_s
        self._keys: dict[str, ApiKey] = {}
        self._logins: dict[str, tuple[str, str]] = {}  # email -> (password, user_id)
        self._tokens: dict[str, _Token] = {}

    # -- registration ------------------------------------------------------------------------------------------
    def add_key(self, key_id: str, public_key_pem: bytes | str | PublicKey, user_id: str) -> ApiKey:
        key = load_public_key(public_key_pem) if isinstance(public_key_pem, bytes | str) else public_key_pem
        api_key = ApiKey(key_id, key, user_id)
        self._keys[key_id] = api_key
        return api_key

    def has_key(self, key_id: str) -> bool:
        return key_id in self._keys

    def add_login(self, email: str, password: str, user_id: str) -> None:
        self._logins[email] = (password, user_id)

    @property
    def legacy_login_enabled(self) -> bool:
        return bool(self._logins)

    # -- legacy login (API.md §2.3) ----------------------------------------------------------------------------
    def login(self, email: str, password: str) -> tuple[str, str]:
        """(member_id, token) or AuthFailure. The token expires after ``token_lifetime_s``."""
        entry = self._logins.get(email)
        if entry is None or not secrets.compare_digest(entry[0].encode(), password.encode()):
            raise AuthFailure(choices.AUTH_BAD_LOGIN, "invalid email or password")
        user_id = entry[1]
        token = f"{user_id}:{secrets.token_urlsafe(24)}"
        self._tokens[token] = _Token(user_id, self.clock() + self.token_lifetime_s * 1000)
        return user_id, token

    def logout(self, token: str) -> bool:
        return self._tokens.pop(token, None) is not None

    # -- per request -------------------------------------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str], method: str, path: str) -> str | None:
        """The user id, or None when the request carries no credentials at all; AuthFailure when it carries bad
        ones (a bad signature is refused even on a public endpoint, as a client that signs expects)."""
        key_id = headers.get(HEADER_KEY) or headers.get(HEADER_KEY.lower())
        ts_text = headers.get(HEADER_TIMESTAMP) or headers.get(HEADER_TIMESTAMP.lower())
        sig = headers.get(HEADER_SIGNATURE) or headers.get(HEADER_SIGNATURE.lower())
        if key_id is None and ts_text is None and sig is None:
            authz = headers.get("authorization") or headers.get("Authorization")
            if authz and authz.lower().startswith("bearer "):
                return self._token_user(authz[7:].strip())
            return None
        if not key_id or not ts_text or not sig:
            raise AuthFailure(
                choices.AUTH_HEADERS_INCOMPLETE,
                f"all of {HEADER_KEY}, {HEADER_TIMESTAMP}, {HEADER_SIGNATURE} are required",
            )
        try:
            ts_ms = int(ts_text)
        except ValueError:
            raise AuthFailure(choices.AUTH_BAD_TIMESTAMP, f"{HEADER_TIMESTAMP} must be Unix milliseconds") from None
        if abs(self.clock() - ts_ms) > self.ts_window_ms:
            raise AuthFailure(
                choices.AUTH_STALE_TIMESTAMP,
                f"{HEADER_TIMESTAMP} is more than {self.ts_window_ms} ms from server time",
            )
        api_key = self._keys.get(key_id)
        if api_key is None:
            raise AuthFailure(choices.AUTH_UNKNOWN_KEY, "unknown API key")
        # path as received, query already excluded by the caller (ASGI scope["path"])
        if not verify(api_key.public_key, ts_ms, method, path, sig):
            raise AuthFailure(choices.AUTH_BAD_SIGNATURE, "signature does not verify")
        return api_key.user_id

    def _token_user(self, token: str) -> str:
        t = self._tokens.get(token)
        if t is None or t.expires_ms <= self.clock():
            self._tokens.pop(token, None)
            raise AuthFailure(choices.AUTH_BAD_TOKEN, "invalid or expired token")
        return t.user_id


def signed_path(scope: Any) -> str:
    """The path a signature covers: the request path *as sent* (percent-encoding kept), query stripped (API.md
    §2.1; the official SDK signs ``urlparse(url).path``). ``scope["path"]`` is percent-decoded, so a client that
    signed the decoded path would pass here and fail on Kalshi; ``raw_path`` is used whenever the server gives it."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes | bytearray) and raw:
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")
    return str(scope["path"])
