"""Figure 3, write tokens: the engine in process on the benign scenario (``replay.backtest.run_strategy``: the pure
exchange, the scenario driver and one virtual clock) with our default policy vs the guide's cancel-replace and
parameters (``backtest.GUIDE_YAML``). Tokens per API.md §7.1: create 10, amend 10, decrease 10, cancel 2;
reported per simulated hour."""

from __future__ import annotations

from bench.common import Result, upper

COST = {"create": 10, "amend": 10, "decrease": 10, "cancel": 2}


def run(duration_s: int = 240, seed: int = 1) -> list[Result]:
    from kalshibot.replay.backtest import resolve_strategies, run_strategy
    from kalshibot.sim.scenario import load_scenario

    sc = load_scenario("benign")
    per_hour: dict[str, float] = {}
    requests: dict[str, dict[str, int]] = {}
    for st in resolve_strategies("guide,default"):
        r, _ = run_strategy(sc, st, seed=seed, duration_ms=duration_s * 1000)
        tokens = sum(COST.get(k, 0) * n for k, n in r.requests.items())
        per_hour[st.name] = tokens * 3600 / duration_s
        requests[st.name] = r.requests
    ours, guide = per_hour["default"], per_hour["guide"]
    share = 100 * ours / guide if guide else float("inf")
    return [
        upper(
            "write_tokens_vs_guide",
            share,
            "%",
            50.0,
            baseline=100.0,
            ours_tokens_per_hour=round(ours),
            guide_tokens_per_hour=round(guide),
            ours_requests=requests["default"],
            guide_requests=requests["guide"],
            simulated_s=duration_s,
        )
    ]
