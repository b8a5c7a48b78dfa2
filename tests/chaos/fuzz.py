"""A seeded mutation fuzzer over the bot's input decoders (test-only; ``make chaos`` runs a million inputs,
``tests/test_fuzz_inputs.py`` a small profile plus Hypothesis).

Targets and what "rejected with the documented error and counted" means for each:

* ``ws``: :meth:`kalshibot.net.feed.Feed.handle_frame` never raises; a frame that is not a JSON object, or that
  fails its model, increments ``stats.bad_frames`` (the feed counts and carries on). :func:`decode_delta` (the fast
  delta decoder) returns a ``BookDelta`` or raises :class:`WireError`.
* ``rest``: ``RestBase._decode`` (every typed REST read goes through it) returns the model or raises
  :class:`WireError`.
* ``journal``: :func:`iter_records` never raises in its default mode and accounts for every line (records + bad
  lines + torn tail == lines); with ``strict=True`` it raises only :class:`JournalError`.
* ``config``: :func:`parse_settings_text` returns settings or raises :class:`ConfigError` (exit 2).

Mutations: JSON-aware (replace a leaf with a value of another type, an extreme number, a malformed decimal string;
drop or add a key; nest) and byte-level (flip, delete, insert, duplicate, truncate, splice two corpus items).
The corpus is real traffic captured from a simulator run (tests/data/fuzz/).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import structlog

from kalshibot.config import parse_settings_text
from kalshibot.errors import ConfigError, JournalError, WireError
from kalshibot.journal.reader import ReaderReport, iter_records
from kalshibot.net import rest_models
from kalshibot.net.decode import decode_delta
from kalshibot.net.feed import Feed
from kalshibot.net.rest_base import RestBase

DATA = Path(__file__).resolve().parent.parent / "data" / "fuzz"
CONFIG_SEED = Path(__file__).resolve().parent.parent.parent / "config" / "bot.example.yaml"

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**63, -(2**63), 10**30, 1.5, float("inf"), float("nan"), "", "x", "0.5", "-0.5",
    "0.00001", "1.0000", "99999999999.99", "1e5", "NaN", "0x10", " 0.5", "٣", "0.5.5", [], {}, [1, "a"], {"a": None},
    "\u0000", "a" * 5000,
]  # fmt: skip


@dataclass
class Totals:
    inputs: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)

    def add(self, target: str, n: int, rejected: int) -> None:
        self.inputs[target] = self.inputs.get(target, 0) + n
        self.rejected[target] = self.rejected.get(target, 0) + rejected

    def crash(self, target: str, e: BaseException, data: Any) -> None:
        if len(self.crashes) < 20:
            self.crashes.append(f"{target}: {type(e).__name__}: {str(e)[:120]} on {str(data)[:160]!r}")


# ------------------------------------------------------------------------------------------------ mutations
def mutate_json(rng: random.Random, obj: Any, depth: int = 0) -> Any:
    """A copy of ``obj`` with one structural change somewhere inside."""
    if isinstance(obj, dict) and obj and (depth < 4 and rng.random() < 0.7):
        k = rng.choice(list(obj))
        out = dict(obj)
        r = rng.random()
        if r < 0.15:
            del out[k]
        elif r < 0.25:
            out[rng.choice(["extra", "seq", "sid", "type", "msg", k + "_x"])] = rng.choice(ODD_VALUES)
        else:
            out[k] = mutate_json(rng, obj[k], depth + 1)
        return out
    if isinstance(obj, list) and obj and (depth < 4 and rng.random() < 0.7):
        i = rng.randrange(len(obj))
        out_l = list(obj)
        r = rng.random()
        if r < 0.2:
            del out_l[i]
        elif r < 0.3:
            out_l.append(rng.choice(out_l))
        else:
            out_l[i] = mutate_json(rng, obj[i], depth + 1)
        return out_l
    r = rng.random()
    if isinstance(obj, str) and r < 0.4:  # malformed decimals and tickers
        if not obj:
            return rng.choice(ODD_VALUES)
        i = rng.randrange(len(obj))
        return obj[:i] + rng.choice(["", ".", "-", "9", "e", " ", "\u00e9", obj[i] * 3]) + obj[i + 1 :]
    if isinstance(obj, int) and not isinstance(obj, bool) and r < 0.4:
        return rng.choice([obj + 1, obj - 1, -obj, obj * 10**6, str(obj)])
    return rng.choice(ODD_VALUES)


def mutate_bytes(rng: random.Random, data: bytes, other: bytes) -> bytes:
    if not data:
        return other[: rng.randrange(len(other) + 1)]
    b = bytearray(data)
    op = rng.randrange(6)
    i = rng.randrange(len(b))
    if op == 0:
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        del b[i : i + rng.randrange(1, 16)]
    elif op == 2:
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    elif op == 3:
        j = rng.randrange(i, len(b))
        b[j:j] = b[i:j]
    elif op == 4:
        del b[i:]
    else:
        j = rng.randrange(len(other) + 1)
        b = b[:i] + other[j:]
    return bytes(b)


def mutants(rng: random.Random, corpus: list[Any], n: int) -> Iterator[Any]:
    """``n`` mutated JSON values (as bytes, one in three byte-mutated after the JSON mutation)."""
    for _ in range(n):
        obj = rng.choice(corpus)
        for _ in range(rng.randrange(1, 4)):
            obj = mutate_json(rng, obj)
        try:
            data = orjson.dumps(obj)
        except (TypeError, orjson.JSONEncodeError):
            data = json.dumps(obj, allow_nan=True).encode()
        if rng.random() < 0.33:
            data = mutate_bytes(rng, data, orjson.dumps(rng.choice(corpus)))
        yield data


# ---------------------------------------------------------------------------------------------------- targets
def _load_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fuzz_ws(n: int, rng: random.Random, totals: Totals) -> None:
    corpus = _load_jsonl(DATA / "ws_frames.jsonl")
    feed = Feed("ws://127.0.0.1:9/none", None, lambda e: None, lambda md: None, clock_ms=lambda: 0)  # type: ignore[arg-type]
    feed.set_markets({f["msg"]["market_ticker"] for f in corpus if f.get("type") == "orderbook_snapshot"})
    rejected = 0
    for data in mutants(rng, corpus, n):
        before = feed.stats.bad_frames
        try:
            feed.handle_frame(data)
        except Exception as e:
            totals.crash("ws", e, data)
            continue
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict) and feed.stats.bad_frames != before + 1:
            totals.crash("ws", AssertionError("a non-object frame was not counted as bad"), data)
        if isinstance(obj, dict) and obj.get("type") == "orderbook_delta":
            try:
                decode_delta(data)
            except WireError:
                pass
            except Exception as e:
                totals.crash("ws-delta", e, data)
        rejected += feed.stats.bad_frames - before
    totals.add("ws", n, rejected)


def fuzz_rest(n: int, rng: random.Random, totals: Totals) -> None:
    items = _load_jsonl(DATA / "rest_bodies.jsonl")
    by_model: dict[str, list[Any]] = {}
    for it in items:
        by_model.setdefault(it["model"], []).append(it["body"])
    names = sorted(by_model)
    request = httpx.Request("GET", "http://127.0.0.1/trade-api/v2/fuzz")
    rejected = 0
    per = max(1, -(-n // len(names)))  # round up: the run never falls short of its share
    for name in names:
        model = getattr(rest_models, name)
        for data in mutants(rng, by_model[name], per):
            try:
                RestBase._decode(model, httpx.Response(200, content=data, request=request))
            except WireError:
                rejected += 1
            except Exception as e:
                totals.crash(f"rest:{name}", e, data)
    totals.add("rest", per * len(names), rejected)


def fuzz_journal(n: int, rng: random.Random, totals: Totals, batch: int = 5000) -> None:
    corpus = _load_jsonl(DATA / "journal_lines.jsonl")
    rejected = done = 0
    with tempfile.TemporaryDirectory(prefix="fuzz-journal-") as d:
        path = Path(d) / "journal-2026-01-01.jsonl"
        while done < n:
            k = min(batch, n - done)
            lines = [m.replace(b"\n", b" ") for m in mutants(rng, corpus, k)]
            path.write_bytes(b"\n".join(lines) + b"\n")
            rep = ReaderReport()
            try:
                for _ in iter_records(path, report=rep):
                    pass
            except Exception as e:
                totals.crash("journal", e, path.name)
                done += k
                continue
            nonblank = sum(1 for x in lines if x.strip())
            accounted = rep.records + len(rep.bad_lines) + len(rep.torn)
            if accounted != nonblank:
                totals.crash("journal", AssertionError(f"{nonblank} lines, {accounted} accounted for"), rep.summary())
            rejected += len(rep.bad_lines) + len(rep.torn)
            try:  # strict mode: the documented error only
                for _ in iter_records(path, strict=True):
                    pass
            except JournalError:
                pass
            except Exception as e:
                totals.crash("journal-strict", e, path.name)
            done += k
    totals.add("journal", n, rejected)


def _config_corpus() -> list[str]:
    base = CONFIG_SEED.read_text() if CONFIG_SEED.exists() else "environment: sim\n"
    small = "environment: sim\nrisk:\n  max_notional_per_market: 50\nquoting:\n  size: 2\n"
    return [base, small]


def fuzz_config(n: int, rng: random.Random, totals: Totals) -> None:
    import yaml

    texts = _config_corpus()
    trees = [yaml.safe_load(t) for t in texts]
    rejected = 0
    for _ in range(n):
        if rng.random() < 0.5:
            tree = rng.choice(trees)
            for _ in range(rng.randrange(1, 3)):
                tree = mutate_json(rng, tree)
            try:
                text = yaml.safe_dump(tree, allow_unicode=True)
            except yaml.YAMLError:
                continue
        else:
            t = rng.choice(texts).encode()
            text = mutate_bytes(rng, t, rng.choice(texts).encode()).decode("utf-8", "replace")
        try:
            parse_settings_text(text, source="fuzz.yaml", env={}, env_file=None, require_secrets=False)
        except ConfigError:
            rejected += 1
        except Exception as e:
            totals.crash("config", e, text)
    totals.add("config", n, rejected)


TARGETS: dict[str, Callable[[int, random.Random, Totals], None]] = {
    "ws": fuzz_ws,
    "rest": fuzz_rest,
    "journal": fuzz_journal,
    "config": fuzz_config,
}
SHARES = {"ws": 0.48, "rest": 0.3, "journal": 0.2, "config": 0.02}


def run_fuzz(total: int, seed: int = 1, *, quiet: bool = False) -> bool:
    """Fuzz every target with ``total`` inputs split by ``SHARES``; prints one line per target; True if no crash."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))  # the feed logs each bad frame
    totals = Totals()
    for name, fn in TARGETS.items():
        t0 = time.monotonic()
        fn(max(1, int(total * SHARES[name])), random.Random(f"{seed}:{name}"), totals)
        if not quiet:
            n = totals.inputs[name]
            print(f"fuzz: {name:<8} {n:>9} inputs, {totals.rejected[name]:>9} rejected, {time.monotonic() - t0:6.1f}s")
    if not quiet:
        print(f"fuzz: {sum(totals.inputs.values())} inputs, {len(totals.crashes)} crash(es)")
        for c in totals.crashes:
            print(f"  crash: {c}")
    return not totals.crashes


def run_fuzz_totals(total: int, seed: int = 1) -> Totals:
    """Like :func:`run_fuzz` without printing, returning the totals (for tests)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))
    totals = Totals()
    for name, fn in TARGETS.items():
        fn(max(1, int(total * SHARES[name])), random.Random(f"{seed}:{name}"), totals)
    return totals
