"""The Kalshi-compatible exchange simulator: a pure exchange (:mod:`kalshibot.sim.exchange`), its event stream
(:mod:`kalshibot.sim.simevents`), Kalshi wire serializers (:mod:`kalshibot.sim.wire`), the scenario driver that
brings markets to life (:mod:`kalshibot.sim.scenario`), and the REST + WebSocket server on top."""

from __future__ import annotations
