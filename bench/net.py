"""Figures 2, 3 (signatures, loop stall) and 7: the daemon's network paths against ``kalshibot sim`` run in
ANOTHER process over loopback (rate limits off).

* Feed throughput: the simulator's precomputed firehose (docs/simulator.md) for one market. Ceiling: a bare
  ``async for msg in ws: orjson.loads(msg)`` loop over the same stream, same two processes. Ours: the daemon's
  :class:`~kalshibot.net.feed.Feed` (signed handshake, per-sid sequence checks, the fast decoder) applying every
  delta to an :class:`~kalshibot.core.book.OrderBook`; at the end that book must equal the exchange's
  (``GET /markets/{t}/orderbook``). The ceiling rate is also the simulator's WebSocket-out figure (figure 7).
* Order path: the :class:`~kalshibot.core.engine.Engine` with the default settings, fed book deltas that move its
  quotes, its actions carried out by the real :class:`~kalshibot.net.executor.Executor` / ``KalshiRest`` (Ed25519
  keys). Counted: signatures per HTTP request and per quote update; the event loop's longest stall per quote
  cycle: the longest loop iteration in CPU time of the loop's thread (best of 3 runs of 60 cycles), with the
  wall-clock lateness of a 1 ms heartbeat task alongside (it also counts the OS running other processes).
* Simulator write capacity: signed batch creates of 20 items from 4 concurrent clients.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from bench.common import Keys, Result, lower, sim_process, upper
from bench.scenarios import QUIET, write
from kalshibot.core import events as ev
from kalshibot.core.book import OrderBook
from kalshibot.core.fixed import ONE_DOLLAR, Count, Price, contracts, dollars, parse_count, parse_price
from kalshibot.kalshi.signing import auth_headers
from kalshibot.net.auth import KalshiAuth, load_private_key
from kalshibot.net.feed import Feed

WS_PATH = "/trade-api/ws/v2"


def _auth(keys: Keys) -> KalshiAuth:
    return KalshiAuth(keys.key_id, load_private_key(keys.private_pem))


async def _open_ticker(client: httpx.AsyncClient, rest_url: str) -> str:
    r = await client.get(f"{rest_url}/markets", params={"status": "open", "limit": 100})
    r.raise_for_status()
    markets = r.json()["markets"]
    if not markets:
        raise RuntimeError("the simulator has no open market")
    return str(markets[0]["ticker"])


# ------------------------------------------------------------------------------------------- figure 2 (+7 ws)
async def _ceiling(sim_ws: str, rest_url: str, base_url: str, keys: Keys, ticker: str, n: int) -> float:
    auth = _auth(keys)
    async with (
        websockets.connect(sim_ws, additional_headers=await auth.ws_headers(sim_ws), max_size=2**24) as ws,
        httpx.AsyncClient() as client,
    ):
        await ws.send(
            orjson.dumps(
                {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_ticker": ticker}}
            ).decode()
        )
        async for msg in ws:  # until the snapshot
            if orjson.loads(msg).get("type") == "orderbook_snapshot":
                break
        t0 = time.perf_counter()
        (await client.post(f"{base_url}/admin/firehose", json={"n": n, "ticker": ticker})).raise_for_status()
        got = 0
        async for msg in ws:
            orjson.loads(msg)
            got += 1
            if got >= n:
                break
        return n / (time.perf_counter() - t0)


_BOOK_EVENTS = (ev.BookDelta, ev.BookSnapshot)  # built once: a `X | Y` union is a new object on every call


async def _ours_feed(sim_ws: str, rest_url: str, base_url: str, keys: Keys, ticker: str, n: int) -> tuple[float, bool]:
    book = OrderBook(ticker)
    done = asyncio.Event()
    target = [0]

    def on_event(e: ev.Event) -> None:
        if isinstance(e, _BOOK_EVENTS) and e.ticker == ticker:
            book.apply(e)
            if feed.stats.deltas >= target[0] > 0:
                done.set()

    feed = Feed(sim_ws, _auth(keys), on_event, use_yes_price=True, ping_interval_s=None)
    feed.set_markets([ticker])
    task = asyncio.create_task(feed.run())
    async with httpx.AsyncClient() as client:
        while not feed.book_ready(ticker):  # noqa: ASYNC110 - the feed has no "book ready" event to await
            await asyncio.sleep(0.01)
        target[0] = feed.stats.deltas + n
        t0 = time.perf_counter()
        (await client.post(f"{base_url}/admin/firehose", json={"n": n, "ticker": ticker})).raise_for_status()
        await asyncio.wait_for(done.wait(), 120)
        rate = n / (time.perf_counter() - t0)
        identical = False
        for _ in range(100):  # the exchange's own participants may move the book meanwhile: compare until equal
            r = await client.get(f"{rest_url}/markets/{ticker}/orderbook")
            ob = r.json()["orderbook_fp"]
            yes = sorted((parse_price(p), parse_count(c)) for p, c in ob.get("yes_dollars") or [])
            no = sorted((parse_price(p), parse_count(c)) for p, c in ob.get("no_dollars") or [])
            if yes == sorted(book.levels("yes")) and no == sorted(book.levels("no")) and book.valid:
                identical = True
                break
            await asyncio.sleep(0.05)
    feed.stop()
    await asyncio.wait_for(task, 10)
    return rate, identical


async def _feed_figures(keys: Keys, n: int, repeats: int) -> list[Result]:
    with sim_process(keys, "--scenario", "benign", "--faults") as sim:
        async with httpx.AsyncClient() as client:
            ticker = await _open_ticker(client, sim.rest_url)
        ceilings, ours, identical = [], [], True
        for _ in range(repeats):
            ceilings.append(await _ceiling(sim.ws_url, sim.rest_url, sim.base_url, keys, ticker, n))
            rate, same = await _ours_feed(sim.ws_url, sim.rest_url, sim.base_url, keys, ticker, n)
            ours.append(rate)
            identical = identical and same
    ceiling, rate = max(ceilings), max(ours)
    share = rate / ceiling
    notes = {"ceiling_msgs_s": round(ceiling), "deltas": n, "books_identical": identical}
    feed = lower("feed_throughput", rate, "deltas/s", 50_000, **notes)
    feed.met = feed.met and share >= 0.8 and identical
    return [
        feed,
        lower("feed_vs_bare_loop", share * 100, "%", 80, **notes),
        lower("sim_ws_out", ceiling, "msgs/s", 50_000, **notes),
    ]


# ----------------------------------------------------------------------------------------------- figure 7 writes
async def _writes(keys: Keys, batches: int, workers: int = 4, items: int = 20) -> tuple[float, int]:
    signer = load_private_key(keys.private_pem)
    path = "/trade-api/v2/portfolio/events/orders/batched"
    with sim_process(keys, "--scenario", str(_QUIET_PATH[0])) as sim:
        async with httpx.AsyncClient(timeout=30) as client:
            ticker = await _open_ticker(client, sim.rest_url)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for b in range(batches):
                queue.put_nowait(b)
            ok = [0]

            async def worker() -> None:
                while not queue.empty():
                    b = queue.get_nowait()
                    orders = [
                        {
                            "ticker": ticker,
                            "client_order_id": f"bench-{b}-{i}",
                            "side": "bid",
                            "price": "0.0100",
                            "count": "1.00",
                            "time_in_force": "good_till_canceled",
                            "self_trade_prevention_type": "maker",
                        }
                        for i in range(items)
                    ]
                    h = auth_headers(signer, keys.key_id, "POST", path, int(time.time() * 1000))
                    r = await client.post(sim.base_url + path, json={"orders": orders}, headers=h)
                    r.raise_for_status()
                    ok[0] += sum(1 for o in r.json()["orders"] if not o.get("error"))

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(workers)))
            el = time.perf_counter() - t0
    return ok[0] / el, ok[0]


_QUIET_PATH: list[Path] = []


# -------------------------------------------------------------------------------------------- figure 3 (order path)
class _Heartbeat:
    """Longest lateness of a 1 ms sleep since the last ``take()``: how long the loop could not run anything, in
    wall-clock time (so it also counts time in which the OS ran other processes instead of this one)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = False

    async def run(self) -> None:
        while not self._stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - t - 0.001)

    def take(self) -> float:
        w, self.worst = self.worst, 0.0
        return w

    def stop(self) -> None:
        self._stop = True


