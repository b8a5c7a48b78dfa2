"""The simulator's REST layer: the ASGI app (routes of :mod:`.rest_market`, :mod:`.rest_orders`,
:mod:`.rest_portfolio`), Kalshi's error envelope (API.md §6), auth, rate limits and REST faults.

Every endpoint is a :class:`Endpoint` row (method, path relative to ``/trade-api/v2``, handler, public?). One
wrapper does for all of them, in order: armed REST faults (delay, 429 burst, 5xx), authentication (a public
endpoint works without credentials but refuses bad ones), the token-bucket charge (batch endpoints per item),
the handler, and the rendering of :class:`~kalshibot.sim.simerrors.SimError` as ``{"error": {code, message}}``
(429 as the bare ``{"error": "too many requests"}``). Unknown paths answer 404 and known paths with another
method 405, both in the envelope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from kalshibot.sim import choices
from kalshibot.sim.auth import AuthFailure, signed_path
from kalshibot.sim.simerrors import SimError, sim_error
from kalshibot.sim.ws import WS_PATH

if TYPE_CHECKING:
    from kalshibot.sim.server import SimServer

PREFIX = "/trade-api/v2"
Json = dict[str, Any]


class JSONResp(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str, details: str | None = None) -> Response:
    if status == 429:
        return JSONResp(choices.RATE_LIMIT_BODY, status_code=429)
    err: Json = {"code": code, "message": message}
    if details:
        err["details"] = details
    return JSONResp({"error": err}, status_code=status)


def sim_error_response(e: SimError) -> Response:
    return error_response(e.status, e.code, e.message, e.details)


@dataclass(slots=True)
class Ctx:
    """One request as a handler sees it."""

    server: SimServer
    request: Request
    user_id: str | None
    body: Json
    path: str  # relative to /trade-api/v2

    @property
    def exchange(self) -> Any:
        return self.server.exchange

    @property
    def user(self) -> str:
        assert self.user_id is not None
        return self.user_id

    def q(self, name: str) -> str | None:
        v = self.request.query_params.get(name)
        return v if v not in (None, "") else None

    def qlist(self, name: str) -> list[str] | None:
        """A list parameter in either form: repeated (``?tickers=A&tickers=B``) or comma (``?tickers=A,B``)."""
        vals = self.request.query_params.getlist(name)
        if not vals:
            return None
        out = [t.strip() for v in vals for t in v.split(",") if t.strip()]
        return out or None

    def qint(self, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
        v = self.q(name)
        if v is None:
            return default
        try:
            n = int(v)
        except ValueError:
            raise sim_error("invalid_parameters", f"{name} must be an integer") from None
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise sim_error("invalid_parameters", f"{name} out of range [{lo}, {hi}]")
        return n

    def qbool(self, name: str, default: bool = False) -> bool:
        v = self.q(name)
        if v is None:
            return default
        if v.lower() in ("true", "1"):
            return True
        if v.lower() in ("false", "0"):
            return False
        raise sim_error("invalid_parameters", f"{name} must be true or false")


Handler = Callable[[Ctx], Awaitable[Response | Json]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # Starlette template relative to PREFIX
    handler: Handler
    public: bool = False
    status: int = 200


def paginate(items: list[Any], ctx: Ctx, default_limit: int, max_limit: int) -> tuple[list[Any], str]:
    """Cursor pagination (API.md §3.1): the cursor is the decimal offset of the next page; "" = no more."""
    limit = ctx.qint("limit", default_limit, 1, max_limit) or default_limit
    cur = ctx.q("cursor")
    start = 0
    if cur is not None:
        try:
            start = int(cur)
        except ValueError:
            raise sim_error("invalid_parameters", "bad cursor") from None
        if start < 0:
            raise sim_error("invalid_parameters", "bad cursor")
    page = items[start : start + limit]
    nxt = start + limit
    return page, (str(nxt) if nxt < len(items) else "")


def _batch_items(body: Json) -> int:
    orders = body.get("orders") if isinstance(body, dict) else None
    return len(orders) if isinstance(orders, list) else 1


def _wrap(server: SimServer, ep: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    auth, faults = server.auth, server.faults

    async def endpoint(request: Request) -> Response:
        full_path: str = request.scope["path"]
        method = request.method
        rel = full_path[len(PREFIX) :] if full_path.startswith(PREFIX) else full_path
        if faults.armed:
            r = await rest_faults(server, method, rel)
            if r is not None:
                return r
        try:
            user_id = auth.authenticate(request.headers, method, signed_path(request.scope))
        except AuthFailure as e:
            return error_response(e.status, e.code, e.message)
        if user_id is None and not ep.public:
            return error_response(401, choices.AUTH_MISSING, "authentication required")
        body: Json = {}
        if method != "GET":
            raw = await request.body()
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return error_response(400, choices.BAD_REQUEST, "request body is not valid JSON")
                if not isinstance(parsed, dict):
                    return error_response(400, choices.BAD_REQUEST, "request body must be a JSON object")
                body = parsed
        try:
            if user_id is not None:
                items = _batch_items(body) if rel.endswith("/batched") else 1
                if items > choices.MAX_BATCH_SIZE:  # a 400 whatever the bucket holds
                    raise SimError(400, choices.BATCH_TOO_LARGE, f"at most {choices.MAX_BATCH_SIZE} items per batch")
                server.exchange.rate_limiter.charge(user_id, method, rel, server.clock(), items)
            out = await ep.handler(Ctx(server, request, user_id, body, rel))
        except SimError as e:
            return sim_error_response(e)
        except AuthFailure as e:
            return error_response(e.status, e.code, e.message)
        if isinstance(out, Response):
            return out
        return JSONResp(out, status_code=ep.status)

    return endpoint


async def rest_faults(server: SimServer, method: str, rel: str) -> Response | None:
    faults = server.faults
    p = faults.take("rest_delay", method, rel)
    if p is not None:
        await asyncio.sleep(int(p["delay_ms"]) / 1000)
    if faults.take("rest_429", method, rel) is not None:
        return error_response(429, "too_many_requests", "too many requests")
    p = faults.take("rest_error", method, rel)
    if p is not None:
        status = int(p["status"])
        code = choices.SERVICE_UNAVAILABLE if status == 503 else choices.INTERNAL_ERROR
        return error_response(status, code, f"injected fault: HTTP {status}")
    return None


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return error_response(405, choices.METHOD_NOT_ALLOWED, "method not allowed")
    if status == 404:
        return error_response(404, choices.NOT_FOUND, f"no such endpoint: {request.url.path}")
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return error_response(status, choices.BAD_REQUEST if status < 500 else choices.INTERNAL_ERROR, str(detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, choices.INTERNAL_ERROR, f"internal error: {type(exc).__name__}")


def build_app(server: SimServer) -> Starlette:
    from kalshibot.sim.rest_admin import admin_routes, login_endpoints
    from kalshibot.sim.rest_market import ENDPOINTS as MARKET
    from kalshibot.sim.rest_orders import ENDPOINTS as ORDERS
    from kalshibot.sim.rest_portfolio import ENDPOINTS as PORTFOLIO

    eps: list[Endpoint] = [*MARKET, *ORDERS, *PORTFOLIO]
    if server.auth.legacy_login_enabled:
        eps += login_endpoints()
    routes: list[Route | WebSocketRoute] = [
        Route(PREFIX + ep.path, _wrap(server, ep), methods=[ep.method]) for ep in eps
    ]
    routes.append(WebSocketRoute(WS_PATH, server.hub.endpoint))
    if server.config.faults_enabled:
        routes += admin_routes(server)
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _not_found, 404: _not_found, 405: _not_found, 500: _server_error},
    )
