"""Forward testing: the virtual venue and fill models shared with paper mode, journal replay, analytics, the report,
scenario backtests and the hypothesis verdict (docs/forward-testing.md)."""
