"""``make bench`` (``python -m bench``): every figure, one line each, then docs/benchmarks.md-ready details.

``python -m bench [--quick] [--only NAME,...] [--markdown PATH]``: ``--quick`` uses tiny sizes (the smoke test),
``--only`` runs some figures (tick, net, tokens, replay, memory, startup), ``--markdown`` writes the run as a markdown
table with the machine. Exits 0 even when a goal is missed (CONTRACTS.md); 1 only if the harness itself failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import common
from bench.common import Result

FIGURES = ("tick", "net", "tokens", "replay", "memory", "startup")


def _figures(quick: bool, work: Path) -> dict[str, Callable[[], list[Result]]]:
    from bench import net, procs, tick, tokens

    keys_box: list[common.Keys] = []

    def keys() -> common.Keys:
        if not keys_box:
            keys_box.append(common.make_keys(work / "keys"))
        return keys_box[0]

    if quick:
        return {
            "tick": lambda: tick.run(markets=5, levels=22, deltas=2000, repeats=1),
            "net": lambda: net.run(work, keys(), firehose=2000, repeats=1, batches=5, cycles=4),
            "tokens": lambda: tokens.run(duration_s=30),
            "replay": lambda: [procs.replay(work, demo_s=5, repeats=1)],
            "memory": lambda: [procs.memory(work, keys(), markets_per_series=5, series=2, settle_s=1)],
            "startup": lambda: [procs.startup(work, repeats=1)],
        }
    return {
        "tick": lambda: tick.run(),
        "net": lambda: net.run(work, keys()),
        "tokens": lambda: tokens.run(),
        "replay": lambda: [procs.replay(work)],
        "memory": lambda: [procs.memory(work, keys())],
        "startup": lambda: [procs.startup(work)],
    }


def markdown(results: list[Result], elapsed_s: float) -> str:
    m = common.machine()
    out = [
        f"Run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, {m['cores']} cores ({m['cpu']}), "
        f"Python {m['python']}, {elapsed_s:.0f} s.",
        "",
        "| figure | value | unit | goal | ratio | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "MET" if r.met else "MISSED"
        out.append(f"| {r.name} | {common.fmt(r.value)} | {r.unit} | {r.goal} | {r.ratio:.2f} | {verdict} |")
    out += ["", "Details:", ""]
    seen: set[str] = set()
    for r in results:
        key = repr(sorted(r.notes.items()))
        if r.notes and key not in seen:
            seen.add(key)
            out.append(f"- {r.name}: " + ", ".join(f"{k}={v}" for k, v in r.notes.items()))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(FIGURES)}")
    ap.add_argument("--markdown", default="", help="also write the run as markdown to this path")
    args = ap.parse_args(argv)
    only = [f.strip() for f in args.only.split(",") if f.strip()] or list(FIGURES)
    unknown = set(only) - set(FIGURES)
    if unknown:
        ap.error(f"unknown figure(s): {', '.join(sorted(unknown))}")
    t0 = time.perf_counter()
    results: list[Result] = []
    failed = False
    with common.workdir() as work:
        figs = _figures(args.quick, work)
        for name in only:
            try:
                rs = figs[name]()
            except Exception:
                failed = True
                print(f"bench: {name} harness error", file=sys.stderr)
                traceback.print_exc()
                continue
            for r in rs:
                print(r.line(), flush=True)
            results += rs
    elapsed = time.perf_counter() - t0
    if args.markdown:
        Path(args.markdown).write_text(markdown(results, elapsed))
    print(f"bench: done in {elapsed:.0f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
