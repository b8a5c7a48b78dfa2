"""Fault injection (``kalshibot sim --faults``; docs/simulator.md "Faults").

Theory of operation
-------------------
A fault is *armed* (``inject(name, **params)``) and then *fires* when matching traffic passes through one of three
hook points; every firing increments ``counters[name]`` so a test can prove the fault happened:

* REST, before the handler (``rest_error``, ``rest_429``, ``rest_delay``) and inside the order handlers
  (``lost_ack``, ``ack_after_fill``, ``cancel_404_after_fill``) via :meth:`take`;
* WebSocket, in :meth:`ws_transform` on each outbound data frame after its ``seq`` was assigned (``ws_skip``,
  ``ws_repeat``, ``ws_reorder`` on sequenced channels; ``ws_duplicate``, ``ws_reorder_unsequenced`` on fill /
  user_orders; ``ws_delay`` on any);
* immediately, for actions (``ws_drop``, ``ws_channel_error``, ``pause_market``, ``activate_market``,
  ``close_early``, ``set_grid``, ``set_fee``, ``trigger_order_group``, ``firehose``).

``inject(..., at_ms=T)`` schedules any fault for wall-clock time T instead (the server's driver loop fires it), which
is how scenarios script faults. The injector exists whether or not ``--faults`` is on; only the HTTP admin
endpoint is gated by it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshibot.sim.server import SimServer
    from kalshibot.sim.ws import Conn, Sub

SEQUENCED_CHANNELS = ("orderbook_delta", "trade", "market_lifecycle_v2", "order_group_updates")
UNSEQUENCED_CHANNELS = ("fill", "user_orders")

# name -> (kind, {param: default}); docs/simulator.md documents each
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rest_error": ("rest", {"count": 1, "status": 500, "path": "", "method": ""}),
    "rest_429": ("rest", {"count": 3, "path": "", "method": ""}),
    "rest_delay": ("rest", {"count": 1, "delay_ms": 1000, "path": "", "method": ""}),
    "lost_ack": ("order", {"count": 1, "hold_ms": 60_000}),
    "ack_after_fill": ("order", {"count": 1, "max_ms": 10_000}),
    "cancel_404_after_fill": ("order", {"count": 1}),
    "ws_skip": ("ws", {"count": 1, "channel": "orderbook_delta", "user_id": None}),
    "ws_repeat": ("ws", {"count": 1, "channel": "orderbook_delta", "user_id": None}),
    "ws_reorder": ("ws", {"count": 1, "channel": "orderbook_delta", "user_id": None, "release_ms": 1000}),
    "ws_duplicate": ("ws", {"count": 1, "channel": "fill", "user_id": None}),
    "ws_reorder_unsequenced": ("ws", {"count": 1, "channel": "fill", "user_id": None, "release_ms": 1000}),
    "ws_delay": ("ws", {"count": 1, "channel": "orderbook_delta", "user_id": None, "delay_ms": 500}),
    "ws_drop": ("now", {"user_id": None}),
    "ws_channel_error": ("now", {"channel": "orderbook_delta", "user_id": None}),
    "pause_market": ("now", {"ticker": None}),
    "activate_market": ("now", {"ticker": None}),
    "close_early": ("now", {"ticker": None, "result": "yes", "settle": True}),
    "set_grid": ("now", {"ticker": None, "price_level_structure": "deci_cent", "price_ranges": None}),
    "set_fee": ("now", {"series_ticker": None, "fee_type": "quadratic", "fee_multiplier": 1.0}),
    "trigger_order_group": ("now", {"order_group_id": None}),
    "firehose": ("now", {"n": 10_000, "ticker": None}),
}


class FaultError(ValueError):
    """A bad ``inject`` call (unknown fault, bad parameter): the admin endpoint answers 400."""


@dataclass(eq=False, slots=True)
class Armed:
    name: str
    params: dict[str, Any]
    remaining: int
    held: dict[Any, bytes] = field(default_factory=dict)


class FaultInjector:
    def __init__(self, server: SimServer, enabled: bool = False) -> None:
        self.server = server
        self.enabled = enabled
        self.counters: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.armed: list[Armed] = []
        self.ws_armed = False
        self._ws: list[Armed] = []
        self._schedule: list[tuple[int, int, str, dict[str, Any]]] = []
        self._tie = itertools.count()
        self._timers: list[asyncio.TimerHandle] = []

    # -- arming --------------------------------------------------------------------------------------------------
    def inject(self, fault: str, at_ms: int | None = None, **params: Any) -> dict[str, Any]:
        """Arm (or, for actions, perform) ``fault``; ``at_ms`` schedules it. Returns a small JSON-able report."""
        spec = FAULTS.get(fault)
        if spec is None:
            raise FaultError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
        kind, defaults = spec
        unknown = set(params) - set(defaults)
        if unknown:
            raise FaultError(f"{fault}: unknown parameter(s) {sorted(unknown)}; allowed: {sorted(defaults)}")
        p = {**defaults, **params}
        if at_ms is not None:
            heapq.heappush(self._schedule, (int(at_ms), next(self._tie), fault, params))
            self.server.poke()
            return {"fault": fault, "scheduled_ms": int(at_ms)}
        if kind == "now":
            return {"fault": fault, **self._act(fault, p)}
        count = int(p.get("count", 1))
        if count < 1:
            raise FaultError(f"{fault}: count must be >= 1")
        if kind == "ws":
            ch = p["channel"]
            if fault in ("ws_skip", "ws_repeat", "ws_reorder") and ch not in SEQUENCED_CHANNELS:
                raise FaultError(f"{fault}: channel must be one of {SEQUENCED_CHANNELS}")
            if fault in ("ws_duplicate", "ws_reorder_unsequenced") and ch not in UNSEQUENCED_CHANNELS:
                raise FaultError(f"{fault}: channel must be one of {UNSEQUENCED_CHANNELS}")
        if fault == "rest_error" and not 500 <= int(p["status"]) <= 599:
            raise FaultError("rest_error: status must be a 5xx")
        a = Armed(fault, p, count)
        (self._ws if kind == "ws" else self.armed).append(a)
        self.ws_armed = bool(self._ws)
        return {"fault": fault, "armed": count}

    def clear(self) -> None:
        self.armed.clear()
        self._ws.clear()
        self.ws_armed = False
        self._schedule.clear()

    def status(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "armed": [{"fault": a.name, "remaining": a.remaining, **a.params} for a in self.armed + self._ws],
            "scheduled": [{"fault": f, "at_ms": t, **p} for t, _, f, p in sorted(self._schedule)],
        }

    # -- scheduled faults (driven by SimServer._drive) --------------------------------------------------------------
    def load_script(self, entries: Any, start_ms: int, speed: float = 1.0) -> int:
        """Schedule a fault script: a list of ``{"at_s": S, "fault": NAME, ...params}`` where ``at_s`` is scenario
        seconds after ``start_ms`` (divided by ``speed`` like every scenario time). Returns the number scheduled;
        a malformed entry raises FaultError naming its index."""
        n = 0
        for i, entry in enumerate(entries or ()):
            if not isinstance(entry, dict) or not isinstance(entry.get("fault"), str):
                raise FaultError(f"faults[{i}]: expected a mapping with 'fault' and 'at_s'")
            params = {k: v for k, v in entry.items() if k not in ("fault", "at_s")}
            name = entry["fault"]
            if name not in FAULTS:
                raise FaultError(f"faults[{i}]: unknown fault {name!r}")
            if set(params) - set(FAULTS[name][1]):
                raise FaultError(f"faults[{i}]: unknown parameter(s) {sorted(set(params) - set(FAULTS[name][1]))}")
            try:
                at_s = float(entry.get("at_s", 0))
            except (TypeError, ValueError):
                raise FaultError(f"faults[{i}]: at_s must be a number") from None
            self.inject(name, at_ms=start_ms + round(at_s * 1000 / speed), **params)
            n += 1
        return n

    def next_scheduled_ms(self) -> int | None:
        return self._schedule[0][0] if self._schedule else None

    def fire_scheduled(self, now_ms: int) -> None:
        while self._schedule and self._schedule[0][0] <= now_ms:
            _, _, fault, params = heapq.heappop(self._schedule)
            self.inject(fault, **params)

    # -- REST / order hooks ---------------------------------------------------------------------------------------
    def take(self, name: str, method: str = "", path: str = "") -> dict[str, Any] | None:
        """Consume one firing of an armed REST/order fault matching the request; counts it."""
        for a in self.armed:
            if a.name != name:
                continue
            if a.params.get("method") and a.params["method"].upper() != method.upper():
                continue
            if a.params.get("path") and not path.startswith(a.params["path"]):
                continue
            a.remaining -= 1
            if a.remaining <= 0:
                self.armed.remove(a)
            self.counters[name] += 1
            return a.params
        return None

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.armed)

    # -- WebSocket hook -----------------------------------------------------------------------------------------
    def ws_transform(self, conn: Conn, sub: Sub, channel: str, frame: bytes) -> list[bytes]:
        """The frames to actually queue for ``frame`` (possibly none, two, or a held earlier one)."""
        if frame.startswith(b'{"type":"orderbook_snapshot"') or frame.startswith(b'{"id"'):
            return [frame]  # snapshots and command replies are never faulted
        for a in self._ws:
            p = a.params
            if p["channel"] != channel or (p["user_id"] is not None and p["user_id"] != conn.user_id):
                continue
            name = a.name
            if name in ("ws_reorder", "ws_reorder_unsequenced"):
                key = (id(conn), sub.sid) if name == "ws_reorder" else (id(conn), channel)
                held = a.held.pop(key, None)
                if held is None:
                    a.held[key] = frame
                    self._later(p["release_ms"], lambda a=a, key=key, c=conn: self._release(a, key, c))
                    return []
                self._fired(a)
                return [frame, held]
            self._fired(a)
            if name == "ws_skip":
                return []
            if name in ("ws_repeat", "ws_duplicate"):
                return [frame, frame]
            if name == "ws_delay":
                self._later(p["delay_ms"], lambda f=frame, c=conn: c.push_many([f]))
                return []
        return [frame]

    def _fired(self, a: Armed) -> None:
        self.counters[a.name] += 1
        a.remaining -= 1
        if a.remaining <= 0 and a in self._ws:
            self._ws.remove(a)
            self.ws_armed = bool(self._ws)

    def _release(self, a: Armed, key: Any, conn: Conn) -> None:
        """A held frame with no successor in time is sent as is (no reorder happened, nothing counted)."""
        frame = a.held.pop(key, None)
        if frame is not None:
            conn.push_many([frame])

    def _later(self, delay_ms: int, fn: Any) -> None:
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(loop.call_later(max(0, delay_ms) / 1000, fn))

    def shutdown(self) -> None:
        for t in self._timers:
            t.cancel()
        self._timers.clear()

    # -- immediate actions ----------------------------------------------------------------------------------------
    def _need(self, p: dict[str, Any], key: str) -> Any:
        if p.get(key) is None:
            raise FaultError(f"parameter {key!r} is required")
        return p[key]

    def _act(self, fault: str, p: dict[str, Any]) -> dict[str, Any]:
        hub, bridge = self.server.hub, self.server.bridge
        out: dict[str, Any] = {}
        if fault == "ws_drop":
            out["dropped"] = n = hub.drop_connections(p["user_id"])
            self.counters[fault] += n
            return out
        if fault == "ws_channel_error":
            from kalshibot.sim.ws import ERR_CHANNEL

            n = 0
            for conn in list(hub.conns):
                if p["user_id"] is not None and conn.user_id != p["user_id"]:
                    continue
                for sub in list(conn.subs.values()):
                    if sub.channel == p["channel"]:
                        hub.kill_sub(sub, ERR_CHANNEL)
                        n += 1
            self.counters[fault] += n
            out["killed"] = n
            return out
        if fault == "firehose":
            out["frames"] = n = hub.firehose(int(p["n"]), p["ticker"])
            self.counters[fault] += 1
            return out
        try:
            if fault == "pause_market":
                bridge.pause_market(self._need(p, "ticker"))
            elif fault == "activate_market":
                bridge.activate_market(self._need(p, "ticker"))
            elif fault == "close_early":
                bridge.close_early(self._need(p, "ticker"), str(p["result"]), bool(p["settle"]))
            elif fault == "set_grid":
                bridge.set_grid(self._need(p, "ticker"), p["price_level_structure"], p["price_ranges"])
            elif fault == "set_fee":
                bridge.set_fee(self._need(p, "series_ticker"), p["fee_type"], float(p["fee_multiplier"]))
            elif fault == "trigger_order_group":
                bridge.trigger_order_group(self._need(p, "order_group_id"))
            else:  # pragma: no cover - FAULTS and this table are kept in step
                raise FaultError(f"{fault}: not an action")
        except FaultError:
            raise
        except Exception as e:  # the exchange refused (unknown ticker, bad grid...): report, count nothing
            raise FaultError(f"{fault}: {e}") from e
        self.server.poke()
        self.counters[fault] += 1
        return out
