"""The timing section: release-time parsing and the concrete freeze windows handed to the engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kalshibot.config import Settings, parse_settings_text
from kalshibot.errors import ConfigError


def parse(text: str) -> Settings:
    return parse_settings_text(text, source="t.yaml", env={}, env_file=None)


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_one_off_release_window() -> None:
    s = parse(
        "timing:\n  release_times:\n"
        "  - {series: KXCPIYOY, time: '2026-12-10T08:30:00-05:00', freeze_before_s: 120, freeze_after_s: 300}\n"
    )
    release = ms("2026-12-10T13:30:00+00:00")
    (w,) = s.timing.release_windows(ms("2026-12-10T00:00:00+00:00"), ms("2026-12-11T00:00:00+00:00"))
    assert (w.series, w.ticker_pattern, w.release_ms) == ("KXCPIYOY", None, release)
    assert (w.start_ms, w.end_ms) == (release - 120_000, release + 300_000)
    # a window that only overlaps the query range at its tail still counts; one entirely outside does not
    assert s.timing.release_windows(release + 299_000, release + 400_000) != []
    assert s.timing.release_windows(release + 301_000, release + 400_000) == []
    assert s.timing.release_windows(0, release - 121_000) == []


def test_daily_release_follows_daylight_saving() -> None:
    s = parse(
        "timing:\n  release_times:\n"
        "  - ticker: 'KXHIGHNY-*'\n    time: 16:00\n    tz: America/New_York\n"
        "    freeze_before_s: 60\n    freeze_after_s: 60\n"
    )
    summer = s.timing.release_windows(ms("2026-07-01T00:00:00+00:00"), ms("2026-07-01T23:59:59+00:00"))
    winter = s.timing.release_windows(ms("2026-12-01T00:00:00+00:00"), ms("2026-12-01T23:59:59+00:00"))
    assert [datetime.fromtimestamp(w.release_ms / 1000, UTC).hour for w in summer] == [20]  # EDT, UTC-4
    assert [datetime.fromtimestamp(w.release_ms / 1000, UTC).hour for w in winter] == [21]  # EST, UTC-5
    assert summer[0].ticker_pattern == "KXHIGHNY-*" and summer[0].series is None


def test_daily_release_days_filter_and_inline_zone() -> None:
    s = parse("timing:\n  release_times:\n  - {series: KXA, time: '09:00 Europe/London', days: [mon]}\n")
    # 2026-11-23 is a Monday; a full week holds exactly one window
    week = s.timing.release_windows(ms("2026-11-22T00:00:00+00:00"), ms("2026-11-29T00:00:00+00:00"))
    assert len(week) == 1
    assert datetime.fromtimestamp(week[0].release_ms / 1000, UTC) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_default_release_zone_is_new_york() -> None:
    s = parse("timing:\n  release_times:\n  - {series: KXA, time: '08:30'}\n")
    (w,) = s.timing.release_windows(ms("2026-12-10T00:00:00+00:00"), ms("2026-12-10T23:00:00+00:00"))
    assert w.release_ms == ms("2026-12-10T13:30:00+00:00")


def test_windows_sorted_across_entries() -> None:
    s = parse(
        "timing:\n  release_times:\n"
        "  - {series: KXB, time: '2026-12-10T15:00:00Z'}\n"
        "  - {series: KXA, time: '2026-12-10T09:00:00Z'}\n"
    )
    ws = s.timing.release_windows(ms("2026-12-10T00:00:00+00:00"), ms("2026-12-11T00:00:00+00:00"))
    assert [w.series for w in ws] == ["KXA", "KXB"]


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("{time: '08:30'}", "exactly one of"),
        ("{series: KXA, ticker: 'KXA-*', time: '08:30'}", "exactly one of"),
        ("{series: KXA, time: '2026-12-10T08:30:00'}", "offset"),
        ("{series: KXA, time: 'tomorrow'}", "RFC3339"),
        ("{series: KXA, time: '25:00'}", "RFC3339"),
        ("{series: KXA, time: '2026-12-10T08:30:00Z', tz: America/New_York}", "only to a daily"),
        ("{series: KXA, time: '08:30 Europe/Paris', tz: America/New_York}", "given twice"),
        ("{series: KXA, time: '08:30 Not/AZone'}", "unknown time zone"),
        ("{series: KXA, time: '08:30', days: [funday]}", "days"),
        ("{series: KXA, time: '08:30', freeze_before_s: -1}", "freeze_before_s"),
        ("{series: KXA}", "time: required key is missing"),
    ],
)
def test_bad_release_times(entry: str, needle: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse(f"timing:\n  release_times:\n  - {entry}\n")
    msg = str(ei.value)
    assert "timing.release_times[0]" in msg and needle in msg


def test_duration_helpers_in_ms() -> None:
    s = parse(
        "timing: {stop_before_close_min: 2.5, flatten_before_close: {minutes: 1}}\n"
        "quoting: {quote_ttl_s: 1.5}\nreconcile: {interval_s: 30}\nrisk: {reducing_fraction: 0.75}\n"
    )
    assert s.timing.stop_before_close_ms == 150_000
    assert s.timing.flatten_before_close.before_close_ms == 60_000
    assert s.quoting.quote_ttl_ms == 1_500 and s.reconcile.interval_ms == 30_000
    assert s.risk.reducing_fraction_ppm == 750_000
