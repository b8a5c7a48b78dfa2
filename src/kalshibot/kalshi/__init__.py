"""Kalshi protocol, pure: request signing (:mod:`.signing`), key files (:mod:`.keys`) and wire models."""
