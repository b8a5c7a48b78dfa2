"""The simulated exchange's error answers and every choice it makes where Kalshi's behaviour is unpublished.

Kalshi publishes no REST error-code catalogue (API.md §6: "Simulator: choose codes and document them"), so every
code string the pure exchange can raise lives in :data:`ERROR_CODES` (code -> HTTP status, default message), and
every other unknown-behaviour choice is a constant below. docs/simulator.md copies both tables. The server's own
choices (auth codes, batch size, timestamp window) live in :mod:`kalshibot.sim.choices`.

Things that are *not* errors, because Kalshi reports them as order cancellations (API.md §5.3 ``user_order``
``last_update_reason``): a crossing post-only order (accepted, then ``PostOnlyCrossCancel``), self-trade prevention
(``SelfTradeCancel``), a reduce-only order with nothing to reduce (``ReduceOnlyCancel``).
"""

from __future__ import annotations

from typing import Final


class SimError(Exception):
    """An error answer of the simulated exchange: the server renders it as ``{"error": {code, message}}`` with
    ``status`` (429 as the bare ``{"error": "too many requests"}``)."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        super().__init__(f"{status} {code}: {message}")

    def to_wire(self) -> dict[str, str]:
        """The ``ErrorResponse`` object (API.md §6; also the per-item ``error`` of batch responses)."""
        out = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


# code -> (HTTP status, default message). Codes observed on Kalshi are marked; the rest are ours.
ERROR_CODES: Final[dict[str, tuple[int, str]]] = {
    # request semantics
    "invalid_order": (400, "invalid order"),  # observed (API.md §6)
    "invalid_price": (400, "invalid price"),  # observed (API.md §6): price off the market's grid
    "invalid_count": (400, "invalid count"),
    "invalid_expiration": (400, "expiration_time must be in the future"),
    "invalid_time_in_force": (400, "invalid time_in_force for this order"),
    "reduce_only_requires_ioc": (400, "reduce_only requires time_in_force=immediate_or_cancel"),
    "invalid_parameters": (400, "invalid parameters"),
    # state
    "market_not_found": (404, "market not found"),
    "event_not_found": (404, "event not found"),
    "series_not_found": (404, "series not found"),
    "order_not_found": (404, "order not found"),
    "order_group_not_found": (404, "order group not found"),
    "user_not_found": (404, "user not found"),
    "market_not_open": (400, "market is not open for trading"),  # initialized (before open_time)
    "market_paused": (400, "market is paused"),  # inactive
    "market_closed": (400, "market is closed"),  # closed / determined / finalized
    "trading_paused": (400, "trading is not active on the exchange"),  # outside hours
    "exchange_unavailable": (503, "exchange is under maintenance"),  # maintenance window
    "insufficient_balance": (400, "insufficient balance"),
    "order_not_resting": (400, "order is not resting"),  # amend/decrease of a canceled or executed order
    "order_group_triggered": (400, "order group limit reached; reset the group before adding orders"),
    "too_many_open_orders": (400, "open order limit reached"),
    "too_many_order_groups": (400, "order group limit reached"),
    # conflicts
    "duplicate_client_order_id": (409, "an order with this client_order_id already exists"),
    # rate limiting (the server renders 429 as the bare string body of API.md §6)
    "too_many_requests": (429, "too many requests"),
}


def sim_error(code: str, message: str | None = None, details: str | None = None) -> SimError:
    """The :class:`SimError` for a code of :data:`ERROR_CODES` (its default message unless one is given)."""
    status, default = ERROR_CODES[code]
    return SimError(status, code, message or default, details)


# ----------------------------------------------------------------------------------- unknown-behaviour choices
# DELETE /portfolio/events/orders: "Newly placed orders may also be cancelled during the minute after the
# request" (API.md §3.5). We cancel every order of that user/subaccount created within this window after the
# request that is still resting at the next ``advance()`` (0 disables the sweep).
CANCEL_ALL_SWEEP_MS: Final = 60_000
# order groups: rolling matched-contracts window (API.md §3.10) and cap per user (changelog Jul 23 2026)
ORDER_GROUP_WINDOW_MS: Final = 15_000
MAX_ORDER_GROUPS_PER_USER: Final = 25_000
# open orders per user (API.md §10.3)
MAX_OPEN_ORDERS_PER_USER: Final = 200_000
# default starting balance of an API key's account ($10,000) and the balance precision (API.md §8: direct members
# $0.0001; the fee rounding model floors every balance change to it)
DEFAULT_BALANCE_MICROS: Final = 10_000 * 1_000_000
DEFAULT_BALANCE_PRECISION_MICROS: Final = 100
# settlement timer after determination when the market does not say (Market.settlement_timer_seconds)
DEFAULT_SETTLEMENT_TIMER_S: Final = 60
# the balance check of a create covers the order's collateral plus its worst-case taker fee at the limit price
BALANCE_CHECK_INCLUDES_TAKER_FEE: Final = True
# self-trade prevention compares user ids (all subaccounts of a user are one participant)
STP_SCOPE: Final = "user"
# a fill-or-kill order that cannot fill in full changes nothing (in ``maker`` STP mode the resting own orders it
# would have cancelled stay)
FOK_FAILURE_CANCELS_NOTHING: Final = True
# ``last_update_reason`` when the user cancels (the documented enum has no value for it) and when an IOC/FOK
# remainder is dropped
USER_CANCEL_REASON: Final = ""
IOC_REMAINDER_REASON: Final = ""
# pausing a market cancels its ``cancel_order_on_pause`` orders, and reactivation cancels every resting order
# (API.md §9); both with this reason
PAUSE_CANCEL_REASON: Final = "HaltCancel"
# set_grid leaves resting orders that are off the new grid in place (Kalshi's behaviour is unknown)
SET_GRID_KEEPS_OFF_GRID_ORDERS: Final = True
# realized PnL excludes fees (fees are reported separately as fees_paid)
REALIZED_PNL_EXCLUDES_FEES: Final = True
# amend keeps the order's order_id (V2 amend answers the same order_id; API.md §3.5)
AMEND_KEEPS_ORDER_ID: Final = True
