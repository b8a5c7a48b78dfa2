"""Scenario YAMLs the benchmarks write for the simulator (format: src/kalshibot/sim/scenarios/default.yaml)."""

from __future__ import annotations

from pathlib import Path

QUIET = """
name: bench-quiet
description: Markets with empty books and no participants (our orders never cross anything).
series:
  - ticker: KXQUIET
    lifetime_s: 86400
    underlying: {start: 50.0, start_sd: 0.0, vol_per_sqrt_hour: 0.0, final_sd: 0.1, decimals: 1}
    strikes: {from: 1, to: 20, step: 1}
"""


def many_markets(n_series: int, per_series: int) -> str:
    """``n_series`` ladders of ``per_series`` markets each, every book kept two-sided by a liquidity provider."""
    out = ["name: bench-many", "description: many two-sided markets for the memory figure", "series:"]
    for i in range(n_series):
        out += [
            f"  - ticker: KXMANY{i}",
            "    lifetime_s: 86400",
            "    underlying: {start: 50.0, start_sd: 0.0, vol_per_sqrt_hour: 1.0, final_sd: 1.0, decimals: 1}",
            f"    strikes: {{from: {50 - per_series // 2}, to: {50 - per_series // 2 + per_series - 1}, step: 1}}",
        ]
    out += [
        "participants:",
        "  liquidity_providers:",
        "    - {name: lp, interval_s: [5, 10], levels: 3, size: [10, 30], half_spread: 0.03, level_step: 0.01,",
        "       tracking: 0.5, noise: 0.002, balance: 100000000}",
    ]
    return "\n".join(out) + "\n"


def write(directory: Path, name: str, text: str) -> Path:
    p = directory / f"{name}.yaml"
    p.write_text(text)
    return p
