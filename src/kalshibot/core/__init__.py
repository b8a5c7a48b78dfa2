"""The pure trading core: no I/O, no clocks, no randomness (time and randomness are passed in)."""
