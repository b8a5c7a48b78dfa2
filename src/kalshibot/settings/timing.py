"""The ``timing`` section: when not to quote (before close, around scheduled data releases) and flattening.

Release times come in two forms, because Kalshi's markets settle on official data prints (the guide's "model the
exact release you're trading"):

* a one-off instant in RFC3339 with an explicit offset (``2026-12-10T08:30:00-05:00``), for monthly prints such as
  CPI or payrolls whose dates move;
* a daily wall-clock time ``HH:MM`` in a time zone (``"08:30"`` with ``tz: America/New_York``, or
  ``"08:30 America/New_York"``), optionally only on some ``days``, for recurring prints. It follows daylight
  saving: the window is computed from the local date each day.

:meth:`TimingSection.release_windows` turns them into concrete ``[start_ms, end_ms]`` freeze windows for the engine,
which stays free of clocks and time zones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from kalshibot.settings.types import (
    FieldValueError,
    NonNegFloat,
    PriceDelta,
    Section,
    Ticker,
    TimeZoneName,
    check_timezone,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?:\s+(\S+))?$")
DEFAULT_RELEASE_TZ = "America/New_York"


@dataclass(frozen=True, slots=True)
class ReleaseWindow:
    """A concrete freeze window: no quoting in matching markets from ``start_ms`` to ``end_ms`` (inclusive)."""

    series: str | None  # series ticker, exact match
    ticker_pattern: str | None  # fnmatch-style pattern on market tickers
    release_ms: int
    start_ms: int
    end_ms: int


class ReleaseTime(Section):
    series: Ticker | None = None
    ticker: str | None = None
    time: str
    tz: TimeZoneName | None = None
    days: list[Weekday] | None = None
    freeze_before_s: NonNegFloat = 60.0
    freeze_after_s: NonNegFloat = 120.0

    @field_validator("ticker")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(c.isspace() for c in v)):
            raise ValueError(f"expected a market ticker or pattern such as 'KXCPI-*', got {v!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> ReleaseTime:
        if (self.series is None) == (self.ticker is None):
            raise FieldValueError("series", "give exactly one of 'series' (a series ticker) or 'ticker' (a pattern)")
        at_ms, _ = self._parse()
        if at_ms is not None and (self.tz is not None or self.days is not None):
            raise FieldValueError("tz", "'tz' and 'days' apply only to a daily HH:MM time, not to an RFC3339 instant")
        return self

    def _parse(self) -> tuple[int | None, tuple[int, int, str] | None]:
        text = self.time.strip()
        m = _HHMM_RE.match(text)
        if m:
            tz_inline = m.group(3)
            if tz_inline is not None and self.tz is not None and tz_inline != self.tz:
                raise FieldValueError("time", f"time zone given twice ({tz_inline!r} and tz: {self.tz!r})")
            tz = tz_inline or self.tz or DEFAULT_RELEASE_TZ
            try:
                check_timezone(tz)
            except ValueError as e:
                raise FieldValueError("time", str(e)) from None
            return None, (int(m.group(1)), int(m.group(2)), tz)
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise FieldValueError(
                "time",
                f"expected an RFC3339 instant with offset (2026-12-10T08:30:00-05:00) or HH:MM [zone], got {text!r}",
            ) from None
        if dt.tzinfo is None:
            # never a naive datetime: a release instant without an offset is ambiguous
            raise FieldValueError("time", f"an RFC3339 instant needs an offset (Z or -05:00), got {text!r}")
        return int(dt.timestamp() * 1000), None

    def release_instants_ms(self, start_ms: int, end_ms: int) -> list[int]:
        """Release instants whose freeze window overlaps ``[start_ms, end_ms]``."""
        before_ms = int(self.freeze_before_s * 1000)
        after_ms = int(self.freeze_after_s * 1000)
        at_ms, daily = self._parse()
        if at_ms is not None:
            return [at_ms] if at_ms + after_ms >= start_ms and at_ms - before_ms <= end_ms else []
        assert daily is not None
        hour, minute, tz_name = daily
        tz = ZoneInfo(tz_name)
        days = set(self.days) if self.days is not None else set(_WEEKDAYS)
        lo = datetime.fromtimestamp((start_ms - after_ms) / 1000, tz).date() - timedelta(days=1)
        hi = datetime.fromtimestamp((end_ms + before_ms) / 1000, tz).date() + timedelta(days=1)
        out: list[int] = []
        d = lo
        while d <= hi:
            if _WEEKDAYS[d.weekday()] in days:
                local = datetime.combine(d, dtime(hour, minute), tzinfo=tz)
                ms = int(local.astimezone(UTC).timestamp() * 1000)
                if ms + after_ms >= start_ms and ms - before_ms <= end_ms:
                    out.append(ms)
            d += timedelta(days=1)
        return out


class FlattenSection(Section):
    enabled: bool = False
    minutes: NonNegFloat = 2.0
    max_price_concession: PriceDelta = 20_000  # 0.02 dollars

    @property
    def before_close_ms(self) -> int:
        return int(self.minutes * 60_000)


class TimingSection(Section):
    stop_before_close_min: NonNegFloat = 5.0
    release_times: list[ReleaseTime] = Field(default_factory=list)
    flatten_before_close: FlattenSection = FlattenSection()

    @property
    def stop_before_close_ms(self) -> int:
        return int(self.stop_before_close_min * 60_000)

    def release_windows(self, start_ms: int, end_ms: int) -> list[ReleaseWindow]:
        """Every freeze window overlapping ``[start_ms, end_ms]``, sorted by start (the daemon refreshes these
        daily and hands them to the engine as plain data)."""
        out: list[ReleaseWindow] = []
        for rt in self.release_times:
            before_ms = int(rt.freeze_before_s * 1000)
            after_ms = int(rt.freeze_after_s * 1000)
            for at in rt.release_instants_ms(start_ms, end_ms):
                out.append(ReleaseWindow(rt.series, rt.ticker, at, at - before_ms, at + after_ms))
        out.sort(key=lambda w: (w.start_ms, w.release_ms))
        return out
