"""Text tables (terminal) and the PNG + Markdown report of a replay.

Everything here is a pure function of the replay result, so the same inputs give byte-identical text. The PNGs are
drawn with matplotlib's Agg backend (no display needed) and with a fixed ``svg.hashsalt``/metadata so they too do
not depend on the wall clock: cumulative PnL, inventory per market, our quotes against the best bid/ask, the markout
curve, and the fill-model calibration (each model's fills next to the recorded ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kalshibot.core.fixed import COUNT_ONE, format_count
from kalshibot.replay.analytics import Analytics, Summary

MODEL_ORDER = ("recorded", "queue", "touch", "conservative")


def money(m: int, decimals: int = 4) -> str:
    """Micro-dollars as dollars, rounded half away from zero to ``decimals`` places (display only)."""
    unit = 10 ** (6 - decimals)
    q, r = divmod(abs(m), unit)
    if 2 * r >= unit:
        q += 1
    sign = "-" if m < 0 and q else ""
    whole, frac = divmod(q, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def signed_count(c: int) -> str:
    return ("+" if c > 0 else "") + format_count(c)


def pct(permille: int) -> str:
    return f"{permille // 10}.{permille % 10}%"


def iso_ms(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def horizon(h_ms: int) -> str:
    return f"{h_ms // 1000}s" if h_ms % 1000 == 0 else f"{h_ms}ms"


def summary_table(s: Summary) -> list[str]:
    head = f"{'market':<28} {'fills':>6} {'contracts':>10} {'position':>9} {'fees':>9} {'realized':>10} "
    head += f"{'net PnL':>10} {'payout':>10} {'spread':>9} {'2-sided':>8}"
    lines = [head]
    for m in s.markets:
        lines.append(
            f"{m.ticker[:28]:<28} {m.fills:>6} {format_count(m.contracts):>10} {signed_count(m.position):>9} "
            f"{money(m.fees):>9} {money(m.realized):>10} {money(m.net_pnl):>10} {money(m.payout):>10} "
            f"{money(m.spread_captured):>9} {pct(m.two_sided_permille):>8}"
        )
    lines.append(
        f"{'TOTAL':<28} {s.fills:>6} {format_count(s.contracts):>10} {'':>9} {money(s.fees):>9} "
        f"{money(s.realized):>10} {money(s.net_pnl):>10} {money(s.payout):>10} {money(s.spread_captured):>9} "
        f"{pct(s.two_sided_permille):>8}"
    )
    ppc = s.pnl_per_contract()
    lines.append(
        f"net PnL per contract {money(ppc) if ppc is not None else 'n/a'}; max drawdown {money(s.max_drawdown)}; "
        f"maker share {pct(s.maker_contracts * 1000 // s.contracts) if s.contracts else 'n/a'}"
    )
    mk = []
    for h, total, n in s.markouts:
        mk.append(f"{horizon(h)} {money(total // n) if n else 'n/a'} (n={format_count(n)})")
    lines.append("markouts per contract (+ = in our favour): " + ", ".join(mk))
    orders = ", ".join(f"{k} {v}" for k, v in s.orders.items())
    lines.append(f"orders: {orders}; tokens spent {s.tokens}")
    return lines


def calibration_table(summaries: Mapping[str, Summary]) -> list[str]:
    names = [n for n in MODEL_ORDER if n in summaries] + [n for n in summaries if n not in MODEL_ORDER]
    ref = summaries.get("recorded")
    lines = [f"{'fill model':<14} {'fills':>6} {'contracts':>10} {'vs recorded':>12} {'fees':>9} {'net PnL':>10}"]
    for n in names:
        s = summaries[n]
        rel = f"{s.contracts * 100 // ref.contracts}%" if ref is not None and ref.contracts else "n/a"
        lines.append(
            f"{n:<14} {s.fills:>6} {format_count(s.contracts):>10} {rel:>12} {money(s.fees):>9} {money(s.net_pnl):>10}"
        )
    return lines


# ----------------------------------------------------------------------------------------------- the plots
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "kalshibot"
    return plt


def _save(fig: object, path: Path) -> None:
    fig.savefig(path, dpi=90, metadata={"Software": None})  # type: ignore[attr-defined]


def _secs(ts: Sequence[int], t0: int) -> list[float]:
    return [(t - t0) / 1000 for t in ts]


def write_report(
    out_dir: str | Path,
    summaries: Mapping[str, Summary],
    lanes: Mapping[str, Analytics],
    primary: str,
    text_lines: Sequence[str],
) -> list[Path]:
    """PNG plots + ``report.md`` embedding them; returns the files written."""
    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a = lanes[primary]
    s = summaries[primary]
    t0 = s.start_ms
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(9, 4))
    for name in [n for n in MODEL_ORDER if n in lanes]:
        pts = lanes[name].pnl_series.points
        if pts:
            ax.step(_secs([p[0] for p in pts], t0), [p[1] / 1e6 for p in pts], where="post", label=name)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("net PnL after fees ($, marked to mid)")
    ax.set_title("Cumulative PnL")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    written.append(out / "pnl.png")
    _save(fig, written[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4))
    for ticker in sorted(a.inventory):
        pts = a.inventory[ticker].points
        ax.step(_secs([p[0] for p in pts], t0), [p[1] / COUNT_ONE for p in pts], where="post", label=ticker)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("position (contracts, + YES)")
    ax.set_title(f"Inventory per market ({primary})")
    if a.inventory:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    written.append(out / "inventory.png")
    _save(fig, written[-1])
    plt.close(fig)

    tickers = sorted(a.quotes)[:6]
    fig, axes = plt.subplots(max(1, len(tickers)), 1, figsize=(9, 2.6 * max(1, len(tickers))), squeeze=False)
    for ax, ticker in zip([r[0] for r in axes], tickers or [""]):
        series = a.quotes.get(ticker)
        if series is None:
            continue
        xs = _secs([p[0] for p in series.points], t0)

        def col(i: int, pp: list[tuple[int, ...]] = series.points) -> list[float]:
            return [p[i] / 1e6 if p[i] >= 0 else float("nan") for p in pp]

        ax.step(xs, col(3), where="post", color="tab:green", alpha=0.5, label="best bid")
        ax.step(xs, col(4), where="post", color="tab:red", alpha=0.5, label="best ask")
        ax.step(xs, col(1), where="post", color="tab:green", linestyle="--", label="our bid")
        ax.step(xs, col(2), where="post", color="tab:red", linestyle="--", label="our ask")
        ax.set_title(ticker, fontsize="small")
        ax.set_ylabel("YES price ($)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize="x-small")
    axes[-1][0].set_xlabel("seconds since start")
    fig.tight_layout()
    written.append(out / "quotes.png")
    _save(fig, written[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in [n for n in MODEL_ORDER if n in summaries]:
        hs = [(h, t // n) for h, t, n in summaries[name].markouts if n]
        if hs:
            ax.plot([h / 1000 for h, _ in hs], [v / 1e6 for _, v in hs], marker="o", label=name)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("horizon (s)")
    ax.set_ylabel("markout per contract ($, + = in our favour)")
    ax.set_title("Markout curve (adverse selection below 0)")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    written.append(out / "markouts.png")
    _save(fig, written[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    names = [n for n in MODEL_ORDER if n in summaries]
    ax.bar(names, [summaries[n].contracts / COUNT_ONE for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.annotate(f"{summaries[n].fills} fills", (i, summaries[n].contracts / COUNT_ONE), ha="center", va="bottom")
    ax.set_ylabel("contracts filled")
    ax.set_title("Fill-model calibration (recorded = what happened)")
    ax.grid(alpha=0.3, axis="y")
    written.append(out / "calibration.png")
    _save(fig, written[-1])
    plt.close(fig)

    md = ["# kalshibot replay report", "", "```", *text_lines, "```", ""]
    titles = {
        "pnl.png": "Cumulative PnL",
        "inventory.png": "Inventory per market",
        "quotes.png": "Our quotes against the best bid/ask",
        "markouts.png": "Markout curve",
        "calibration.png": "Fill-model calibration",
    }
    for p in written:
        md += [f"## {titles[p.name]}", "", f"![{titles[p.name]}]({p.name})", ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    written.append(out / "report.md")
    return written