class _TimedLoop(asyncio.SelectorEventLoop):
    """The default event loop, plus the longest CPU time (of the loop's thread) one loop iteration took: the longest
    stretch in which nothing else on the loop could run because code on it was running. Every callback of the
    iteration counts (all the quote cycle's work runs on this loop); time in which the OS ran other processes (the
    simulator on the same 2 shared cores, other work on the machine) does not, as it is not our code's."""

    worst_cpu = 0.0

    def _run_once(self) -> None:
        c = time.thread_time()
        super()._run_once()  # type: ignore[attr-defined]  # (private, in every CPython 3.11+ selector loop)
        self.worst_cpu = max(self.worst_cpu, time.thread_time() - c)

    def take(self) -> float:
        w, self.worst_cpu = self.worst_cpu, 0.0
        return w


async def _order_path(keys: Keys, cycles: int) -> dict[str, Any]:
    from kalshibot.config import parse_settings_text
    from kalshibot.core.engine import Engine
    from kalshibot.core.grid import PriceGrid
    from kalshibot.net.executor import Executor
    from kalshibot.net.ratelimit import RateLimiter
    from kalshibot.net.rest import KalshiRest
    from kalshibot.wiring import engine_config, trading_day

    class _NoJournal:
        def record(self, type_: str, ts_ms: int, **fields: Any) -> None:
            pass

    with sim_process(keys, "--scenario", str(_QUIET_PATH[0])) as sim:
        auth = _auth(keys)
        rest = KalshiRest(sim.rest_url, auth, limiter=RateLimiter(read=(1e6, 10**9), write=(1e6, 10**9)))
        async with httpx.AsyncClient() as client:
            ticker = await _open_ticker(client, sim.rest_url)
        settings = parse_settings_text("", source="defaults", env={}, env_file=None, require_secrets=False)
        now = int(time.time() * 1000)
        engine = Engine(engine_config(settings, now), client_order_id_prefix="kb-", id_seed=str(now))
        day, start, _ = trading_day(now, settings.risk.trading_day_tz)
        engine.set_trading_day(day, start)
        inbox: list[ev.Event] = []
        ex = Executor(rest, _NoJournal(), prefix="kb-", subaccount=None, order_group_id=None, on_event=inbox.append)
        spec = ev.MarketSpec(ticker, "KXQUIET", "KXQUIET", PriceGrid.linear_cent(), close_ts_ms=now + 3600_000)
        engine.handle(ev.MarketAdded(spec), now)
        hb = _Heartbeat()
        hb_task = asyncio.create_task(hb.run())

        async def carry_out(out: list[ev.Output]) -> int:
            """Run the actions and every consequence; returns the number of executor submissions."""
            subs = 0
            while True:
                acts = [a for a in out if isinstance(a, ev.PlaceOrder | ev.AmendOrder | ev.CancelOrder)]
                if acts:
                    subs += 1
                    await ex.submit(acts)
                if not inbox:
                    return subs
                out = []
                while inbox:
                    out += engine.handle(inbox.pop(0), int(time.time() * 1000))

        snap = ev.BookSnapshot(
            ticker, 1, 1, ((dollars("0.40"), contracts(50)),), ((Price(ONE_DOLLAR - dollars("0.50")), contracts(50)),)
        )
        await carry_out(engine.handle(snap, int(time.time() * 1000)))
        # the setup's garbage (simulator start, clients, the warm-up round) is collected now, not by the first
        # cycles' young-generation collections; the cycles' own collections still count
        gc.collect()
        # (so that the collection's loop iteration ends before the first cycle's, and the heartbeat has woken since:
        # else its lateness from the collection is reported as the first cycle's wall stall, ~18 ms)
        await asyncio.sleep(0.005)
        stalls: list[float] = []  # longest loop iteration (CPU) per cycle
        loop = asyncio.get_running_loop()
        assert isinstance(loop, _TimedLoop), "run _order_path with asyncio.Runner(loop_factory=_TimedLoop)"
        wall_stalls: list[float] = []
        sigs: list[int] = []
        reqs0, sig0 = rest.requests, auth.signatures
        seq = 1
        bid = 40
        updates = 0
        for i in range(cycles):
            # the best bid walks up and down 3 cents: every step moves the fair value past the requote tolerance
            step = 3 if (i // 4) % 2 == 0 else -3
            seq += 1
            d1 = ev.BookDelta(ticker, 1, seq, "yes", dollars(f"0.{bid + step:02d}"), contracts(50))
            seq += 1
            d2 = ev.BookDelta(ticker, 1, seq, "yes", dollars(f"0.{bid:02d}"), Count(-contracts(50)))
            bid += step
            hb.take()
            loop.take()
            s0 = auth.signatures
            out = engine.handle(d1, int(time.time() * 1000)) + engine.handle(d2, int(time.time() * 1000))
            if await carry_out(out):
                updates += 1
                sigs.append(auth.signatures - s0)
            await asyncio.sleep(0.003)  # let the heartbeat see the end of the cycle
            wall_stalls.append(hb.take())
            stalls.append(loop.take())
        hb.stop()
        await hb_task
        requests = rest.requests - reqs0
        signatures = auth.signatures - sig0
        await ex.aclose()
        await rest.aclose() if hasattr(rest, "aclose") else None
    return {
        "updates": updates,
        "signatures": signatures,
        "requests": requests,
        "sig_per_update": signatures / max(1, updates),
        "max_stall_ms": max(stalls) * 1000 if stalls else 0.0,
        "p99_stall_ms": sorted(stalls)[int(len(stalls) * 0.99) - 1] * 1000 if stalls else 0.0,
        "wall_max_stall_ms": max(wall_stalls) * 1000 if wall_stalls else 0.0,
    }


def _order_path_best(keys: Keys, cycles: int, repeats: int) -> dict[str, Any]:
    """``repeats`` whole order-path runs (each its own simulator): counts summed over all of them; the stall of the
    run with the lowest longest stall (best of N, like the other figures), the heartbeat's wall-clock one
    likewise."""
    ops = []
    for _ in range(repeats):
        with asyncio.Runner(loop_factory=_TimedLoop) as runner:
            ops.append(runner.run(_order_path(keys, cycles)))
    best = min(ops, key=lambda o: float(o["max_stall_ms"]))
    out: dict[str, Any] = {k: sum(o[k] for o in ops) for k in ("updates", "signatures", "requests")}
    out["sig_per_update"] = out["signatures"] / max(1, out["updates"])
    out["max_stall_ms"] = best["max_stall_ms"]
    out["p99_stall_ms"] = best["p99_stall_ms"]
    out["wall_max_stall_ms"] = min(float(o["wall_max_stall_ms"]) for o in ops)
    out["stall_runs_ms"] = [round(float(o["max_stall_ms"]), 3) for o in ops]
    out["repeats"] = repeats
    return out


def run(
    work: Path,
    keys: Keys,
    *,
    firehose: int = 100_000,
    repeats: int = 2,
    batches: int = 200,
    cycles: int = 60,
    stall_repeats: int = 3,
):
    _QUIET_PATH[:] = [write(work, "quiet", QUIET)]
    out = asyncio.run(_feed_figures(keys, firehose, repeats))
    rate, n = asyncio.run(_writes(keys, batches))
    out.append(lower("sim_order_writes", rate, "orders/s", 2000, orders=n))
    op = _order_path_best(keys, cycles, stall_repeats)
    guide_sigs = 4.0  # the guide: cancel bid, cancel ask, create bid, create ask: one signed request each
    out.append(
        upper(
            "signatures_per_request",
            op["signatures"] / max(1, op["requests"]),
            "sig",
            1.0,
            baseline=1.0,
            **op,
        )
    )
    out.append(upper("signatures_per_quote_update", op["sig_per_update"], "sig", guide_sigs, baseline=guide_sigs, **op))
    out.append(upper("loop_stall_per_quote_cycle", op["max_stall_ms"], "ms", 1.0, **op))
    return out
