"""Configuration: YAML settings plus secrets from the environment / ``.env``, and ``kalshibot check-config``.

This is the public import path; the implementation lives in :mod:`kalshibot.settings` (models, field types,
timing, secrets, loader). Typical use::

    from kalshibot.config import load_settings

    settings = load_settings("config/bot.yaml")          # ConfigError (exit 2) / CredentialError (exit 3)
    rest_url, ws_url = settings.resolved_urls()            # demo / prod / custom / sim_url
    settings.risk.max_notional_per_market                  # int micro-dollars (500 dollars -> 500_000_000)
    settings.quoting.size                                  # int centi-contracts (5 contracts -> 500)
    settings.secrets.api_key_id.get_secret_value()         # SecretStr: never printed
    settings.config_hash()                                 # for the journal's session record
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import yaml

from kalshibot.settings.loader import ConfigLoader, load_settings, parse_settings, parse_settings_text
from kalshibot.settings.models import (
    COID_MAX_LEN,
    COID_PREFIX_MAX_LEN,
    COID_SUFFIX_LEN,
    GUIDE_UNIVERSE_ADVICE,
    KALSHI_URLS,
    AuthSection,
    ControlSection,
    FlattenSection,
    HypothesisSection,
    LoggingSection,
    QuotingSection,
    ReconcileSection,
    ReleaseTime,
    ReleaseWindow,
    RiskSection,
    Settings,
    SimSection,
    TimingSection,
    UniverseSection,
    urls_from_base,
)
from kalshibot.settings.secrets import SECRET_VARIABLES, Secrets

if TYPE_CHECKING:
    from kalshibot.core.quoter import QuoteParams
    from kalshibot.core.risk import RiskLimits

__all__ = [
    "COID_MAX_LEN",
    "COID_PREFIX_MAX_LEN",
    "COID_SUFFIX_LEN",
    "GUIDE_UNIVERSE_ADVICE",
    "KALSHI_URLS",
    "SECRET_VARIABLES",
    "AuthSection",
    "ConfigLoader",
    "ControlSection",
    "FlattenSection",
    "HypothesisSection",
    "LoggingSection",
    "QuotingSection",
    "ReconcileSection",
    "ReleaseTime",
    "ReleaseWindow",
    "RiskSection",
    "Secrets",
    "Settings",
    "SimSection",
    "TimingSection",
    "UniverseSection",
    "check_config_main",
    "load_settings",
    "parse_settings",
    "parse_settings_text",
    "quote_params",
    "render_settings",
    "risk_limits",
    "urls_from_base",
]


def quote_params(settings: Settings) -> QuoteParams:
    """``settings.quoting`` as the core quoter's :class:`~kalshibot.core.quoter.QuoteParams`.

    Imported lazily so that ``check-config`` never depends on the trading core.
    """
    from kalshibot.settings.adapters import quote_params as convert

    return convert(settings.quoting)


def risk_limits(settings: Settings) -> RiskLimits:
    """``settings.risk`` as the core risk guard's :class:`~kalshibot.core.risk.RiskLimits` (imported lazily)."""
    from kalshibot.settings.adapters import risk_limits as convert

    return convert(settings.risk)


def render_settings(settings: Settings, *, source: str | None = None) -> str:
    """The effective settings as YAML (money as dollar strings, counts as contract strings), secrets masked.

    Everything above the ``secrets:`` block is itself a valid config that loads to the same settings.
    """
    head = [f"# effective settings{f' of {source}' if source else ''}", f"# config hash: {settings.config_hash()}"]
    if settings.embedded_sim:
        head.append("# urls: embedded simulator on a loopback port chosen at start")
    else:
        rest, ws = settings.resolved_urls()
        head.append(f"# rest: {rest}")
        head.append(f"# ws:   {ws}")
    body = yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    required = "required" if settings.credentials_required else "not required for the embedded simulator"
    secrets = yaml.safe_dump({"secrets": settings.secrets.masked()}, sort_keys=False)
    return (
        "\n".join(head)
        + "\n"
        + body
        + f"# from the environment / .env only, never from the config file ({required})\n"
        + secrets
    )


def check_config_main(args: argparse.Namespace) -> int:
    """``kalshibot check-config [PATH]``: validate, print the effective settings, exit 0. Errors propagate as
    ConfigError / CredentialError (the CLI prints one line and exits 2 / 3)."""
    settings = load_settings(args.path)
    sys.stdout.write(render_settings(settings, source=str(args.path)))
    return 0
