"""The invariants every chaos cell is checked against, computed from the simulator's own records and the
daemon's journal files (test-only helpers). Each check returns a list of failures (empty = holds); a failure
names the invariant so the matrix can print it."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from kalshibot.journal.reader import iter_records, journal_files


def journal_records(log_dir: Path) -> list[dict[str, Any]]:
    """Every journal record of every session under ``log_dir`` (decoded dicts, file order)."""
    return list(iter_records(journal_files(log_dir, "journal"), validate=False))


def our_orders(exchange: Any, user_id: str) -> list[Any]:
    return [o for o in exchange.orders.values() if o.user_id == user_id]


def resting_ids(exchange: Any, user_id: str) -> set[str]:
    return set(exchange.accounts[user_id].resting)


def two_sided(exchange: Any, user_id: str) -> bool:
    sides: dict[str, set[str]] = {}
    for o in exchange.accounts[user_id].resting.values():
        sides.setdefault(o.ticker, set()).add(o.side)
    return any(len(s) == 2 for s in sides.values())


def check_fills_exactly_once(exchange: Any, user_id: str, records: list[dict[str, Any]]) -> list[str]:
    """Every fill on the exchange is in the journal exactly once (keyed by order_id, trade_id), and the journal
    has no fill the exchange does not."""
    fills = exchange.accounts[user_id].fills
    ex = collections.Counter((f.order_id, f.trade_id) for f in fills)
    ts = {(f.order_id, f.trade_id): f.ts_ms for f in fills}
    jr = collections.Counter((r["order_id"], r["trade_id"]) for r in records if r["type"] == "fill")
    bad: list[str] = []
    missing = [k for k in ex if k not in jr]
    dup = [k for k, n in jr.items() if n > 1]
    extra = [k for k in jr if k not in ex]
    if missing:
        bad.append(
            f"fills-once: {len(missing)} exchange fill(s) missing from the journal, "
            f"e.g. {missing[0]} at {ts[missing[0]]}"
        )
    if dup:
        bad.append(f"fills-once: {len(dup)} fill(s) journaled twice, e.g. {dup[0]}")
    if extra:
        bad.append(f"fills-once: {len(extra)} journaled fill(s) unknown to the exchange, e.g. {extra[0]}")
    return bad


def _count(s: str) -> int:
    whole, _, frac = s.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole or "0")) * 100 + int((frac + "00")[:2]))


def check_positions(exchange: Any, user_id: str, records: list[dict[str, Any]]) -> list[str]:
    """The journal's positions (sum of its fills, + YES) equal the exchange's for every unsettled market."""
    jpos: dict[str, int] = collections.defaultdict(int)
    for r in records:
        if r["type"] == "fill":
            c = _count(r["count"])
            jpos[r["ticker"]] += c if r["side"] == "yes" else -c
    bad = []
    for t, p in exchange.accounts[user_id].positions.items():
        if p.settled:
            continue
        if jpos.get(t, 0) != p.position:
            bad.append(f"positions: {t} journal {jpos.get(t, 0) / 100} != exchange {p.position / 100}")
    return bad[:3]


class OrderLog:
    """Every change the exchange makes to one user's orders, in the order it made them (an exchange listener).

    Each entry is ``(order_id, client_order_id, contracts resting right after the change)``: the simulator emits an
    ``OrderEvent`` snapshot on every create, fill, amend, decrease, cancel and expiry, so replaying the log gives
    each order's resting size at every instant. An order's final record (``initial_count`` after an amend, which
    V2 defines as filled + new remainder) cannot be used for that: it would count an amend that happened later as
    resting earlier."""

    def __init__(self, exchange: Any, user_id: str) -> None:
        self.exchange, self.user_id = exchange, user_id
        self.events: list[tuple[str, str, int]] = []

    def attach(self) -> None:
        self.exchange.listeners.append(self._on_event)

    def _on_event(self, event: Any) -> None:
        if type(event).__name__ == "OrderEvent" and event.user_id == self.user_id:
            rest = _count(event.order["remaining_count_fp"]) if event.status == "resting" else 0
            self.events.append((event.order_id, event.client_order_id, rest))


def intents_of(records: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, int]]:
    """(client_order_id -> intent id, intent id -> contracts it asked for) from the journal. An amend renames the
    order and moves it to the intent of its new level (the ``sent`` record carries it; an expiry-only amend keeps
    the order's intent); an order sent without an intent (a flatten) is its own intent."""
    intent_of: dict[str, str] = {}
    intent_count: dict[str, int] = {}
    for r in records:
        if r["type"] == "intent" and r.get("intent_id"):
            intent_count[r["intent_id"]] = max(intent_count.get(r["intent_id"], 0), _count(r["count"]))
        elif r["type"] == "order_sent":
            intent_of[r["client_order_id"]] = r.get("intent_id") or r["client_order_id"]
        elif r["type"] == "amend" and r.get("new_client_order_id"):
            new, old = r["new_client_order_id"], r["client_order_id"]
            if r.get("intent_id"):
                intent_of[new] = r["intent_id"]
            elif new not in intent_of:
                intent_of[new] = intent_of.get(old, old)
    return intent_of, intent_count


def check_one_order_per_intent(
    exchange: Any, user_id: str, records: list[dict[str, Any]], log: OrderLog | None = None
) -> list[str]:
    """Every order of ours on the exchange was sent by the journal (no orphan), client_order_ids are unique, and
    no intent ever rested more than it asked for: a second order under one intent is allowed only to replace
    contracts the first one already filled (the engine tops a partly filled quote back up), never to duplicate
    it (e.g. a lost ack retried under a new id). Checked after every change the exchange made to our orders
    (``log``), from the exchange's own snapshots: an order counts with what it had resting at that instant, so a
    filled, cancelled or not-yet-amended order counts exactly as the exchange held it. Without ``log`` only the
    orphan and unique-id checks run."""
    intent_of, intent_count = intents_of(records)
    bad = []
    orders = our_orders(exchange, user_id)
    coids = collections.Counter(o.client_order_id for o in orders)
    dup_coid = [c for c, n in coids.items() if n > 1]
    if dup_coid:
        bad.append(f"one-order-per-intent: client_order_id {dup_coid[0]} on {coids[dup_coid[0]]} orders")
    for o in orders:
        if o.client_order_id not in intent_of:
            bad.append(f"one-order-per-intent: exchange order {o.order_id} ({o.client_order_id}) not in the journal")
    if log is None:
        return bad[:3]
    live: dict[str, tuple[str, int]] = {}  # order_id -> (its intent now, contracts resting now)
    by_intent: dict[str, dict[str, int]] = collections.defaultdict(dict)
    flagged: set[str] = set()
    for oid, coid, rest in log.events:
        was = live.get(oid)
        if was is not None:
            by_intent[was[0]].pop(oid, None)
        intent = intent_of.get(coid, coid)
        live[oid] = (intent, rest)
        if rest <= 0:
            continue
        held = by_intent[intent]
        held[oid] = rest
        limit = intent_count.get(intent)
        if limit is not None and len(held) > 1 and sum(held.values()) > limit and intent not in flagged:
            flagged.add(intent)  # once per intent: its first breach
            bad.append(
                f"one-order-per-intent: intent {intent} rested {sum(held.values()) / 100} > "
                f"{limit / 100} contracts over {len(held)} orders"
            )
    return bad[:3]


def unknown_resting(exchange: Any, user_id: str, known_order_ids: set[str], known_coids: set[str]) -> list[str]:
    """Orders of ours resting on the exchange that the daemon does not know (by order id or client order id)."""
    out = []
    for oid, o in exchange.accounts[user_id].resting.items():
        if oid not in known_order_ids and o.client_order_id not in known_coids:
            out.append(f"{oid} ({o.client_order_id} {o.ticker} {o.side})")
    return out


def two_sided_fraction(samples: list[tuple[float, bool]], windows: list[tuple[float, float]]) -> float | None:
    """Share of samples outside every fault window that were two-sided (None when there are none)."""
    outside = [ok for t, ok in samples if not any(a <= t <= b for a, b in windows)]
    return sum(outside) / len(outside) if outside else None
