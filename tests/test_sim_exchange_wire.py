"""Every wire serializer of the simulator produces exactly the SDK 3.34.0 shape (validated against the model
schemas), fixed-point strings only, and the WS message bodies carry the fields of API.md §5.3."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kalshibot.core.fixed import contracts, dollars
from kalshibot.sim import wire
from kalshibot.sim.exchange import CreateOrderParams, Exchange
from kalshibot.sim.simerrors import SimError, sim_error
from kalshibot.sim.simevents import SimEvent

SCHEMAS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "sdk-3.34.0-models.schema.json").read_text(encoding="utf-8")
)
T0 = 1_764_000_000_000
M = "KXT-1-A"
DOLLARS = re.compile(r"^-?\d+\.\d{4,6}$")
COUNT = re.compile(r"^-?\d+\.\d{2}$")


def check(model: str, body: object) -> None:
    jsonschema.validate(body, SCHEMAS[model])


@pytest.fixture
def world() -> tuple[Exchange, list[SimEvent]]:
    ex = Exchange(now_ms=T0, rate_limit_tier="off")
    seen: list[SimEvent] = []
    ex.listeners.append(seen.append)
    ex.add_series("KXT", "test series", tags=["t"])
    ex.add_event("KXT-1", "KXT", "test event", mutually_exclusive=True, strike_date_ms=T0 + 60_000)
    ex.add_market(
        M, "KXT-1", open_ts_ms=T0, close_ts_ms=T0 + 60_000, title="A", strike_type="greater", floor_strike=1.0
    )
    ex.add_user("a")
    ex.add_user("b")
    ex.create_order("b", CreateOrderParams(M, "ask", dollars("0.56"), contracts(10), client_order_id="b-1"), T0)
    ex.create_order(
        "a",
        CreateOrderParams(M, "bid", dollars("0.56"), contracts(4), time_in_force="immediate_or_cancel"),
        T0 + 5,
    )
    ex.create_order(
        "a", CreateOrderParams(M, "bid", dollars("0.50"), contracts(2), expiration_ts_s=T0 // 1000 + 30), T0
    )
    return ex, seen


def test_instruments_and_book(world: tuple[Exchange, list[SimEvent]]) -> None:
    ex, _ = world
    m = wire.market(ex.market(M))
    check("Market", m)
    assert m["yes_ask_dollars"] == "0.5600" and m["last_price_dollars"] == "0.5600"
    assert m["volume_fp"] == "4.00" and m["open_interest_fp"] == "4.00"
    e, markets = ex.event("KXT-1")
    check("GetEventResponse", {"event": wire.event(e, markets), "markets": [wire.market(x) for x in markets]})
    check("GetSeriesResponse", {"series": wire.series(ex.series("KXT"), volume=400)})
    book = wire.orderbook(*ex.orderbook(M))
    check("GetMarketOrderbookResponse", book)
    assert book["orderbook_fp"] == {"yes_dollars": [["0.5000", "2.00"]], "no_dollars": [["0.4400", "6.00"]]}
    check("GetTradesResponse", {"trades": [wire.trade(t) for t in ex.trades()], "cursor": ""})


def test_portfolio_shapes(world: tuple[Exchange, list[SimEvent]]) -> None:
    ex, _ = world
    check("GetOrdersResponse", {"orders": [wire.order(o) for o in ex.list_orders("a")], "cursor": ""})
    check("GetFillsResponse", {"fills": [wire.fill(f) for f in ex.fills("a")], "cursor": ""})
    pos = ex.positions("a")
    check(
        "GetPositionsResponse",
        {
            "market_positions": [wire.market_position(p) for p in pos],
            "event_positions": wire.event_positions(pos),
            "cursor": "",
        },
    )
    bal = wire.balance(ex.balance("a"), ex.portfolio_value("a"))
    check("GetBalanceResponse", bal)
    assert isinstance(bal["balance"], int) and DOLLARS.match(bal["balance_dollars"])
    ex.determine(M, "yes", T0 + 60_000)
    ex.settle(M, T0 + 61_000)
    s = [wire.settlement(x) for x in ex.settlements("a")]
    check("GetSettlementsResponse", {"settlements": s, "cursor": ""})
    assert s[0]["revenue"] == 400 and s[0]["value"] == 100  # integer cents


def test_order_write_shapes(world: tuple[Exchange, list[SimEvent]]) -> None:
    ex, _ = world
    r = ex.create_order(
        "a", CreateOrderParams(M, "bid", dollars("0.56"), contracts(1), time_in_force="immediate_or_cancel"), T0
    )
    body = wire.create_response(r)
    check("CreateOrderV2Response", body)
    assert body["fill_count"] == "1.00" and body["average_fill_price"] == "0.5600"
    resting = ex.list_orders("a", status="resting")[0]
    check("CancelOrderV2Response", wire.cancel_response(resting, contracts(2), T0))
    check("DecreaseOrderV2Response", wire.decrease_response(resting, T0))
    check("AmendOrderV2Response", wire.amend_response(r))
    items: list[object] = [wire.create_response(r), wire.batch_error_item(sim_error("invalid_price").to_wire(), "c-1")]
    check("BatchCreateOrdersV2Response", {"orders": items})
    cancels = [
        wire.cancel_response(resting, 0, T0),
        wire.batch_error_item(sim_error("order_not_found").to_wire(), order_id="x"),
    ]
    check("BatchCancelOrdersV2Response", {"orders": cancels})
    check("GetOrderQueuePositionResponse", wire.queue_position(0))
    err = SimError(400, "invalid_order", "invalid order").to_wire()
    check("ErrorResponse", err)


def test_groups_exchange_and_limits(world: tuple[Exchange, list[SimEvent]]) -> None:
    ex, _ = world
    g = ex.create_order_group("a", contracts(50), T0)
    check("CreateOrderGroupResponse", wire.order_group_created(g))
    check("GetOrderGroupsResponse", {"order_groups": [wire.order_group(x) for x in ex.order_groups("a")]})
    grp, resting = ex.order_group("a", g.group_id)
    check("GetOrderGroupResponse", wire.order_group_detail(grp, resting))
    check("ExchangeStatus", ex.exchange_status(T0))
    ex.add_maintenance(T0 + 1, T0 + 2)
    check("GetExchangeScheduleResponse", ex.schedule())
    check("GetAccountApiLimitsResponse", ex.account_limits())
    check("GetAccountEndpointCostsResponse", ex.endpoint_costs())


def test_ws_message_bodies(world: tuple[Exchange, list[SimEvent]]) -> None:
    ex, seen = world
    ex.pause_market(M, T0)
    ex.set_fee("KXT-1", "quadratic", 500_000, T0)
    ex.create_order_group("a", contracts(5), T0)
    by_type: dict[str, dict[str, Any]] = {}
    for e in seen:
        body = e.to_wire()
        by_type.setdefault(e.ws_type, body)
        for k, v in body.items():
            if k.endswith("_dollars") and v is not None:
                assert DOLLARS.match(v), (k, v)
            if k.endswith("_fp"):
                assert COUNT.match(v), (k, v)
    assert set(by_type) >= {
        "orderbook_delta",
        "trade",
        "fill",
        "user_order",
        "market_position",
        "market_lifecycle_v2",
        "event_lifecycle",
        "event_fee_update",
        "order_group_updates",
    }
    assert by_type["orderbook_delta"]["price_dollars"] == "0.4400" and by_type["orderbook_delta"]["side"] == "no"
    assert by_type["fill"]["post_position_fp"] in ("4.00", "-4.00")
    assert by_type["trade"]["taker_book_side"] == "bid"
    assert by_type["event_fee_update"] == {
        "event_ticker": "KXT-1",
        "fee_type_override": "quadratic",
        "fee_multiplier_override": 0.5,
    }
    assert by_type["user_order"]["status"] == "resting" and by_type["user_order"]["client_order_id"] == "b-1"
