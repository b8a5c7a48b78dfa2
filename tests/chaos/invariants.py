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


def check_one_order_per_intent(exchange: Any, user_id: str, records: list[dict[str, Any]]) -> list[str]:
    """Every order of ours on the exchange was sent by the journal (no orphan), client_order_ids are unique, and
    no intent ever rested more than it asked for: a second order under one intent is allowed only to replace
    contracts the first one already filled (the engine tops a partly filled quote back up), never to duplicate
    it (e.g. a lost ack retried under a new id). Checked at each order's creation from the exchange's records."""
    intent_of: dict[str, str] = {}
    intent_count: dict[str, int] = {}
    for r in records:
        if r["type"] == "intent" and r.get("intent_id"):
            intent_count[r["intent_id"]] = max(intent_count.get(r["intent_id"], 0), _count(r["count"]))
        elif r["type"] == "order_sent":
            intent_of[r["client_order_id"]] = r.get("intent_id") or r["client_order_id"]
        elif r["type"] == "amend" and r.get("new_client_order_id"):
            intent_of[r["new_client_order_id"]] = intent_of.get(r["client_order_id"], r["client_order_id"])
    bad = []
    orders = our_orders(exchange, user_id)
    coids = collections.Counter(o.client_order_id for o in orders)
    dup_coid = [c for c, n in coids.items() if n > 1]
    if dup_coid:
        bad.append(f"one-order-per-intent: client_order_id {dup_coid[0]} on {coids[dup_coid[0]]} orders")
    fills_of: dict[str, list[Any]] = collections.defaultdict(list)
    for f in exchange.accounts[user_id].fills:
        fills_of[f.order_id].append(f)
    per_intent: dict[str, list[Any]] = collections.defaultdict(list)
    for o in orders:
        intent = intent_of.get(o.client_order_id)
        if intent is None:
            bad.append(f"one-order-per-intent: exchange order {o.order_id} ({o.client_order_id}) not in the journal")
            continue
        per_intent[intent].append(o)

    def resting_at(o: Any, t: int) -> int:
        if o.status != "resting" and o.last_update_ts_ms <= t:
            return 0
        return o.initial_count - sum(f.count for f in fills_of[o.order_id] if f.ts_ms <= t)

    for intent, os_ in per_intent.items():
        limit = intent_count.get(intent)
        os_.sort(key=lambda o: o.created_ts_ms)
        for i, o in enumerate(os_[1:], 1):
            live = sum(resting_at(p, o.created_ts_ms) for p in os_[:i])
            if limit is not None and live and live + o.initial_count > limit:
                bad.append(
                    f"one-order-per-intent: intent {intent} rested {(live + o.initial_count) / 100} > "
                    f"{limit / 100} contracts over {i + 1} orders"
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
