"""Coalescing one submission of order actions before it is carried out.

Theory of operation
-------------------
A venue carries out one engine decision's actions in a fixed order: cancels first, then amends and decreases, then
creates (cancels free budget and collateral; Kalshi has no batch amend). When the engine changed its mind about an
order before anything was sent, that order would come back out of order:

* a create and the cancel of the same client_order_id (the cancel has no order_id yet): neither is sent, and the
  create is reported rejected (``CANCELLED_BEFORE_SEND``) so the engine's order goes from pending-cancel to rejected.
  Sent, the cancel would find nothing and the create would rest;
* an amend or decrease and a cancel of the same order: the cancel (decided later) supersedes it. Sent after the
  cancel, the amend could only be refused as not resting.

Every venue (the live executor, paper trading, the backtest venue) applies the same rule through :func:`coalesce`.
"""

from __future__ import annotations

from collections.abc import Sequence

from kalshibot.core import events as ev

CANCELLED_BEFORE_SEND = "cancelled_before_send"
CANCELLED_BEFORE_SEND_MESSAGE = "cancelled by the strategy before it was sent"


def coalesce(actions: Sequence[ev.Action]) -> tuple[list[ev.Action], list[str]]:
    """(the actions to carry out, in their order; the client_order_ids of creates cancelled before they were sent,
    sorted: answer each with an ``OrderReject`` of code :data:`CANCELLED_BEFORE_SEND`)."""
    cancelled_ids = {a.order_id for a in actions if isinstance(a, ev.CancelOrder) and a.order_id is not None}
    placed = {a.client_order_id for a in actions if isinstance(a, ev.PlaceOrder)}
    dropped = {
        a.client_order_id
        for a in actions
        if isinstance(a, ev.CancelOrder) and a.order_id is None and a.client_order_id in placed
    }
    if not cancelled_ids and not dropped:
        return list(actions), []
    kept = [
        a
        for a in actions
        if not (isinstance(a, ev.AmendOrder | ev.DecreaseOrder) and a.order_id in cancelled_ids)
        and not (isinstance(a, ev.PlaceOrder | ev.CancelOrder) and a.client_order_id in dropped)
    ]
    return kept, sorted(dropped)
