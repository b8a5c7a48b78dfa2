"""The chaos harness (issue 10): the daemon against the simulator's fault injection, checked against the
simulator's own records. ``python -m tests.chaos`` (``make chaos``) runs the full matrix; ``tests/test_chaos_fast.py``
runs a few cells in ``make test``. Test-only code: nothing under ``src/`` imports it.

Modules: :mod:`.exposure` (money at stake recomputed from the exchange's books, at every fill), :mod:`.harness`
(one cell: simulator + daemon + fault + checks), :mod:`.matrix` (the faults), :mod:`.sigkill` (the SIGKILL-and-restart
cell over a real subprocess), :mod:`.invariants` (the checks), :mod:`.fuzz` (the volume fuzzer).
"""
