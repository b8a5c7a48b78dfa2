"""Fuzz profile of ``make test``: the seeded mutation fuzzer of tests/chaos/fuzz.py at a small volume (``make chaos``
runs a million inputs), plus Hypothesis for structured cases. Every bad input must be rejected with the documented
error (WireError, ConfigError, JournalError) or counted (the feed's ``bad_frames``, the journal reader's bad lines),
never crash."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.config import parse_settings_text
from kalshibot.errors import ConfigError, WireError
from kalshibot.net.decode import decode_delta
from kalshibot.net.feed import Feed
from tests.chaos import fuzz

pytestmark = pytest.mark.timeout(120)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["0.5", "0.5000", "-1", "1e3", "0.12345", "10.00", "", "yes", "no", "bid"]),
)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12
)
HYP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_small_profile_no_crash_and_rejections_counted() -> None:
    totals = fuzz.run_fuzz_totals(12_000, seed=3)
    assert not totals.crashes, totals.crashes
    assert sum(totals.inputs.values()) >= 11_000
    for target in ("ws", "rest", "journal", "config"):
        # the mutations really produce bad inputs, and every one was rejected through the documented path
        assert totals.rejected[target] > 0, target
        assert totals.rejected[target] <= totals.inputs[target]


def test_fuzzer_reports_an_undocumented_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a decoder that raises something undocumented is reported as a crash."""

    def broken(model: Any, response: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(fuzz.RestBase, "_decode", staticmethod(broken))
    totals = fuzz.Totals()
    fuzz.fuzz_rest(50, random.Random(1), totals)
    assert totals.crashes and "KeyError" in totals.crashes[0]


def _feed() -> Feed:
    return Feed("ws://127.0.0.1:9/none", None, lambda e: None, None, clock_ms=lambda: 0)  # type: ignore[arg-type]


@HYP
@given(msg=st.dictionaries(st.sampled_from(["market_ticker", "price_dollars", "delta_fp", "side", "ts_ms",
                                              "client_order_id", "subaccount"]), json_value, max_size=7),
       sid=json_value, seq=json_value)  # fmt: skip
def test_orderbook_delta_structured(msg: dict[str, Any], sid: Any, seq: Any) -> None:
    frame = json.dumps({"type": "orderbook_delta", "sid": sid, "seq": seq, "msg": msg}).encode()
    try:
        d = decode_delta(frame)
    except WireError:
        d = None
    if d is not None:
        assert d.ticker == msg["market_ticker"] and d.side in ("yes", "no")
    f = _feed()
    f.handle_frame(frame)  # never raises
    assert f.stats.bad_frames == (1 if d is None else 0)


@HYP
@given(kind=st.sampled_from(["orderbook_snapshot", "trade", "fill", "user_order", "market_lifecycle_v2",
                             "order_group_updates", "error", "subscribed", "ok", "zzz"]), msg=json_value)  # fmt: skip
def test_any_channel_frame_structured(kind: str, msg: Any) -> None:
    f = _feed()
    f.handle_frame(json.dumps({"type": kind, "sid": 1, "seq": 1, "msg": msg}).encode())
    assert f.stats.messages == 1 and f.stats.bad_frames in (0, 1)


@HYP
@given(section=st.sampled_from(["risk", "quoting", "timing", "universe", "auth", "sim", "logging", "control"]),
       key=st.text(min_size=1, max_size=20), value=json_value)  # fmt: skip
def test_config_structured(section: str, key: str, value: Any) -> None:
    import yaml

    text = yaml.safe_dump({"environment": "sim", section: {key: value}})
    try:
        parse_settings_text(text, source="h.yaml", env={}, env_file=None, require_secrets=False)
    except ConfigError as e:
        assert str(e).startswith("h.yaml")  # the message names the file


@HYP
@given(
    kind=st.sampled_from(["session", "intent", "order_sent", "ack", "reject", "fill", "risk", "cancel", "x"]),
    fields=st.dictionaries(st.sampled_from(["v", "ts_ms", "session", "price", "count", "order_id", "trade_id",
                                            "side", "intent_id", "state"]), json_value, max_size=6),
    torn=st.booleans(),
)  # fmt: skip
def test_journal_line_structured(tmp_path_factory: pytest.TempPathFactory, kind: str, fields: Any, torn: bool) -> None:
    from kalshibot.errors import JournalError
    from kalshibot.journal.reader import ReaderReport, iter_records

    good = fuzz._load_jsonl(fuzz.DATA / "journal_lines.jsonl")[0]
    line = json.dumps({**good, "type": kind, **fields})
    path = tmp_path_factory.mktemp("j") / "journal-2026-01-01.jsonl"
    path.write_text(json.dumps(good) + "\n" + (line[: len(line) // 2] if torn else line + "\n"))
    rep = ReaderReport()
    n = sum(1 for _ in iter_records(path, report=rep))
    assert n == rep.records and rep.records + len(rep.bad_lines) + len(rep.torn) == 2
    assert rep.records >= 1  # the good line is never lost to a bad neighbour
    try:
        list(iter_records(path, strict=True))
    except JournalError:
        assert not rep.ok


@pytest.mark.parametrize(
    "text",
    ["environment: sim\nrisk:\n  trading_day_tz: " + "a" * 300 + "\n", "environment: sim\nsim[url: null\n"],
    ids=["long-timezone", "bracket-key"],
)
def test_config_fuzz_findings_are_config_errors(text: str) -> None:
    """Found by make chaos's fuzzer: a time zone name too long for a file path (OSError from ZoneInfo) and a
    top-level key containing '[' (an IndexError in the error describer) were crashes; both are ConfigError."""
    with pytest.raises(ConfigError):
        parse_settings_text(text, source="f.yaml", env={}, env_file=None, require_secrets=False)
