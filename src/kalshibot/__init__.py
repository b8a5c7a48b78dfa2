"""kalshibot: a market-making daemon for Kalshi event contracts, with its own Kalshi-compatible simulator."""

__version__ = "0.1.0"
