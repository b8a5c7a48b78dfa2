"""Loading and validating the YAML settings (kalshibot.config): defaults, conversions and error messages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.config import (
    GUIDE_UNIVERSE_ADVICE,
    KALSHI_URLS,
    Settings,
    load_settings,
    parse_settings_text,
)
from kalshibot.errors import ConfigError, CredentialError

REPO = Path(__file__).resolve().parents[1]
BOT_YAML = REPO / "config" / "bot.yaml"
EXAMPLE_YAML = REPO / "config" / "bot.example.yaml"


def parse(text: str, **kw: object) -> Settings:
    """Parse YAML text with no secrets anywhere (no os.environ, no .env)."""
    return parse_settings_text(text, source="t.yaml", env={}, env_file=None, **kw)  # type: ignore[arg-type]


def error(text: str) -> str:
    with pytest.raises(ConfigError) as ei:
        parse(text)
    return str(ei.value)


# ------------------------------------------------------------------------------------------------ shipped files
def test_shipped_sim_config_loads_with_guide_defaults() -> None:
    s = load_settings(BOT_YAML, env={}, env_file=None)
    assert s.environment == "sim" and s.embedded_sim and not s.credentials_required
    # the guide's constants, in the core's fixed point
    assert s.quoting.spread == 20_000 and s.quoting.skew == 5_000
    assert s.risk.max_notional_per_market == 500_000_000 and s.risk.daily_loss_kill == 100_000_000
    assert s.risk.trading_day_tz == "America/New_York"
    assert s.logging.journal_fsync == ["fill", "risk"]
    # the shipped file spells out the defaults: it is the same as an empty file plus its hypothesis
    assert s.model_dump(exclude={"hypothesis"}) == parse("").model_dump(exclude={"hypothesis"})


def test_shipped_example_loads_for_demo(tmp_path: Path) -> None:
    key = tmp_path / "kalshi-key.pem"
    key.write_text("not parsed here\n")
    env = {"KALSHI_API_KEY_ID": "0b7c5a2e-1111-2222-3333-444455556666", "KALSHI_PRIVATE_KEY_PATH": str(key)}
    s = load_settings(EXAMPLE_YAML, env=env, env_file=None)
    assert s.environment == "demo" and s.credentials_required
    assert s.universe.series is not None and 1 <= len(s.universe.series) <= 5
    assert s.resolved_urls() == (
        "https://external-api.demo.kalshi.co/trade-api/v2",
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
    )
    assert s.secrets.private_key_path == key
    assert s.secrets.api_key_id is not None and s.secrets.api_key_id.get_secret_value() == env["KALSHI_API_KEY_ID"]
    assert len(s.timing.release_times) == 3


def test_shipped_files_have_the_same_keys() -> None:
    def keys(d: object, prefix: str = "") -> set[str]:
        if isinstance(d, dict):
            out = set()
            for k, v in d.items():
                out |= {f"{prefix}{k}"} | keys(v, f"{prefix}{k}.")
            return out
        return set()

    a = yaml.safe_load(BOT_YAML.read_text())
    b = yaml.safe_load(EXAMPLE_YAML.read_text())
    top_a, top_b = keys(a), keys(b)
    assert top_a == top_b
    # every field of the model is spelled out (commented) in the shipped sim config
    assert set(Settings.model_fields) - {"secrets"} == set(a)


# ------------------------------------------------------------------------------------------------ conversions
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quoting: {spread: 0.02}", 20_000),
        ("quoting: {spread: '0.02'}", 20_000),
        ("quoting: {spread: 0.3}", 300_000),  # 0.1 + 0.2 style values are exact
        ("quoting: {spread: '0.000001'}", 1),
        ("quoting: {spread: 0}", 0),
    ],
)
def test_prices_parse_exactly(text: str, expected: int) -> None:
    assert parse(text).quoting.spread == expected


def test_money_and_counts_parse_to_fixed_point() -> None:
    s = parse(
        "risk: {max_notional_per_market: '250.5', max_order_size: 2.5, max_position: '10'}\n"
        "quoting: {size: 1.25}\nsim: {balance: 1e3}"
    )
    assert s.quoting.size == 125
    assert s.risk.max_notional_per_market == 250_500_000
    assert s.risk.max_order_size == 250 and s.risk.max_position == 1_000
    assert s.sim.balance == 1_000_000_000


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("99999"), places=6))
def test_money_roundtrip_through_yaml_numbers_and_strings(d: Decimal) -> None:
    micros = int(d * 1_000_000)
    as_string = parse(f"risk: {{max_event_exposure: '{d}'}}").risk.max_event_exposure
    as_number = parse(f"risk: {{max_event_exposure: {d}}}").risk.max_event_exposure
    assert as_string == as_number == micros


def test_level_and_tz_normalisation() -> None:
    s = parse("logging: {level: DEBUG}\nrisk: {trading_day_tz: Europe/London}")
    assert s.logging.level == "debug" and s.risk.trading_day_tz == "Europe/London"


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("text", "field", "key"),
    [
        ("colour: blue", "colour", "colour"),
        ("risk:\n  max_notional: 5", "risk.max_notional", "max_notional"),
        ("timing:\n  flatten_before_close:\n    enable: true", "timing.flatten_before_close.enable", "enable"),
        ("timing:\n  release_times:\n  - series: A\n    time: '08:30'\n    when: x", "release_times[0].when", "when"),
    ],
)
def test_unknown_keys_are_named(text: str, field: str, key: str) -> None:
    msg = error(text)
    assert msg.startswith("t.yaml: ") and field in msg and f"unknown key {key!r}" in msg


def test_unknown_key_suggests_the_right_one() -> None:
    msg = error("risk:\n  max_notional: 5")
    assert "did you mean 'max_notional_per_market'" in msg and "(line 2)" in msg


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("subaccount: two", "subaccount", "valid integer"),
        ("subaccount: 64", "subaccount", "less than or equal to 63"),
        ("quoting: {levels: true}", "quoting.levels", "valid integer"),
        ("quoting: {post_only: 'yes please'}", "quoting.post_only", "valid boolean"),
        ("quoting: {model: quadratic}", "quoting.model", "'linear' or 'logit'"),
        ("universe: {series: KXCPI}", "universe.series", "valid list"),
        ("risk: {max_notional_per_market: lots}", "risk.max_notional_per_market", "dollar amount"),
        ("risk: {max_notional_per_market: true}", "risk.max_notional_per_market", "boolean"),
        ("quoting: {size: 2.555}", "quoting.size", "at most 2 decimals"),
        ("quoting: {spread: 1.5}", "quoting.spread", "between 0 and 1"),
        ("sim: {speed: 0}", "sim.speed", "greater than 0"),
        ("environment: live", "environment", "'sim', 'demo', 'prod' or 'custom'"),
        ("logging: {journal_fsync: [fill, everything]}", "logging.journal_fsync[1]", "'session'"),
        ("risk: 5", "risk", "valid dictionary"),
    ],
)
def test_wrong_types_name_field_and_expectation(text: str, field: str, expected: str) -> None:
    msg = error(text)
    assert f"t.yaml: {field}: " in msg and expected in msg


@pytest.mark.parametrize(
    "field",
    [
        "max_notional_per_market",
        "daily_loss_kill",
        "max_event_exposure",
        "max_account_exposure",
        "max_position",
        "max_order_size",
        "price_band",
        "order_group_contracts_limit",
    ],
)
@pytest.mark.parametrize("value", ["-5", "'-0.01'"])
def test_negative_limits_refused(field: str, value: str) -> None:
    msg = error(f"risk:\n  {field}: {value}")
    assert f"risk.{field}" in msg and "negative" in msg


@pytest.mark.parametrize("field", ["max_notional_per_market", "daily_loss_kill", "max_order_size"])
def test_zero_limits_refused(field: str) -> None:
    assert "greater than 0" in error(f"risk: {{{field}: 0}}")


def test_other_negative_values_refused() -> None:
    assert "quoting.spread" in error("quoting: {spread: -0.02}")
    assert "timing.stop_before_close_min" in error("timing: {stop_before_close_min: -1}")
    assert "reconcile.interval_s" in error("reconcile: {interval_s: -3}")
    assert "risk.reducing_fraction" in error("risk: {reducing_fraction: 1.5}")


def test_more_than_five_series_refused_with_the_guides_advice() -> None:
    six = "[KXA, KXB, KXC, KXD, KXE, KXF]"
    msg = error(f"universe:\n  series: {six}")
    assert "universe.series" in msg and GUIDE_UNIVERSE_ADVICE in msg and "allow_more_than_five" in msg
    s = parse(f"universe:\n  series: {six}\n  allow_more_than_five: true")
    assert s.universe.series is not None and len(s.universe.series) == 6
    assert len(parse("universe: {series: [KXA, KXB, KXC, KXD, KXE]}").universe.series or []) == 5


def test_universe_list_checks() -> None:
    assert "at least one" in error("universe: {series: []}")
    assert "listed twice" in error("universe: {series: [KXA, KXA]}")
    assert "not a valid ticker" in error("universe: {series: ['KX CPI']}")
    assert "universe.markets" in error("universe: {markets: []}")


@pytest.mark.parametrize("prefix", ["'kb bot'", "'kb!'", "'kb.1'", "'kb\u00e9'", "''", "x" * 41])
def test_bad_client_order_id_prefix(prefix: str) -> None:
    assert "client_order_id_prefix" in error(f"client_order_id_prefix: {prefix}")


def test_good_client_order_id_prefix() -> None:
    assert parse("client_order_id_prefix: 'a-b_c:d+e=f/'").client_order_id_prefix == "a-b_c:d+e=f/"
    assert parse("client_order_id_prefix: " + "x" * 40).client_order_id_prefix == "x" * 40


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
def test_non_loopback_control_host_refused(host: str) -> None:
    msg = error(f"control: {{host: '{host}'}}")
    assert "control.host" in msg and "loopback" in msg
    assert parse(f"control: {{host: '{host}', allow_remote: true}}").control.host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_control_hosts_accepted(host: str) -> None:
    assert parse(f"control: {{host: '{host}'}}").control.host == host


def test_invalid_timezone_refused() -> None:
    msg = error("risk: {trading_day_tz: America/Gotham}")
    assert "risk.trading_day_tz" in msg and "America/Gotham" in msg
    msg = error("timing:\n  release_times:\n  - {series: KXA, time: '08:30', tz: Nowhere/Town}")
    assert "timing.release_times[0].tz" in msg


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("environment: sim\nrisk:\n  daily_loss_kill: 100\n  price_band: [0.1\nquoting: {}\n")
    with pytest.raises(ConfigError) as ei:
        load_settings(p, env={}, env_file=None)
    msg = str(ei.value)
    assert str(p) in msg and "invalid YAML at line 5" in msg


def test_duplicate_key_is_an_error_naming_the_line() -> None:
    msg = error("risk:\n  daily_loss_kill: 100\nquoting: {}\nrisk:\n  daily_loss_kill: 5\n")
    assert "duplicate key 'risk'" in msg and "line 4" in msg


def test_clock_like_values_stay_strings() -> None:
    # YAML 1.1 would read 16:00 as the base-60 integer 960
    s = parse("timing:\n  release_times:\n  - series: KXA\n    time: 16:00\n    tz: America/New_York\n")
    assert s.timing.release_times[0].time == "16:00"


def test_top_level_must_be_a_mapping_and_empty_is_defaults() -> None:
    assert "mapping" in error("- environment: sim")
    assert parse("").environment == "sim" and parse("# only comments\n").environment == "sim"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_settings(tmp_path / "nope.yaml", env={}, env_file=None)
    with pytest.raises(ConfigError, match="directory"):
        load_settings(tmp_path, env={}, env_file=None)


def test_secrets_key_refused_in_yaml() -> None:
    msg = error("secrets:\n  KALSHI_API_KEY_ID: abc")
    assert "t.yaml: secrets:" in msg and "KALSHI_API_KEY_ID" in msg and "environment" in msg


def test_several_errors_are_all_reported() -> None:
    msg = error("subaccount: -1\nquoting: {levels: 0}")
    assert "subaccount" in msg and "also quoting.levels" in msg


# ------------------------------------------------------------------------------------------------ environments
def test_environment_cross_checks() -> None:
    assert "universe.series: required with environment: demo" in error("environment: demo")
    assert "rest_url: required" in error("environment: custom\nuniverse: {series: [KXA]}")
    assert "rest_url: only with environment: custom" in error(
        "environment: demo\nrest_url: https://x/trade-api/v2\nuniverse: {series: [KXA]}"
    )
    assert "sim_url: only with environment: sim" in error(
        "environment: prod\nsim_url: http://127.0.0.1:8765\nuniverse: {series: [KXA]}"
    )
    assert "ws_url" in error(
        "environment: custom\nrest_url: https://h/trade-api/v2\nws_url: https://h/ws\nuniverse: {series: [KXA]}"
    )
    assert "auth.mode" in error("environment: prod\nauth: {mode: legacy}\nuniverse: {series: [KXA]}")
    assert "quoting.size" in error("quoting: {size: 20}\nrisk: {max_order_size: 10}")


def test_resolved_urls() -> None:
    env = {"KALSHI_API_KEY_ID": "id", "KALSHI_PRIVATE_KEY": "pem"}
    prod = parse_settings_text("environment: prod\nuniverse: {series: [KXA]}", env=env, env_file=None)
    assert prod.resolved_urls() == KALSHI_URLS["prod"]
    assert prod.resolved_urls()[0] == "https://external-api.kalshi.com/trade-api/v2"
    custom = parse_settings_text(
        "environment: custom\nrest_url: https://api.elections.kalshi.com/trade-api/v2/\n"
        "ws_url: wss://api.elections.kalshi.com/trade-api/ws/v2\nuniverse: {series: [KXA]}",
        env=env,
        env_file=None,
    )
    assert custom.resolved_urls() == (
        "https://api.elections.kalshi.com/trade-api/v2",
        "wss://api.elections.kalshi.com/trade-api/ws/v2",
    )
    for url in ("http://127.0.0.1:8765", "http://127.0.0.1:8765/", "http://127.0.0.1:8765/trade-api/v2"):
        s = parse_settings_text(f"sim_url: {url}", env=env, env_file=None)
        assert s.resolved_urls() == ("http://127.0.0.1:8765/trade-api/v2", "ws://127.0.0.1:8765/trade-api/ws/v2")
    embedded = parse("")
    with pytest.raises(ConfigError, match="sim_url"):
        embedded.resolved_urls()
    assert embedded.resolved_urls("https://127.0.0.1:9000") == (
        "https://127.0.0.1:9000/trade-api/v2",
        "wss://127.0.0.1:9000/trade-api/ws/v2",
    )


# ------------------------------------------------------------------------------------------------ hash
def test_config_hash_is_stable_and_sensitive() -> None:
    a = parse("risk:\n  daily_loss_kill: 100\n  max_order_size: 50\nquoting: {spread: 0.02}\n")
    b = parse(
        "# reordered, other spellings\nquoting: {spread: '0.020'}\n"
        "risk: {max_order_size: '50.00', daily_loss_kill: 100.0}\n"
    )
    c = parse("risk:\n  daily_loss_kill: 101\n")
    assert a.config_hash() == b.config_hash() == parse("").config_hash()
    assert a.config_hash() != c.config_hash()
    assert a.config_hash().startswith("sha256:") and len(a.config_hash()) == 7 + 64


def test_hash_ignores_secrets() -> None:
    env = {"KALSHI_API_KEY_ID": "one", "KALSHI_PRIVATE_KEY": "pem"}
    s1 = parse_settings_text("sim_url: http://127.0.0.1:1", env=env, env_file=None)
    s2 = parse_settings_text("sim_url: http://127.0.0.1:1", env={**env, "KALSHI_API_KEY_ID": "two"}, env_file=None)
    assert s1.config_hash() == s2.config_hash()


def test_settings_are_immutable() -> None:
    s = parse("")
    with pytest.raises(Exception, match="frozen"):
        s.subaccount = 3  # type: ignore[misc]


def test_credential_error_for_unreadable_key(tmp_path: Path) -> None:
    env = {"KALSHI_API_KEY_ID": "id", "KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem")}
    with pytest.raises(CredentialError, match="KALSHI_PRIVATE_KEY_PATH"):
        parse_settings_text("sim_url: http://127.0.0.1:1", env=env, env_file=None)
    # not required, not checked: the embedded simulator ignores a stale key path
    assert parse_settings_text("", env=env, env_file=None).secrets.private_key_path == tmp_path / "missing.pem"


def test_quote_params_adapter_copies_every_field() -> None:
    from kalshibot.config import quote_params
    from kalshibot.core.quoter import QuoteParams, make_quoter

    s = parse(
        "quoting: {model: logit, fair_value: mid, spread: 0.03, skew: 0.001, gamma: 0.2, k: 10, sigma: 0.004,\n"
        "  tau_cap_s: 600, max_position: 40, size: 2.5, levels: 3, level_spacing_ticks: 2}"
    )
    qp = quote_params(s)
    assert qp == QuoteParams(
        model="logit",
        fair_value="mid",
        spread=30_000,  # type: ignore[arg-type]
        skew=1_000,  # type: ignore[arg-type]
        gamma=0.2,
        k=10.0,
        sigma=0.004,
        tau_cap_s=600.0,
        max_position=4_000,  # type: ignore[arg-type]
        size=250,  # type: ignore[arg-type]
        levels=3,
        level_spacing_ticks=2,
    )
    make_quoter(qp)  # the core accepts what the config produces


def test_section_with_everything_commented_out_means_defaults() -> None:
    s = parse("risk:\n#  daily_loss_kill: 5\ntiming:\n  release_times:\n  flatten_before_close:\nhypothesis:\n")
    assert s.risk == parse("").risk and s.timing.release_times == [] and s.hypothesis is None
    # but a null where a value is required is still an error
    assert "subaccount" in error("subaccount:\n")


def test_risk_limits_adapter_copies_every_field() -> None:
    from dataclasses import fields

    from kalshibot.config import risk_limits
    from kalshibot.core.risk import RiskLimits

    s = parse(
        "risk: {max_notional_per_market: 250, daily_loss_kill: 40.5, max_event_exposure: 600,\n"
        "  max_account_exposure: 900, max_position: 120, max_order_size: 30, price_band: 0.07,\n"
        "  reducing_fraction: 0.85, reducing_hysteresis: 0.1}"
    )
    rl = risk_limits(s)
    assert rl == RiskLimits(
        max_notional_per_market=250_000_000,  # type: ignore[arg-type]
        daily_loss_kill=40_500_000,  # type: ignore[arg-type]
        max_event_exposure=600_000_000,  # type: ignore[arg-type]
        max_account_exposure=900_000_000,  # type: ignore[arg-type]
        max_position=12_000,  # type: ignore[arg-type]
        max_order_size=3_000,  # type: ignore[arg-type]
        price_band=70_000,  # type: ignore[arg-type]
        reducing_fraction=0.85,
        reducing_hysteresis=0.1,
    )
    # every core limit has a config key of the same name
    assert {f.name for f in fields(RiskLimits)} <= set(type(s.risk).model_fields)


def test_hysteresis_below_fraction() -> None:
    assert "risk.reducing_hysteresis" in error("risk: {reducing_fraction: 0.5, reducing_hysteresis: 0.5}")
