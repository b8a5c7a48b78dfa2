"""replay --config: the engine re-run over recorded market data, compared with the log; the hypothesis verdict."""

from __future__ import annotations

from pathlib import Path

from kalshibot.replay.cli import run_replay
from tests.test_paper_executor import _journal_session

CONFIG = """
environment: sim
quoting:
  spread: "0.04"
  size: 2
hypothesis:
  statement: "quoting wide pays"
  metric: net_pnl_per_contract
  threshold: 0
  min_fills: 1
"""


def test_whatif_reruns_the_engine_and_judges_the_hypothesis(tmp_path: Path) -> None:
    d = _journal_session(tmp_path)
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(CONFIG)
    lines, res = run_replay([str(d)], "queue", config_path=str(cfg))
    w = res.summaries["what-if"]
    assert w.orders["create"] >= 2  # the engine quoted both sides by itself
    text = "\n".join(lines)
    assert "what-if: the engine re-run with" in text and "spread 0.0400" in text
    assert "what-if vs logged:" in text
    hyp = [line for line in lines if line.startswith("hypothesis:")]
    assert len(hyp) == 1 and '"quoting wide pays"' in hyp[0]
    assert any(v in hyp[0] for v in ("SUPPORTS", "INVALIDATES"))  # 2 fills >= min_fills 1: judged
    again, _ = run_replay([str(d)], "queue", config_path=str(cfg))
    assert again == lines
