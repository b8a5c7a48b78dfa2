"""``kalshibot cancel-all [--config PATH] [--account]``: take orders down without a running daemon.

Default: this bot's resting orders only, found by client_order_id prefix on the configured subaccount and
cancelled by id in batches (the same way the daemon cancels). ``--account``: the panic button, Kalshi's
account-wide ``DELETE /portfolio/events/orders`` for the configured subaccount (API.md §3.5; Kalshi notes that
orders placed within the following minute may be cancelled too).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from kalshibot.errors import UsageError
from kalshibot.net.auth import auth_from_settings
from kalshibot.net.reconcile import is_ours
from kalshibot.net.rest import CancelRequest, KalshiRest


async def cancel_all(rest: KalshiRest, *, prefix: str, subaccount: int | None, account: bool) -> int:
    """Returns how many orders were cancelled (``account``: how many were resting before the call)."""
    resting = await rest.list_orders(status="resting", subaccount=subaccount)
    if account:
        await rest.cancel_all(subaccount=subaccount)
        return len(resting)
    ours = [o for o in resting if is_ours(o.client_order_id, prefix)]
    if not ours:
        return 0
    answers = await rest.batch_cancel([CancelRequest(o.order_id, o.ticker, subaccount) for o in ours])
    failed = [a for a in answers if a.error is not None]
    for a in failed:
        assert a.error is not None
        print(f"cancel {a.order_id}: {a.error.code}: {a.error.message}", file=sys.stderr)
    return len(ours) - len(failed)


def cancel_all_main(args: argparse.Namespace) -> int:
    from kalshibot.config import load_settings

    settings = load_settings(args.config)
    if settings.embedded_sim:
        raise UsageError(
            f"{args.config}: environment sim without sim_url runs an embedded simulator that has no orders "
            "outside a running daemon; set sim_url to a running `kalshibot sim`"
        )
    rest_url, _ws_url = settings.resolved_urls()

    async def go() -> int:
        async with KalshiRest(rest_url, auth_from_settings(settings, rest_url)) as rest:
            return await cancel_all(
                rest,
                prefix=settings.client_order_id_prefix,
                subaccount=settings.subaccount,
                account=bool(args.account),
            )

    n = asyncio.run(go())
    scope = "account" if args.account else f"prefix {settings.client_order_id_prefix!r}"
    print(f"cancelled {n} resting order(s) ({scope}, subaccount {settings.subaccount})")
    return 0


__all__ = ["cancel_all", "cancel_all_main"]
