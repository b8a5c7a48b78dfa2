"""Opt-in profiling helper for figure 4, replay throughput (not part of ``python -m bench``).

``python -m bench.profile_replay [PATH ...]`` (default: the recorded demo journal in tests/data/replay-demo; give
the ``journal-*.jsonl`` and ``market-*.jsonl`` of a 60 s ``kalshibot demo`` for the figure's own workload) prints,
in CPU time (best of ``--runs``, in process, so a busy shared machine disturbs it less than the wall clock the
figure uses): the whole ``run_replay(paths, "queue")`` as the figure runs it, the reading alone (``merged``), and
the replayer alone over records already read, with each lane set (none, ``recorded``, ``queue``, both), which
splits a record's cost into reading, dispatch and each lane. ``--cprofile`` adds the top functions of one replay.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kalshibot.replay.cli import run_replay
from kalshibot.replay.fastpath import feed_fast
from kalshibot.replay.fastread import merged_fast
from kalshibot.replay.replayer import Replayer
from kalshibot.replay.sources import ReadStats, expand_paths, merged

DEMO = Path(__file__).resolve().parent.parent / "tests" / "data" / "replay-demo"


def _best_cpu(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*", default=[str(DEMO)])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    paths = list(args.paths)
    records = list(merged(paths))
    n = len(records)
    run_replay(paths, "queue")  # warm the parse memos and imports, as the figure's repeats do
    whole = _best_cpu(lambda: run_replay(paths, "queue"), args.runs)
    print(f"records {n}: run_replay(queue) {n / whole:,.0f} events/s CPU ({whole / n * 1e6:.2f} us/record)")
    read = _best_cpu(lambda: sum(1 for _ in merged(paths)), args.runs)
    print(f"  reading + merging (sources.merged, dicts): {read / n * 1e6:.2f} us/record")
    files = expand_paths(paths)

    def read_fast() -> list[Any]:
        chunks = merged_fast(files, ReadStats())
        return [rec for chunk in chunks for rec in chunk] if chunks is not None else list(merged(files))

    fast_records = read_fast()
    read = _best_cpu(read_fast, args.runs)
    print(f"  reading + merging (fastread, as the command does): {read / n * 1e6:.2f} us/record")
    for models in ([], ["recorded"], ["queue"], ["queue", "recorded"]):

        def feed(models: list[str] = models) -> None:
            r = Replayer(models)
            feed_fast(r, fast_records)  # a list holding DeltaRec too: only the fast path reads those
            r.finish()

        t = _best_cpu(feed, args.runs)
        print(f"  replayer, lanes {models or 'none'}: {t / n * 1e6:.2f} us/record")
    if args.cprofile:
        prof = cProfile.Profile()
        prof.runcall(run_replay, paths, "queue")
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
