"""``kalshibot replay PATH... [--fill-model M] [--config PATH] [--report DIR]`` (CONTRACTS.md "CLI").

Streams the journal and market files once, running the chosen fill model next to ``recorded`` (all four with
``--report``, for the calibration plot), prints a deterministic summary (no wall-clock time, no log lines: the same
inputs give byte-identical stdout), and with ``--config`` re-runs the strategy itself over the recorded market data
with that config's parameters (:mod:`kalshibot.replay.whatif`) and judges the config's hypothesis. A progress line
goes to stderr only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from kalshibot.errors import UsageError
from kalshibot.replay.fastpath import feed_files
from kalshibot.replay.fillmodels import FILL_MODELS
from kalshibot.replay.hypothesis import judge
from kalshibot.replay.replayer import Replayer, ReplayResult
from kalshibot.replay.report import calibration_table, iso_ms, summary_table, write_report
from kalshibot.replay.sources import ReadStats, merged

PROGRESS_EVERY = 20_000


def _progress(records: Iterator[dict[str, Any]], stats: ReadStats) -> Iterator[dict[str, Any]]:
    if not sys.stderr.isatty():
        return records  # no progress line: no extra generator step per record
    return _counted(records, stats)


def _counted(records: Iterator[dict[str, Any]], stats: ReadStats) -> Iterator[dict[str, Any]]:
    n = 0
    for rec in records:
        n += 1
        if n % PROGRESS_EVERY == 0:
            print(f"\rreplay: {n} records, {stats.bytes_read // 1_000_000} MB", end="", file=sys.stderr, flush=True)
        yield rec
    print(f"\rreplay: {n} records done" + " " * 20, file=sys.stderr, flush=True)


def run_replay(
    paths: list[str], fill_model: str, *, report_dir: str | None = None, config_path: str | None = None
) -> tuple[list[str], ReplayResult]:
    """The whole command minus printing: returns the output lines and the result."""
    if fill_model not in FILL_MODELS:
        raise UsageError(f"--fill-model: expected one of {', '.join(FILL_MODELS)}, got {fill_model!r}")
    models = [fill_model] + [m for m in FILL_MODELS if m != fill_model and (report_dir or m == "recorded")]
    settings = None
    if config_path:
        from kalshibot.config import load_settings

        settings = load_settings(config_path, env={}, env_file=None, require_secrets=False)
    replayer = Replayer(models)
    whatif = None
    if settings is not None:
        from kalshibot.replay.whatif import WhatIf

        whatif = WhatIf(settings, fill_model="queue" if fill_model == "recorded" else fill_model)
        replayer.extra.append(whatif.on_record)
    stats = ReadStats()
    # the fast reader reads in batches, so a progress line's byte count would move in steps: a terminal gets the
    # line-by-line reader (same records, same results)
    if sys.stderr.isatty() or not feed_files(replayer, paths, stats):
        replayer.feed_all(_progress(merged(paths, stats), stats))
    result = replayer.finish()
    lines = describe(result, stats, fill_model)
    if whatif is not None:
        ws = whatif.finish(replayer.last_ts_ms)
        result.summaries["what-if"] = ws
        lines += ["", f"what-if: the engine re-run with {config_path} ({whatif.describe()}), fills by {whatif.model}"]
        lines += summary_table(ws)
        compare = {"recorded": result.summaries["recorded"]}
        if fill_model != "recorded":
            compare[fill_model] = result.summaries[fill_model]
        compare["what-if"] = ws
        lines += ["", "what-if vs logged:", *calibration_table(compare)]
    if settings is not None and settings.hypothesis is not None:
        target = result.summaries["recorded"] if fill_model == "recorded" else result.summaries[fill_model]
        lines += ["", judge(settings.hypothesis, target).line]
        if "what-if" in result.summaries:
            lines.append("what-if " + judge(settings.hypothesis, result.summaries["what-if"]).line)
    if report_dir:
        analytics = {name: lane.analytics for name, lane in result.lanes.items()}
        files = write_report(report_dir, result.summaries, analytics, fill_model, lines)
        lines += ["", f"report: {len(files)} files written to {report_dir}"]
    return lines, result


def describe(result: ReplayResult, stats: ReadStats, primary: str) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    n = sum(result.counts.values())
    lines = [f"kalshibot replay: {stats.files} files, {n} records ({counts})"]
    if stats.bad_lines:
        lines.append(f"skipped {stats.bad_lines} unreadable lines (first: {', '.join(stats.bad_where)})")
    s = result.summaries[primary]
    if n:
        lines.append(f"data: {iso_ms(s.start_ms)} .. {iso_ms(s.end_ms)} ({(s.end_ms - s.start_ms) / 1000:.1f} s)")
    sess = sorted({str(r.get("session")) for r in result.sessions})
    paper = any(bool(r.get("paper")) for r in result.sessions)
    if sess:
        lines.append(f"sessions: {', '.join(sess[:5])}{' ...' if len(sess) > 5 else ''}{' (paper)' if paper else ''}")
    lines += ["", f"fill model: {primary}"]
    lines += summary_table(s)
    if len(result.summaries) > 1:
        lines += ["", "calibration (each model's fills next to the recorded ones):"]
        lines += calibration_table(result.summaries)
    return lines


def replay_main(args: argparse.Namespace) -> int:
    lines, _ = run_replay(list(args.paths), args.fill_model, report_dir=args.report, config_path=args.config)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
