"""Every simulator choice where Kalshi's behaviour is unknown or unpublished, in one place (docs/simulator.md
"Choices" lists the same values with the reason for each).

API.md §6: Kalshi publishes no REST error-code catalogue; §2.1: no documented timestamp tolerance; §3.5: the batch
size "scales with your tier"; §2.3: the legacy login token lifetime was never found. The values below are ours.
"""

from __future__ import annotations

# -- auth (API.md §2) ------------------------------------------------------------------------------------------
# |server_now - KALSHI-ACCESS-TIMESTAMP| must be <= this (both directions). FIX uses 30 s (API.md §2.1).
TS_WINDOW_MS = 30_000
# legacy POST /login bearer token lifetime (API.md §2.3: "30-minute session tokens", unverified)
TOKEN_LIFETIME_S = 1800

# 401 error codes (all answered in the {"error": {...}} envelope of API.md §6)
AUTH_MISSING = "missing_authentication"  # a private endpoint without credentials
AUTH_HEADERS_INCOMPLETE = "incomplete_authentication_headers"  # one or two of the three headers
AUTH_BAD_TIMESTAMP = "invalid_timestamp"  # not an integer
AUTH_STALE_TIMESTAMP = "timestamp_out_of_window"  # outside TS_WINDOW_MS
AUTH_UNKNOWN_KEY = "unknown_api_key"
AUTH_BAD_SIGNATURE = "invalid_signature"
AUTH_BAD_TOKEN = "invalid_token"  # legacy bearer token unknown or expired
AUTH_BAD_LOGIN = "invalid_credentials"  # legacy POST /login refused

# -- REST (API.md §3, §6) -------------------------------------------------------------------------------------
NOT_FOUND = "not_found"  # unknown path (404), also used for unknown resources
METHOD_NOT_ALLOWED = "method_not_allowed"  # known path, other method (405)
BAD_REQUEST = "bad_request"  # malformed JSON body / query parameter
INTERNAL_ERROR = "internal_server_error"  # 5xx (also the injected ones)
SERVICE_UNAVAILABLE = "service_unavailable"
# V1 order writes after the June 2026 cut-off (API.md §3.7): code and message observed; status reported as 410
V1_DEPRECATED_STATUS = 410
V1_DEPRECATED_CODE = "deprecated_v1_order_endpoint"
V1_DEPRECATED_MESSAGE = "Please switch to the V2 endpoints"
V1_DEPRECATED_DETAILS = "https://docs.kalshi.com/api-reference/orders/create-order-v2"
# batch create / batch cancel: at most this many items per request (historical V1 limit, API.md §3.7); more -> 400
MAX_BATCH_SIZE = 20
BATCH_TOO_LARGE = "batch_too_large"
# 429 body is a bare string, not the object envelope, and there is no Retry-After (API.md §6, §7)
RATE_LIMIT_BODY = {"error": "too many requests"}
# GET /markets/orderbooks: at most this many tickers (API.md §3.4: "<= 100")
MAX_ORDERBOOK_TICKERS = 100

# -- WebSocket (API.md §5) -------------------------------------------------------------------------------------
PING_INTERVAL_S = 10.0
PING_PAYLOAD = b"heartbeat"
# unsigned / badly signed handshake: the upgrade is refused with HTTP 401 before accept (API.md §2.2)
# per-connection outbound buffer: past this many queued frames a subscription gets error 25 and is dropped
WS_SEND_QUEUE_LIMIT = 100_000
