"""The kalshibot daemon (``kalshibot run``): the asyncio service that wires the pure core to Kalshi.

Theory of operation
-------------------
One event loop, one :class:`asyncio.TaskGroup`. Every input becomes a core event handed to
``Engine.handle(event, now_ms)`` in :meth:`Daemon.on_event` (synchronously, in the loop: the engine never awaits);
its outputs are dispatched at once: order actions go to a queue that one task drains into the executor (so all the
actions of one decision travel together, as one batch), notes go to the journal. The tasks:

* the WebSocket feed (books, trades, fills, our orders, lifecycle; reconnects by itself),
* the order pump (actions -> executor -> REST; outcomes come back through ``on_event``; one submission in flight
  per market, so a slow answer holds up only its own markets: ``daemon_pump``),
* the timer (sleeps until ``engine.next_deadline()``; also rolls the trading day),
* the universe refresher (new markets quoted after their first snapshot; closed ones leave quoting),
* the exchange-status poller (no quoting while trading is inactive or in maintenance),
* the periodic reconciler (resting orders, positions, missed fills from REST),
* the watchdog (sd_notify WATCHDOG=1 from the loop; loop lag for /healthz),
* the control/metrics server (loopback).

A task that fails is logged with its context and stops the service cleanly (the feed recovers by itself, so only
real bugs get there). SIGTERM/SIGINT: stop quoting, cancel our resting orders, verify none remain, flush the
journal, exit 0; a second signal exits at once. Risk state (daily PnL baseline, HALTED) persists in
``logs/state/`` so a restart keeps a daily loss kill.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import structlog

from kalshibot import daemon_ops, daemon_pump, daemon_tasks, logsetup
from kalshibot.config import Settings, load_settings
from kalshibot.core import events as ev
from kalshibot.core.engine import Engine
from kalshibot.core.fixed import Count
from kalshibot.daemon_ops import STALE_MARKET_MS, Housekeeping, health_view, housekeeping, status_view
from kalshibot.daemon_support import (
    EmbeddedVenue,
    StateStore,
    account_label,
    build_auth,
    note_to_record,
    start_embedded_sim,
)
from kalshibot.errors import JournalError, KalshibotError, UsageError
from kalshibot.journal.reader import fill_keys, journal_files
from kalshibot.journal.writer import Journal
from kalshibot.lock import InstanceLock
from kalshibot.metrics import RISK_STATE_CODE, Metrics
from kalshibot.net.clock import check_clock
from kalshibot.net.executor import Executor, ExecutorProtocol, JournalSink
from kalshibot.net.feed import Feed, MarketData
from kalshibot.net.ratelimit import BATCH_CREATE_COST_PER_ORDER
from kalshibot.net.rest import KalshiRest
from kalshibot.sdnotify import Notifier
from kalshibot.wiring import engine_config, trading_day

log = structlog.get_logger("kalshibot.daemon")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        paper: bool = False,
        live: bool = False,
        clock_ms: Any = wall_clock_ms,
        notifier: Notifier | None = None,
        handle_signals: bool = True,
        stale_market_ms: int = STALE_MARKET_MS,
        freeze_gc: bool = False,
    ) -> None:
        self.freeze_gc = freeze_gc
        if settings.environment == "prod" and not live:
            raise UsageError("environment: prod trades real money: add --live to confirm, or run --paper first")
        self.settings = settings
        self.paper = paper
        self.clock_ms = clock_ms
        self.notifier = notifier or Notifier()
        self.handle_signals = handle_signals
        self.stale_market_ms = stale_market_ms
        self.session_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        self.log_dir = Path(settings.logging.dir)
        self.state = StateStore(self.log_dir / "state")
        self.metrics = Metrics()
        self.stop_event = asyncio.Event()
        self.ready = asyncio.Event()
        self.first_two_sided_ms: int | None = None
        self.started_ms = clock_ms()
        self.exit_code = 0
        self.summary: dict[str, Any] = {"orders": 0, "fills": 0, "fees": 0, "risk_events": [], "quoted": set()}
        self.pending: list[ev.Action] = []
        self._pump_wake = asyncio.Event()
        self._pump_stop = False
        self._signals = 0
        self.loop_lag_s = 0.0
        self._day: tuple[str, int, int] | None = None
        self.engine: Engine | None = None
        self.journal: Journal | None = None
        self.feed: Feed | None = None
        self.rest: KalshiRest | None = None
        self.executor: ExecutorProtocol | None = None
        self.venue: EmbeddedVenue | None = None
        self.control_url: str | None = None
        self.tickers: set[str] = set()
        self.last_fill_ts_s: int | None = None

    # ----------------------------------------------------------------------------------------- event path
    def on_event(self, event: ev.Event) -> None:
        """Every input of the service ends here (feed, executor, timers, operator)."""
        assert self.engine is not None
        if self.executor is not None and not self.executor.observe(event):
            return
        if isinstance(event, ev.FillEvent):
            self._on_fill_seen(event)
        market_hook = getattr(self.executor, "on_market_event", None)
        if market_hook is not None and isinstance(
            event, ev.BookSnapshot | ev.BookDelta | ev.TradePrint | ev.MarketAdded | ev.MarketLifecycle
        ):
            market_hook(event)
        now = self.clock_ms()
        try:
            outputs = self.engine.handle(event, now)
        except KalshibotError as e:  # a bad input must not kill the service: log it with its context
            log.error("engine refused an event", event=type(event).__name__, error=str(e))
            return
        self.dispatch(outputs, now)

    def dispatch(self, outputs: Sequence[ev.Output], now: int) -> None:
        actions: list[ev.Action] = []
        for o in outputs:
            if isinstance(o, ev.IntentNote | ev.RiskNote | ev.LifecycleNote | ev.SettlementNote):
                self._journal_note(o, now)
            else:
                actions.append(o)
        if actions:
            self.pending.extend(actions)
            self._pump_wake.set()

    def _journal_note(self, note: ev.Note, now: int) -> None:
        if isinstance(note, ev.IntentNote):
            self.metrics.quotes.labels(note.ticker).inc()
            if note.count > 0:
                self.summary["quoted"].add(note.ticker)
        elif isinstance(note, ev.RiskNote):
            self.metrics.risk_state.set(RISK_STATE_CODE.get(note.state, 0))
            self.summary["risk_events"].append(f"{note.state} {note.limit} {note.scope}:{note.scope_id}".strip())
            log.warning("risk", state=note.state, limit=note.limit, scope=note.scope, message=note.message)
            self.persist_state()
        self._write(note_to_record(note, self.session_id, now))

    def _write(self, record: Any) -> None:
        if self.journal is None:
            return
        try:
            self.journal.write(record)
        except JournalError as e:
            self.journal_failed(e)

    def journal_failed(self, e: JournalError) -> None:
        """The audit trail is broken (disk full?): stop trading rather than trade blind (HALTED, persisted)."""
        log.critical("journal write failed; halting", error=str(e))
        if self.engine is not None and self.engine.risk_state != "HALTED":
            now = self.clock_ms()
            self.dispatch(self.engine.handle(ev.OperatorCommand("halt", "journal write failed"), now), now)
            self.persist_state()

    def _on_fill_seen(self, fill: ev.FillEvent) -> None:
        self.summary["fills"] += 1
        self.summary["fees"] += fill.fee
        self.metrics.fills.labels(fill.ticker).inc()
        self.metrics.fill_contracts.labels(fill.ticker).inc(fill.count / 100)

    def _on_market_data(self, md: MarketData) -> None:
        if self.journal is None:
            return
        try:
            self.journal.market(md.type, md.ts_ms, **md.fields)
        except JournalError as e:
            self.journal_failed(e)

    # ------------------------------------------------------------------------------------------- tasks
    async def _pump(self) -> None:
        """Drain queued actions into the executor, one submission per batch-create request (so each is
        acknowledged as it returns, and what the engine decides while it waits on the write bucket joins the unsent
        creates: a cancel of a queued create drops the pair, ``Executor._coalesce``), one lane per market (a slow
        answer holds up only its own markets): :mod:`kalshibot.daemon_pump`."""
        await daemon_pump.run_pump(self)

    def _create_step(self) -> int:
        """Creates per batch request, as ``KalshiRest.batch_create`` chunks them (0: no REST client, no split)."""
        if self.rest is None or self.paper:
            return 0
        return min(self.rest.max_batch_items, self.rest.limiter.write.max_items(BATCH_CREATE_COST_PER_ORDER))

    def _check_two_sided(self) -> None:
        daemon_ops.note_first_two_sided(self)

    async def _timer(self) -> None:
        """Wake the engine at its deadlines and at least once a second (the daily-loss check runs on Timer), and
        do the housekeeping (journal flush, stale markets, metrics) on the same beat."""
        assert self.engine is not None
        hk = Housekeeping()
        last_timer = 0
        while True:
            now = self.clock_ms()
            self._roll_day(now)
            deadline = self.engine.next_deadline()
            wait_ms = 1000 if deadline is None else min(max(deadline - now, 0), 1000)
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
            now = self.clock_ms()
            if (deadline is not None and now >= deadline) or now - last_timer >= 1000:
                last_timer = now
                self.on_event(ev.Timer())
            housekeeping(self, hk, now)

    def _roll_day(self, now: int) -> None:
        assert self.engine is not None
        if self._day is not None and now < self._day[2]:
            return
        self._day = trading_day(now, self.settings.risk.trading_day_tz)
        self.engine.set_trading_day(self._day[0], self._day[1])
        self.persist_state()

    async def _refresh_universe(self) -> None:
        await daemon_tasks.refresh_universe(self)

    async def _load_specs(self) -> list[ev.MarketSpec]:
        return await daemon_tasks.load_specs(self)

    async def reconcile_now(self, *, startup: bool) -> None:
        await daemon_tasks.reconcile_now(self, startup=startup)

    # ------------------------------------------------------------------------------------------ control
    def status(self) -> dict[str, Any]:
        return status_view(self)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return health_view(self)

    def operator(self, command: str, reason: str = "operator") -> None:
        assert self.engine is not None
        self.on_event(ev.OperatorCommand(command, reason))  # type: ignore[arg-type]
        self.persist_state()

    async def resume(self, reason: str = "operator") -> None:
        """``POST /resume``: a triggered order group rejects every create until it is reset, so reset it first,
        then resume (found by the chaos matrix's group_trigger row, issue 10). Answers once both took effect."""
        group = getattr(self.executor, "order_group_id", None)
        if group and self.rest is not None and not self.paper:
            try:
                await self.rest.reset_order_group(group)
            except KalshibotError as e:
                log.error("order group reset failed; quotes may be rejected", order_group_id=group, error=str(e))
        self.operator("resume", reason)

    def persist_state(self) -> None:
        if self.engine is not None:
            self.state.save(self.engine.export_state())

    # --------------------------------------------------------------------------------------------- run
    async def run(self, duration_s: float | None = None) -> int:
        s = self.settings
        lock = InstanceLock(self.log_dir / "state", account_label(s), s.subaccount)
        lock.acquire()
        try:
            async with contextlib.AsyncExitStack() as stack:
                await self._start(stack)
                await self._serve(duration_s)
                await self._shutdown()
        finally:
            lock.release()
        return self.exit_code

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        s = self.settings
        sim_base: str | None = None
        key_override = None
        if s.embedded_sim:
            self.venue = await start_embedded_sim(s)
            stack.push_async_callback(self.venue.stop)
            sim_base, key_override = self.venue.base_url, self.venue.credentials
        rest_url, ws_url = s.resolved_urls(sim_base)
        auth = build_auth(s, rest_url, key_override)
        self.rest = KalshiRest(rest_url, auth, clock_ms=self.clock_ms)
        stack.push_async_callback(self.rest.aclose)
        with contextlib.suppress(KalshibotError):
            await self.rest.configure_rate_limits()
        await check_clock(
            self.rest, warn_ms=s.auth.clock_skew_warn_ms, fatal_ms=s.auth.clock_skew_max_ms, clock_ms=self.clock_ms
        )

        self.journal = Journal(
            self.log_dir,
            self.session_id,
            fsync=s.logging.journal_fsync,
            retention_days=s.logging.retention_days,
            tz=s.risk.trading_day_tz,
            clock_ms=self.clock_ms,
        )
        stack.callback(self.journal.close)
        known = fill_keys(journal_files(self.log_dir, "journal"))
        now = self.clock_ms()
        self.engine = Engine(
            engine_config(s, now),
            client_order_id_prefix=s.client_order_id_prefix,
            id_seed=self.session_id[-6:],
        )
        saved = self.state.load()
        if saved:
            try:
                self.engine.import_state(saved)
            except ValueError as e:  # unreadable or partial state: a kill may be hidden in it, so start HALTED
                log.error("persisted risk state unusable; starting HALTED", error=str(e))
                reason = str(saved.get("halt_reason") or "unusable persisted risk state")
                self.engine.handle(ev.OperatorCommand("halt", reason), now)
        self._roll_day(now)

        if self.paper:
            from kalshibot.paper import PaperExecutor

            self.executor = PaperExecutor(self.on_event, cast(JournalSink, self.journal), clock_ms=self.clock_ms)
        else:
            group_id: str | None = None
            try:
                group_id = await self.rest.create_order_group(
                    Count(s.risk.order_group_contracts_limit), subaccount=s.subaccount
                )
            except KalshibotError as e:
                log.warning("order group not created; quoting without one", error=str(e))
            executor = Executor(
                self.rest,
                cast(JournalSink, self.journal),
                prefix=s.client_order_id_prefix,
                subaccount=s.subaccount,
                order_group_id=group_id,
                on_event=self.on_event,
                on_resync=self._resync,
                clock_ms=self.clock_ms,
                known_fills=known,
            )
            self.executor = executor
            stack.push_async_callback(executor.aclose)

        specs = await self._load_specs()
        self.tickers = {sp.ticker for sp in specs}
        self.write_session("start")  # the session record names the universe
        for spec in specs:
            self.on_event(ev.MarketAdded(spec))
        log.info("universe", markets=len(specs), series=sorted({sp.series_ticker for sp in specs}))
        await self.reconcile_now(startup=True)
        # startup leaves long-lived objects (models, specs, books) and garbage in the young generations; collecting
        # once and freezing the survivors keeps later GC passes from walking them in the middle of a quote cycle
        # (an older-generation pass after setup took ~1 ms on the loop in the order-path benchmark, issue 9)
        if self.freeze_gc:  # a process-wide setting: only the CLI's own daemon process sets it
            gc.collect()
            gc.freeze()
        # later reconciliations read fills from this session's start on (the startup one read them all). The cursor
        # used to follow the newest fill seen, which skipped a fill missed during a feed outage as soon as a newer
        # one arrived (found by the chaos matrix's ws_drop row, issue 10)
        self.last_fill_ts_s = self.started_ms // 1000 - 60

        self.feed = Feed(ws_url, auth, self.on_event, self._on_market_data, clock_ms=self.clock_ms)
        self.feed.set_markets(self.tickers)

        from kalshibot.control import ControlHandlers, ControlServer, control_address_file

        handlers = ControlHandlers(
            status=self.status,
            health=self.health,
            halt=lambda reason: self.operator("halt", reason),
            resume=self.resume,
            metrics=self.metrics.render,
        )
        ctl = ControlServer(handlers, s.control.host, s.control.port)
        try:
            await ctl.start()
        except OSError as e:
            log.warning("control port busy; using an ephemeral port", port=s.control.port, error=str(e))
            ctl = ControlServer(handlers, s.control.host, 0)
            await ctl.start()
        stack.push_async_callback(ctl.stop)
        self.control_url = ctl.url
        self.state.write_control_address(control_address_file(str(self.log_dir / "state")), ctl.url)

    def _resync(self, ticker: str) -> None:
        if self.feed is not None:
            self.feed.resync(ticker, "engine")

    def write_session(self, phase: str) -> None:
        daemon_ops.write_session(self, phase)

    async def _serve(self, duration_s: float | None) -> None:
        assert self.feed is not None
        loop = asyncio.get_running_loop()
        if self.handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._supervised("feed", self.feed.run()), name="feed"),
                    tg.create_task(self._supervised("pump", self._pump()), name="pump"),
                    tg.create_task(self._supervised("timer", self._timer()), name="timer"),
                    tg.create_task(
                        self._supervised("universe", daemon_tasks.universe_refresher(self)), name="universe"
                    ),
                    tg.create_task(self._supervised("status", daemon_tasks.status_poller(self)), name="status"),
                    tg.create_task(self._supervised("reconcile", daemon_tasks.reconciler(self)), name="reconcile"),
                    tg.create_task(self._supervised("watchdog", daemon_tasks.watchdog(self)), name="watchdog"),
                ]
                self.notifier.ready(f"quoting {len(self.tickers)} markets")
                self.ready.set()
                stopper = asyncio.ensure_future(self.stop_event.wait())
                waits: list[asyncio.Future[Any]] = [stopper]
                if duration_s is not None:
                    waits.append(asyncio.ensure_future(asyncio.sleep(duration_s)))
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
                self.feed.stop()
                pump = tasks[1]
                for t in tasks:
                    if t is not pump:
                        t.cancel()
                # let a request in flight finish (its answer is the engine's news), then stop the pump: shutdown
                # drains what it had not sent yet
                self._pump_stop = True
                self._pump_wake.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pump), 5.0)
                pump.cancel()
        except* Exception as eg:  # pragma: no cover - _supervised already converts failures
            for e in eg.exceptions:
                log.error("task group failed", error=repr(e))
            self.exit_code = 1
        finally:
            if self.handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    async def _supervised(self, name: str, coro: Any) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("task failed; shutting down", task=name, error=repr(e))
            self.exit_code = 1
            self.stop_event.set()

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals >= 2:
            log.warning("second signal: exiting at once")
            os._exit(1)
        log.info("signal received: stopping")
        self.stop_event.set()

    async def _shutdown(self) -> None:
        await daemon_ops.shutdown(self)


def run_main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    logsetup.configure(settings.logging.level, settings.logging.format)
    daemon = Daemon(settings, paper=args.paper, live=args.live, freeze_gc=True)
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:
        return 130
