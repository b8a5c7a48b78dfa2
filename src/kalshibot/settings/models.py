"""The settings a trader tunes in YAML, as frozen pydantic models that refuse unknown keys.

Every field has a default, so an empty file runs the bot against the embedded simulator. Units: money and prices
are int micro-dollars (written as dollars in YAML), counts are int centi-contracts (written as contracts), durations
are seconds or minutes as the field name says (``*_ms`` properties give integer milliseconds for the core).
``config/bot.yaml`` documents every key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator

from kalshibot.core.fixed import contracts, dollars
from kalshibot.errors import ConfigError
from kalshibot.settings.secrets import Secrets
from kalshibot.settings.timing import FlattenSection, ReleaseTime, ReleaseWindow, TimingSection
from kalshibot.settings.types import (
    Contracts,
    FieldValueError,
    Money,
    NonNegInt,
    PosFloat,
    PosInt,
    PriceDelta,
    Section,
    SignedMoney,
    Ticker,
    TimeZoneName,
)

__all__ = [
    "AuthSection",
    "ControlSection",
    "FlattenSection",
    "HypothesisSection",
    "LoggingSection",
    "QuotingSection",
    "ReconcileSection",
    "ReleaseTime",
    "ReleaseWindow",
    "RiskSection",
    "Settings",
    "SimSection",
    "TimingSection",
    "UniverseSection",
]

Environment = Literal["sim", "demo", "prod", "custom"]

# API.md §1: the canonical 2026 hosts (the older shared hosts still work; use environment: custom for them)
KALSHI_URLS: dict[str, tuple[str, str]] = {
    "prod": ("https://external-api.kalshi.com/trade-api/v2", "wss://external-api-ws.kalshi.com/trade-api/ws/v2"),
    "demo": (
        "https://external-api.demo.kalshi.co/trade-api/v2",
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
    ),
}
REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"

# The seed guide, section 3, quoted when a universe is too wide.
GUIDE_UNIVERSE_ADVICE = (
    "Do not scan the whole exchange. Pick 3-5 event series where you understand the resolution mechanics"
)
MAX_SERIES = 5

# API.md §3.5: client_order_id is at most 64 characters of [-\w:+=/] (the FIX ClOrdID rule). The bot appends a
# unique suffix of up to COID_SUFFIX_LEN characters to the configured prefix.
COID_MAX_LEN = 64
COID_SUFFIX_LEN = 24
COID_PREFIX_MAX_LEN = COID_MAX_LEN - COID_SUFFIX_LEN
_COID_RE = re.compile(r"^[-\w:+=/]+$", re.ASCII)

# CONTRACTS.md "Journal records"
JournalRecordType = Literal[
    "session",
    "intent",
    "order_sent",
    "ack",
    "reject",
    "amend",
    "decrease",
    "cancel",
    "fill",
    "risk",
    "lifecycle",
    "settlement",
]


class SimSection(Section):
    scenario: Annotated[str, Field(min_length=1)] = "default"
    seed: int = 1
    speed: PosFloat = 1.0
    rate_limit_tier: Literal["basic", "advanced", "premier", "paragon", "prime", "off"] = "basic"
    balance: Money = dollars("10000")


class AuthSection(Section):
    mode: Literal["api_key", "legacy"] = "api_key"
    legacy_token_lifetime_s: PosFloat = 1800.0
    clock_skew_warn_ms: NonNegInt = 2_000
    clock_skew_max_ms: PosInt = 25_000

    @model_validator(mode="after")
    def _skew(self) -> AuthSection:
        if self.clock_skew_max_ms < self.clock_skew_warn_ms:
            raise FieldValueError("clock_skew_max_ms", "must be at least clock_skew_warn_ms")
        return self


class UniverseSection(Section):
    series: list[Ticker] | None = None
    allow_more_than_five: bool = False
    markets: list[Ticker] | None = None
    max_markets_per_series: PosInt | None = 20
    refresh_s: PosFloat = 180.0  # re-read the series' open markets this often (new markets, closed ones)

    @model_validator(mode="after")
    def _check(self) -> UniverseSection:
        if self.series is not None:
            if not self.series:
                raise FieldValueError("series", f"list at least one series ticker. {GUIDE_UNIVERSE_ADVICE}.")
            if len(self.series) > MAX_SERIES and not self.allow_more_than_five:
                raise FieldValueError(
                    "series",
                    f"{len(self.series)} series listed, at most {MAX_SERIES} allowed. The guide: "
                    f'"{GUIDE_UNIVERSE_ADVICE}." (set universe.allow_more_than_five: true to override)',
                )
            _no_duplicates("series", self.series)
        if self.markets is not None:
            if not self.markets:
                raise FieldValueError("markets", "an empty list would quote nothing: omit the key to use every market")
            _no_duplicates("markets", self.markets)
        return self


def _no_duplicates(field: str, items: list[str]) -> None:
    seen: set[str] = set()
    for t in items:
        if t in seen:
            raise FieldValueError(field, f"{t!r} is listed twice")
        seen.add(t)


class QuotingSection(Section):
    model: Literal["linear", "logit"] = "linear"
    fair_value: Literal["microprice", "mid", "external"] = "microprice"
    # linear (the guide's quoter): bid = fair - spread/2 - skew*inventory, ask = fair + spread/2 - skew*inventory
    spread: PriceDelta = dollars("0.02")
    skew: PriceDelta = dollars("0.005")
    # logit (inventory-aware in log-odds space)
    gamma: PosFloat = 0.1
    k: PosFloat = 50.0
    sigma: PosFloat = 0.005
    tau_cap_s: PosFloat = 3600.0
    max_position: Annotated[Contracts, Field(gt=0)] = contracts(100)
    # both
    size: Annotated[Contracts, Field(gt=0)] = contracts(5)
    levels: Annotated[int, Field(ge=1, le=10)] = 1
    level_spacing_ticks: PosInt = 1
    requote_tolerance_ticks: NonNegInt = 1
    quote_ttl_s: PosFloat = 30.0
    expiration_s: NonNegInt = 60
    policy: Literal["amend", "cancel_replace"] = "amend"
    post_only: bool = True

    @property
    def quote_ttl_ms(self) -> int:
        return int(self.quote_ttl_s * 1000)


class RiskSection(Section):
    max_notional_per_market: Annotated[Money, Field(gt=0)] = dollars("500")
    daily_loss_kill: Annotated[Money, Field(gt=0)] = dollars("100")
    max_event_exposure: Annotated[Money, Field(gt=0)] = dollars("1000")
    max_account_exposure: Annotated[Money, Field(gt=0)] = dollars("2500")
    max_position: Annotated[Contracts, Field(gt=0)] = contracts(200)
    max_order_size: Annotated[Contracts, Field(gt=0)] = contracts(50)
    price_band: Annotated[PriceDelta, Field(gt=0)] = dollars("0.10")
    reducing_fraction: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.9
    # back to ACTIVE only below reducing_fraction - reducing_hysteresis, so the state does not flap at the line
    reducing_hysteresis: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.05
    order_group_contracts_limit: Annotated[Contracts, Field(gt=0)] = contracts(200)
    trading_day_tz: TimeZoneName = "America/New_York"

    @model_validator(mode="after")
    def _hysteresis(self) -> RiskSection:
        if self.reducing_hysteresis >= self.reducing_fraction:
            raise FieldValueError("reducing_hysteresis", "must be smaller than reducing_fraction")
        return self

    @property
    def reducing_fraction_ppm(self) -> int:
        """The fraction in parts per million, for integer comparisons in the core."""
        return round(self.reducing_fraction * 1_000_000)


class ControlSection(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8780
    allow_remote: bool = False

    @model_validator(mode="after")
    def _loopback(self) -> ControlSection:
        if not self.allow_remote and not is_loopback_host(self.host):
            raise FieldValueError(
                "host",
                f"{self.host!r} is not a loopback address; the control endpoint can halt trading and has no "
                "authentication. Use 127.0.0.1 (or set control.allow_remote: true behind your own firewall)",
            )
        return self


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def _default_fsync() -> list[JournalRecordType]:
    return ["fill", "risk"]  # CONTRACTS.md: fills and risk transitions must survive a crash


class LoggingSection(Section):
    dir: Annotated[Path, Field(strict=False)] = Path("logs")
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console", "auto"] = "auto"
    journal_fsync: list[JournalRecordType] = Field(default_factory=_default_fsync)
    retention_days: PosInt | None = 30

    @field_validator("level", mode="before")
    @classmethod
    def _level_lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("dir", mode="before")
    @classmethod
    def _dir(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            raise ValueError("expected a directory path, got an empty string")
        return v


class ReconcileSection(Section):
    adopt_orphans: Literal["adopt", "cancel"] = "adopt"
    interval_s: PosFloat = 60.0

    @property
    def interval_ms(self) -> int:
        return int(self.interval_s * 1000)


class HypothesisSection(Section):
    statement: Annotated[str, Field(min_length=1)]
    metric: Literal["net_pnl_per_contract", "net_pnl", "markout_per_contract"] = "net_pnl_per_contract"
    threshold: SignedMoney = 0
    min_fills: PosInt = 100


class Settings(Section):
    environment: Environment = "sim"
    sim_url: str | None = None
    rest_url: str | None = None
    ws_url: str | None = None
    sim: SimSection = SimSection()
    auth: AuthSection = AuthSection()
    subaccount: Annotated[int, Field(ge=0, le=63)] = 0
    client_order_id_prefix: str = "kb-"
    universe: UniverseSection = UniverseSection()
    quoting: QuotingSection = QuotingSection()
    risk: RiskSection = RiskSection()
    timing: TimingSection = TimingSection()
    control: ControlSection = ControlSection()
    logging: LoggingSection = LoggingSection()
    reconcile: ReconcileSection = ReconcileSection()
    hypothesis: HypothesisSection | None = None
    # from the environment / .env only (the loader refuses a `secrets` key in YAML); excluded from dumps and hash
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)

    @field_validator("client_order_id_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v:
            # cancel-all finds this bot's orders by prefix: an empty prefix would match every order on the account
            raise ValueError("must not be empty: cancel-all identifies this bot's orders by the prefix")
        if len(v) > COID_PREFIX_MAX_LEN:
            raise ValueError(
                f"{len(v)} characters is too long: Kalshi allows {COID_MAX_LEN} for the whole client_order_id and "
                f"the bot needs {COID_SUFFIX_LEN} for its unique suffix, so at most {COID_PREFIX_MAX_LEN}"
            )
        if not _COID_RE.match(v):
            bad = sorted({c for c in v if not _COID_RE.match(c)})
            raise ValueError(f"characters {bad!r} not allowed: Kalshi allows only letters, digits and -_:+=/")
        return v

    @model_validator(mode="after")
    def _cross(self) -> Settings:
        env = self.environment
        if env == "custom":
            if not self.rest_url:
                raise FieldValueError("rest_url", "required with environment: custom (e.g. https://host/trade-api/v2)")
            if not self.ws_url:
                raise FieldValueError("ws_url", "required with environment: custom (e.g. wss://host/trade-api/ws/v2)")
        else:
            for name in ("rest_url", "ws_url"):
                if getattr(self, name) is not None:
                    raise FieldValueError(name, f"only with environment: custom (environment is {env})")
        if self.rest_url is not None:
            _check_url("rest_url", self.rest_url, ("http", "https"))
        if self.ws_url is not None:
            _check_url("ws_url", self.ws_url, ("ws", "wss"))
        if self.sim_url is not None:
            if env != "sim":
                raise FieldValueError("sim_url", f"only with environment: sim (environment is {env})")
            _check_url("sim_url", self.sim_url, ("http", "https"))
        if self.universe.series is None and env != "sim":
            raise FieldValueError(
                "universe.series",
                f"required with environment: {env}: list the series to trade. The guide: {GUIDE_UNIVERSE_ADVICE}",
            )
        if self.auth.mode == "legacy" and env in ("demo", "prod"):
            raise FieldValueError(
                "auth.mode",
                "legacy email/password login was removed by Kalshi in 2026 (POST /login no longer exists); "
                "use api_key. legacy works with the simulator or environment: custom",
            )
        if self.quoting.size > self.risk.max_order_size:
            raise FieldValueError(
                "quoting.size", "larger than risk.max_order_size: every quote would be refused by the risk guard"
            )
        return self

    # ------------------------------------------------------------------------------------------------ helpers
    @property
    def credentials_required(self) -> bool:
        """True when the bot talks to an exchange that needs our key (everything but the embedded simulator)."""
        return self.environment != "sim" or self.sim_url is not None

    @property
    def embedded_sim(self) -> bool:
        return self.environment == "sim" and self.sim_url is None

    def resolved_urls(self, sim_base_url: str | None = None) -> tuple[str, str]:
        """``(rest_url, ws_url)``. For the embedded simulator pass its ``base_url`` once it has started."""
        if self.environment in KALSHI_URLS:
            return KALSHI_URLS[self.environment]
        if self.environment == "custom":
            assert self.rest_url is not None and self.ws_url is not None  # checked by the validator
            return self.rest_url.rstrip("/"), self.ws_url.rstrip("/")
        base = self.sim_url or sim_base_url
        if base is None:
            raise ConfigError(
                "the embedded simulator's URLs are known only once it has started: pass its base_url",
                field="sim_url",
            )
        return urls_from_base(base)

    def config_hash(self) -> str:
        """``sha256:<hex>`` of the effective settings (canonical JSON, secrets excluded): equal for equal
        settings whatever the YAML's key order, comments or spelling of numbers (500 vs "500.00")."""
        data = self.model_dump(mode="json")
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def urls_from_base(base: str) -> tuple[str, str]:
    """``http://h:p`` (a ``kalshibot sim``'s address, optionally with /trade-api/v2) -> (REST base, WS URL)."""
    parts = urlsplit(base.rstrip("/"))
    path = parts.path
    if path.endswith(REST_PREFIX):
        path = path[: -len(REST_PREFIX)]
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    rest = urlunsplit((parts.scheme, parts.netloc, path + REST_PREFIX, "", ""))
    ws = urlunsplit((ws_scheme, parts.netloc, path + WS_PATH, "", ""))
    return rest, ws


def _check_url(field: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise FieldValueError(field, f"expected a {' or '.join(s + '://' for s in schemes)} URL, got {url!r}")
    if parts.query or parts.fragment:
        raise FieldValueError(field, f"no query or fragment expected in {url!r}")
