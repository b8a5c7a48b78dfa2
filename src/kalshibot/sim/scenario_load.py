"""Scenario data: the frozen description of a simulated market world, and its YAML loader.

A scenario names series (each rolling over into a new event when the current one closes), their markets (listed,
or generated from strikes / mutually exclusive brackets), the latent underlying that drives fair values, and the
synthetic participants. The file format is documented in ``sim/scenarios/default.yaml``; every key has a default
except ``series[].ticker``. Durations are *scenario seconds* (the driver divides them by ``--speed``); prices are
dollars, sizes contracts, fee multipliers plain numbers. Unknown keys are refused (a typo must not silently fall
back to a default): errors are :class:`~kalshibot.errors.ConfigError` naming the file and the field path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kalshibot.core.fixed import dollars
from kalshibot.core.grid import PriceGrid
from kalshibot.errors import ConfigError, FixedPointError, GridError

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


@dataclass(frozen=True, slots=True)
class MarketSpec:
    suffix: str
    title: str
    strike_type: str  # greater | less | between
    floor_strike: float | None
    cap_strike: float | None
    grid: PriceGrid


@dataclass(frozen=True, slots=True)
class UnderlyingSpec:
    start: float  # latent value at the first event's open
    start_sd: float  # each new event starts at start + N(0, start_sd)
    drift_per_hour: float
    vol_per_sqrt_hour: float
    jump_sd: float  # N(0, jump_sd) jump at each release
    final_sd: float  # residual noise of the settlement value around the latent value at determination
    decimals: int  # how the expiration value is printed


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    ticker: str
    title: str
    category: str
    frequency: str
    fee_type: str
    fee_multiplier_ppm: int
    event_title: str  # "{n}" is the event's sequence number
    mutually_exclusive: bool
    lifetime_s: float  # open -> close
    releases_s: tuple[float, ...]  # offsets from open of information releases (latent jumps)
    determination_delay_s: float  # close -> determined
    settlement_timer_s: float  # determined -> settled (finalized)
    rollover: bool  # open the next event when this one closes
    underlying: UnderlyingSpec
    markets: tuple[MarketSpec, ...]


@dataclass(frozen=True, slots=True)
class LiquidityProviderSpec:
    name: str
    series: tuple[str, ...]  # empty = every series
    interval_s: tuple[float, float]  # requote one level every uniform(lo, hi) seconds, per market
    levels: int  # price levels per side
    size: tuple[int, int]  # contracts per level, uniform
    half_spread: int  # micros from its belief to the first level
    level_step: int  # micros between levels
    tracking: float  # 0..1: how far its belief moves toward fair value at each requote (lag after jumps)
    noise: int  # micros sd of its belief's error
    balance: int  # micros


@dataclass(frozen=True, slots=True)
class NoiseTakerSpec:
    name: str
    series: tuple[str, ...]
    rate_per_min: float  # IOC orders per market per minute (Poisson)
    size: tuple[int, int]
    balance: int


@dataclass(frozen=True, slots=True)
class InformedSpec:
    name: str
    series: tuple[str, ...]
    rate_per_min: float  # decisions per event per minute (Poisson)
    size: tuple[int, int]
    edge: int  # micros: trades only when the book is this far from the latent fair value
    pre_release_s: float  # within this long before a release ...
    pre_release_multiplier: float  # ... the rate is multiplied by this
    balance: int


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    series: tuple[SeriesSpec, ...]
    liquidity_providers: tuple[LiquidityProviderSpec, ...]
    noise_takers: tuple[NoiseTakerSpec, ...]
    informed: tuple[InformedSpec, ...]
    min_interval_ms: int  # participant intervals never shrink below this under --speed
    # scripted faults: {"at_s": scenario seconds, "fault": NAME, ...params} (sim/faults.py validates them when the
    # server loads the scenario; they fire only with --faults)
    faults: tuple[dict[str, Any], ...] = ()


# ------------------------------------------------------------------------------------------------ the loader
class _Reader:
    """Typed access to one mapping of the YAML with field-path error messages."""

    def __init__(self, data: object, file: str, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping", file=file, field=path or "(top)")
        self.d: dict[str, Any] = data
        self.file, self.path = file, path
        self.used: set[str] = set()

    def _f(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def err(self, key: str, msg: str) -> ConfigError:
        return ConfigError(msg, file=self.file, field=self._f(key))

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.d.get(key, default)

    def num(self, key: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.err(key, f"expected a number, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.err(key, f"expected a number in [{lo}, {hi}], got {v!r}")
        return float(v)

    def integer(self, key: str, default: int, lo: int = 0) -> int:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise self.err(key, f"expected an integer >= {lo}, got {v!r}")
        return v

    def text(self, key: str, default: str) -> str:
        v = self.get(key, default)
        if not isinstance(v, str):
            raise self.err(key, f"expected a string, got {v!r}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            raise self.err(key, f"expected true or false, got {v!r}")
        return v

    def price(self, key: str, default: str) -> int:
        v = self.get(key, default)
        try:
            p = dollars(str(v))
        except FixedPointError as e:
            raise self.err(key, f"expected a dollar amount, got {v!r}") from e
        if p < 0:
            raise self.err(key, "must not be negative")
        return p

    def pair(self, key: str, default: tuple[float, float]) -> tuple[float, float]:
        v = self.get(key, list(default))
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = [v, v]
        if not (
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v) and 0 < v[0] <= v[1]
        ):
            raise self.err(key, f"expected [low, high] with 0 < low <= high, got {v!r}")
        return float(v[0]), float(v[1])

    def names(self, key: str) -> tuple[str, ...]:
        v = self.get(key, "all")
        if v == "all":
            return ()
        if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise self.err(key, f"expected 'all' or a list of series tickers, got {v!r}")
        return tuple(v)

    def items(self, key: str) -> list[_Reader]:
        v = self.get(key, [])
        if not isinstance(v, list):
            raise self.err(key, "expected a list")
        return [_Reader(x, self.file, f"{self._f(key)}[{i}]") for i, x in enumerate(v)]

    def sub(self, key: str) -> _Reader:
        return _Reader(self.get(key, {}), self.file, self._f(key))

    def done(self) -> None:
        extra = sorted(set(self.d) - self.used)
        if extra:
            raise self.err(extra[0], "unknown key")


def _grid(r: _Reader, key: str) -> PriceGrid:
    v = r.get(key, "linear_cent")
    try:
        if isinstance(v, str):
            return PriceGrid.from_wire(None, v)
        return PriceGrid.from_wire(v, "custom")
    except GridError as e:
        raise r.err(key, str(e)) from e


def _fmt(x: float) -> str:
    return f"{x:g}"


def _markets(r: _Reader) -> tuple[MarketSpec, ...]:
    out: list[MarketSpec] = []
    grid = _grid(r, "grid")
    for m in r.items("markets"):
        st = m.text("strike_type", "greater")
        if st not in ("greater", "less", "between"):
            raise m.err("strike_type", "expected greater, less or between")
        floor = m.get("floor_strike")
        cap = m.get("cap_strike")
        if (st in ("greater", "between") and not isinstance(floor, int | float)) or (
            st in ("less", "between") and not isinstance(cap, int | float)
        ):
            raise m.err("strike_type", f"{st} needs numeric floor_strike/cap_strike")
        suffix = m.text("suffix", "")
        if not suffix:
            raise m.err("suffix", "required")
        out.append(
            MarketSpec(suffix, m.text("title", suffix), st, floor, cap, _grid(m, "grid") if "grid" in m.d else grid)
        )
        m.done()
    if "strikes" in r.d:  # ascending "above X" strikes
        s = r.sub("strikes")
        lo, hi, step = s.num("from", 0.0), s.num("to", 0.0), s.num("step", 1.0, lo=1e-9)
        k = 0
        while lo + k * step <= hi + 1e-9:
            x = round(lo + k * step, 6)
            out.append(MarketSpec(f"T{_fmt(x)}", f"Above {_fmt(x)}", "greater", x, None, grid))
            k += 1
        s.done()
    if "brackets" in r.d:  # mutually exclusive: below `from`, [x, x+step) ..., at or above `to`
        b = r.sub("brackets")
        lo, hi, step = b.num("from", 0.0), b.num("to", 0.0), b.num("step", 1.0, lo=1e-9)
        out.append(MarketSpec(f"T{_fmt(lo)}", f"Below {_fmt(lo)}", "less", None, lo, grid))
        k = 0
        while lo + (k + 1) * step <= hi + 1e-9:
            a, z = round(lo + k * step, 6), round(lo + (k + 1) * step, 6)
            out.append(MarketSpec(f"B{_fmt((a + z) / 2)}", f"{_fmt(a)} to {_fmt(z)}", "between", a, z, grid))
            k += 1
        out.append(MarketSpec(f"T{_fmt(hi)}", f"{_fmt(hi)} or above", "greater", hi, None, grid))
        b.done()
    if not out:
        raise r.err("markets", "a series needs markets (markets, strikes or brackets)")
    if len({m.suffix for m in out}) != len(out):
        raise r.err("markets", "market suffixes must be unique")
    return tuple(out)


def _series(r: _Reader) -> SeriesSpec:
    ticker = r.text("ticker", "")
    if not ticker:
        raise r.err("ticker", "required")
    u = r.sub("underlying")
    und = UnderlyingSpec(
        u.num("start", 0.0),
        u.num("start_sd", 0.0, lo=0),
        u.num("drift_per_hour", 0.0),
        u.num("vol_per_sqrt_hour", 0.1, lo=0),
        u.num("jump_sd", 0.0, lo=0),
        u.num("final_sd", 0.01, lo=1e-9),
        u.integer("decimals", 2),
    )
    u.done()
    releases = r.get("releases_s", [])
    if not (isinstance(releases, list) and all(isinstance(x, int | float) and x >= 0 for x in releases)):
        raise r.err("releases_s", "expected a list of non-negative seconds")
    lifetime = r.num("lifetime_s", 1800, lo=1)
    if any(x >= lifetime for x in releases):
        raise r.err("releases_s", "releases must fall before lifetime_s")
    fee_type = r.text("fee_type", "quadratic_with_maker_fees")
    spec = SeriesSpec(
        ticker=ticker,
        title=r.text("title", ticker),
        category=r.text("category", "Economics"),
        frequency=r.text("frequency", "daily"),
        fee_type=fee_type,
        fee_multiplier_ppm=round(r.num("fee_multiplier", 1.0, lo=0) * 1_000_000),
        event_title=r.text("event_title", f"{ticker} #{{n}}"),
        mutually_exclusive=r.flag("mutually_exclusive", False),
        lifetime_s=lifetime,
        releases_s=tuple(sorted(float(x) for x in releases)),
        determination_delay_s=r.num("determination_delay_s", 10, lo=0),
        settlement_timer_s=r.num("settlement_timer_s", 30, lo=0),
        rollover=r.flag("rollover", True),
        underlying=und,
        markets=_markets(r),
    )
    r.done()
    return spec


def _size(r: _Reader, default: tuple[float, float]) -> tuple[int, int]:
    lo, hi = r.pair("size", default)
    return int(lo), int(hi)


def parse_scenario(data: object, file: str = "<scenario>") -> Scenario:
    top = _Reader(data, file, "")
    series = tuple(_series(s) for s in top.items("series"))
    if not series:
        raise top.err("series", "at least one series is required")
    if len({s.ticker for s in series}) != len(series):
        raise top.err("series", "series tickers must be unique")
    known = {s.ticker for s in series}
    p = top.sub("participants")
    lps: list[LiquidityProviderSpec] = []
    takers: list[NoiseTakerSpec] = []
    informed: list[InformedSpec] = []
    Participant = LiquidityProviderSpec | NoiseTakerSpec | InformedSpec
    for r in p.items("liquidity_providers"):
        lps.append(
            LiquidityProviderSpec(
                r.text("name", f"lp{len(lps) + 1}"),
                r.names("series"),
                r.pair("interval_s", (0.3, 0.7)),
                r.integer("levels", 3, lo=1),
                _size(r, (5, 20)),
                r.price("half_spread", "0.02"),
                r.price("level_step", "0.01"),
                r.num("tracking", 0.5, lo=0, hi=1),
                r.price("noise", "0.005"),
                r.price("balance", "10000000"),
            )
        )
        r.done()
    for r in p.items("noise_takers"):
        takers.append(
            NoiseTakerSpec(
                r.text("name", f"noise{len(takers) + 1}"),
                r.names("series"),
                r.num("rate_per_min", 4, lo=0),
                _size(r, (1, 10)),
                r.price("balance", "1000000"),
            )
        )
        r.done()
    for r in p.items("informed"):
        informed.append(
            InformedSpec(
                r.text("name", f"informed{len(informed) + 1}"),
                r.names("series"),
                r.num("rate_per_min", 2, lo=0),
                _size(r, (1, 10)),
                r.price("edge", "0.03"),
                r.num("pre_release_s", 60, lo=0),
                r.num("pre_release_multiplier", 4, lo=0),
                r.price("balance", "1000000"),
            )
        )
        r.done()
    p.done()
    parts: list[Participant] = [*lps, *takers, *informed]
    for part in parts:
        for s in part.series:
            if s not in known:
                raise ConfigError(f"participant {part.name} names unknown series {s!r}", file=file)
    names = [x.name for x in parts]
    if len(set(names)) != len(names):
        raise top.err("participants", "participant names must be unique")
    sc = Scenario(
        name=top.text("name", Path(file).stem),
        description=top.text("description", ""),
        series=series,
        liquidity_providers=tuple(lps),
        noise_takers=tuple(takers),
        informed=tuple(informed),
        min_interval_ms=top.integer("min_interval_ms", 50, lo=1),
        faults=_faults(top),
    )
    top.done()
    return sc


def _faults(top: _Reader) -> tuple[dict[str, Any], ...]:
    raw = top.get("faults", [])
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, dict) and isinstance(x.get("fault"), str) for x in raw):
        raise top.err("faults", "expected a list of mappings, each with 'fault' (a name) and 'at_s' (seconds)")
    return tuple(dict(x) for x in raw)


def scenario_names() -> list[str]:
    """The bundled scenarios (files in ``sim/scenarios``)."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a bundled scenario by name (``default``, ``benign``, ...) or a YAML file by path."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not p.exists():
            raise ConfigError(f"unknown scenario {name_or_path!r} (bundled: {', '.join(scenario_names())})")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read scenario: {e}", file=str(p)) from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", file=str(p)) from e
    return parse_scenario(data, str(p))
