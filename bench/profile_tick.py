"""Opt-in profiling helper for figure 1 (not part of ``python -m bench``).

``python -m bench.profile_tick`` replays the figure-1 workload through ``Feed.handle_frame`` -> ``Engine.handle``
exactly as :func:`bench.tick.run_ours` does and prints p50/p99 (best of ``--runs``) and, with ``--cprofile``, the
top functions by own time; ``--sending`` profiles only the frames that sent order actions (the class the p99 lies
in). For local use while optimising the engine (issue 9); it measures nothing ``bench/tick.py`` does not.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time

from bench.common import percentile
from bench.tick import T0_MS, Workload, build_ours, run_ours
from kalshibot.core import events as ev


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--deltas", type=int, default=40_000)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--sending", action="store_true", help="profile only the frames that send order actions")
    args = ap.parse_args()
    w = Workload(50, 25, args.deltas)
    run_ours(Workload(50, 25, 2000, seed=1))
    if args.sending:
        _profile_sending(w, args.top)
        return
    if args.cprofile:
        pr = cProfile.Profile()
        pr.enable()
        run_ours(w)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(args.top)
        return
    p50s, p99s, cpus = [], [], []
    for _ in range(args.runs):
        gc.collect()
        c0 = time.process_time()
        lat, requotes, actions, _feed = run_ours(w)
        cpus.append(time.process_time() - c0)
        lat.sort()
        p50s.append(percentile(lat, 50))
        p99s.append(percentile(lat, 99))
    print(
        f"p50 {min(p50s):.2f} us  p99 {min(p99s):.1f} us  (runs p99: {[round(x, 1) for x in p99s]})  "
        f"requote_frames={requotes} actions={actions} cpu_s_best={min(cpus):.2f}"
    )


def _profile_sending(w: Workload, top: int) -> None:
    """cProfile of only the frames that send order actions (the p99 class): a first pass finds them (the
    workload and the engine are deterministic), a second profiles just those ``handle_frame`` calls."""
    feed, _engine, sink, acker = build_ours(w)
    sending: set[int] = set()
    for i, frame in enumerate(w.frames):
        feed.handle_frame(frame)
        if any(isinstance(a, ev.PlaceOrder | ev.AmendOrder | ev.CancelOrder) for a in sink):
            sending.add(i)
        acker.answer(sink, T0_MS)
        sink.clear()
    feed, _engine, sink, acker = build_ours(w)
    pr = cProfile.Profile()
    for i, frame in enumerate(w.frames):
        if i in sending:
            pr.enable()
            feed.handle_frame(frame)
            pr.disable()
        else:
            feed.handle_frame(frame)
        acker.answer(sink, T0_MS)
        sink.clear()
    print(f"{len(sending)} sending frames")
    pstats.Stats(pr).sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main()
