"""The async shells between the pure core and Kalshi (or Kalshi's demo, or the simulator: the code cannot tell
them apart).

* ``auth``: API-key signing as ``httpx.Auth`` (RSA-PSS / Ed25519) plus WebSocket handshake headers; the legacy
  ``/login`` token flow for the simulator; ``load_private_key`` (refuses loose key files, exit code 3).
* ``rest`` (``rest_base``, ``rest_orders``, ``rest_models``): ``KalshiRest``, one httpx client per process with
  typed endpoints; ``errors_map`` maps every failure into the error tree; ``ratelimit`` mirrors Kalshi's buckets.
* ``feed`` (``decode``, ``ws_models``): the WebSocket feed, per-market sequence checks and resync, reconnects.
* ``executor`` (``executor_support``): carries out the core's order actions, journals them, resolves unknowns.
* ``reconcile``: REST view of orders, positions and missed fills; adopt-or-cancel.
* ``clock``: startup skew check. ``cancel_all``: the ``kalshibot cancel-all`` command.
"""
