"""The simulator's connections run with TCP_NODELAY (issue 9): without it Nagle held the second write of each
response (uvicorn writes head and body separately) until the client's delayed ACK, ~40 ms a request."""

from __future__ import annotations

import socket

import httpx

from kalshibot.sim.testing import running_sim


async def test_accepted_connections_have_tcp_nodelay() -> None:
    async with running_sim(scenario="none") as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        for _ in range(3):  # several requests on one keep-alive connection
            assert (await http.get("/trade-api/v2/exchange/status")).status_code == 200
        assert sim._uvicorn is not None
        conns = list(sim._uvicorn.server_state.connections)
        assert conns
        for proto in conns:
            sock = proto.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
