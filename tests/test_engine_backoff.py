"""After a reject the engine waits before requoting that market (no tight loop with the exchange), but not after
rejects that say nothing about the market: our own cancelled-before-send, or a cancel that lost a race."""

from __future__ import annotations

import pytest

from kalshibot.core import events as ev
from kalshibot.core.engine import Engine
from tests.test_engine_support import SPEC, T0, config, of, snap


def _placed(eng: Engine) -> list[ev.PlaceOrder]:
    eng.handle(ev.MarketAdded(SPEC), T0)
    out = eng.handle(snap(1), T0)
    places = of(out, ev.PlaceOrder)
    assert len(places) == 2
    return places


@pytest.mark.parametrize(
    ("code", "request_kind", "waits"),
    [
        ("invalid_price", "create", True),
        ("cancelled_before_send", "create", False),
    ],
)
def test_reject_backoff(code: str, request_kind: str, waits: bool) -> None:
    eng = Engine(config(strict=False), client_order_id_prefix="kb-", id_seed="t")
    bid = _placed(eng)[0]
    now = T0 + 10
    out = eng.handle(ev.OrderReject(bid.client_order_id, None, code, "no", request_kind), now)  # type: ignore[arg-type]
    replaced = [p for p in of(out, ev.PlaceOrder) if p.side == bid.side]
    if waits:
        assert not replaced, "a real reject must not be answered with the same order at once"
        assert eng.next_deadline() is not None and eng.next_deadline() >= now + 1_000  # type: ignore[operator]
    else:
        assert len(replaced) == 1, "our own cancelled-before-send must not cost the side its quote"
