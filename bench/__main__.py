"""make bench entry point (figures are added by the benchmarks issue)."""

raise SystemExit("bench: no benchmarks yet")
