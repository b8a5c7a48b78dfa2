"""The engine applies series/event fee changes (``FeeChange``, API.md §8 and the sim's fee fault) to its quotes."""

from __future__ import annotations

from dataclasses import replace

from kalshibot.core import events as ev
from kalshibot.core.fixed import Price, dollars
from tests.test_engine_support import EV_T, T0, config, of, order_actions, started


def _quotes(out: list[ev.Output]) -> dict[str, int]:
    return {a.side: a.price for a in order_actions(out) if isinstance(a, ev.PlaceOrder | ev.AmendOrder)}


def test_fee_change_moves_the_fee_floor_of_matching_markets_only() -> None:
    # zero configured spread around the mid 0.45 (book 0.40 / 0.50), 5 contracts, quadratic_with_maker_fees x1:
    # the fee floor alone sets the spread (one tick each side)
    eng, venue, out = started(quote=replace(config().quote, spread=Price(0)))
    assert _quotes(out) == {"bid": dollars("0.44"), "ask": dollars("0.46")}

    # another series' fee change: nothing happens here
    assert eng.handle(ev.FeeChange(None, "KXOTHER", None, 10_000_000), T0 + 1) == []

    # our series' multiplier x10: maker fee per contract ~ 0.0175 x 10 x 0.45 x 0.55 = 0.0433, so each side must sit
    # at least that far from 0.45: bid <= 0.4067 -> 0.40, ask >= 0.4933 -> 0.50 (API.md §8)
    out = eng.handle(ev.FeeChange(None, "KXTEST", None, 10_000_000), T0 + 2)
    assert all(isinstance(a, ev.AmendOrder) for a in order_actions(out))
    assert _quotes(out) == {"bid": dollars("0.40"), "ask": dollars("0.50")}
    intents = of(out, ev.IntentNote)
    assert intents and all("fee_floor" in i.reason["clipped"] for i in intents)
    venue.ack_all(out, T0 + 2)

    # the event becomes maker-free (``quadratic``): no floor, the zero spread collapses to adjacent ticks
    out = eng.handle(ev.FeeChange(EV_T, None, "quadratic", None), T0 + 3)
    assert _quotes(out) == {"bid": dollars("0.44"), "ask": dollars("0.45")}
    assert all("fee_floor" not in i.reason["clipped"] for i in of(out, ev.IntentNote))
