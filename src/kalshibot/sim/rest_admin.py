"""The fault-injection admin endpoint (only with ``--faults``) and the legacy login (only with ``--legacy-login``).

* ``GET /admin/faults`` -> ``{"counters": {...}, "armed": [...], "scheduled": [...]}``
* ``POST /admin/faults`` with ``{"fault": NAME, "at_ms"?: T, ...params}`` -> 200 report, 400 on a bad fault
* ``DELETE /admin/faults`` disarms everything (counters are kept)
* ``POST /admin/firehose`` with ``{"n": N, "ticker"?: T}`` (same as the ``firehose`` fault)
* ``POST /trade-api/v2/login`` ``{"email", "password"}`` -> ``{"member_id", "token"}`` (API.md §2.3);
  ``POST /trade-api/v2/logout`` invalidates the bearer token.

The admin paths are outside ``/trade-api`` and unauthenticated: the simulator listens on loopback by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kalshibot.sim import choices
from kalshibot.sim.auth import AuthFailure
from kalshibot.sim.faults import FaultError
from kalshibot.sim.rest import Ctx, Endpoint, Json, JSONResp, error_response

if TYPE_CHECKING:
    from kalshibot.sim.server import SimServer


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    return orjson.loads(raw)


def admin_routes(server: SimServer) -> list[Route]:
    async def get_faults(request: Request) -> Response:
        return JSONResp(server.faults.status())

    async def post_faults(request: Request) -> Response:
        try:
            body = await _json_body(request)
        except orjson.JSONDecodeError:
            return error_response(400, choices.BAD_REQUEST, "body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("fault"), str):
            return error_response(400, choices.BAD_REQUEST, 'expected {"fault": NAME, ...params}')
        name = body.pop("fault")
        at_ms = body.pop("at_ms", None)
        try:
            return JSONResp(server.faults.inject(name, at_ms=at_ms, **body))
        except (FaultError, TypeError, ValueError) as e:
            return error_response(400, "invalid_fault", str(e))

    async def delete_faults(request: Request) -> Response:
        server.faults.clear()
        return JSONResp(server.faults.status())

    async def firehose(request: Request) -> Response:
        try:
            body = await _json_body(request)
            return JSONResp(server.faults.inject("firehose", **body))
        except (orjson.JSONDecodeError, FaultError, TypeError, ValueError) as e:
            return error_response(400, "invalid_fault", str(e))

    return [
        Route("/admin/faults", get_faults, methods=["GET"]),
        Route("/admin/faults", post_faults, methods=["POST"]),
        Route("/admin/faults", delete_faults, methods=["DELETE"]),
        Route("/admin/firehose", firehose, methods=["POST"]),
    ]


async def login(c: Ctx) -> Json:
    email, password = c.body.get("email"), c.body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise AuthFailure(choices.AUTH_BAD_LOGIN, "email and password are required")
    member_id, token = c.server.auth.login(email, password)
    return {"member_id": member_id, "token": token}


async def logout(c: Ctx) -> Json:
    authz = c.request.headers.get("authorization", "")
    if authz.lower().startswith("bearer "):
        c.server.auth.logout(authz[7:].strip())
    return {}


def login_endpoints() -> list[Endpoint]:
    return [Endpoint("POST", "/login", login, public=True), Endpoint("POST", "/logout", logout)]
