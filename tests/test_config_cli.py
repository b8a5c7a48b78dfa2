"""`kalshibot check-config` through the real CLI entry point, and secrets from the environment / .env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kalshibot.cli import main
from kalshibot.config import SECRET_VARIABLES, load_settings, parse_settings_text, render_settings

REPO = Path(__file__).resolve().parents[1]
BOT_YAML = REPO / "config" / "bot.yaml"
EXAMPLE_YAML = REPO / "config" / "bot.example.yaml"

SECRET_ID = "9f1d2c3b-aaaa-bbbb-cccc-0123456789ab"
SECRET_PEM = "-----BEGIN PRIVATE KEY-----\\nTOPSECRETKEYMATERIAL\\n-----END PRIVATE KEY-----"
SECRET_PASSWORD = "hunter2-very-secret"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KALSHI_* variables and a working directory without a .env file."""
    for name in (*SECRET_VARIABLES, "KALSHIBOT_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(tmp_path: Path, text: str, name: str = "bot.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check-config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def without_secrets_block(out: str) -> str:
    return out.split("\n# from the environment / .env only")[0]


def test_check_config_shipped_sim_config_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert not Path(".env").exists() and not any(k.startswith("KALSHI_") for k in os.environ)
    code, out, err = run(capsys, str(BOT_YAML))
    assert code == 0 and err == ""
    printed = yaml.safe_load(out)
    assert printed["environment"] == "sim"
    assert printed["risk"]["max_notional_per_market"] == "500.00"
    assert printed["quoting"]["spread"] == "0.0200"
    assert printed["secrets"]["KALSHI_API_KEY_ID"] == "(not set)"
    assert "config hash: sha256:" in out


def test_printed_settings_load_back_to_the_same_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, str(BOT_YAML))
    assert code == 0
    again = write(tmp_path, without_secrets_block(out), "effective.yaml")
    original = load_settings(BOT_YAML, env={}, env_file=None)
    reloaded = load_settings(again, env={}, env_file=None)
    assert reloaded == original and reloaded.config_hash() == original.config_hash()


def test_check_config_default_path_is_config_bot_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    write(tmp_path / "config", "subaccount: 7\n")
    code, out, _ = run(capsys)
    assert code == 0 and "subaccount: 7" in out


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("colour: blue\n", "colour"),
        ("quoting:\n  sizes: 3\n", "quoting.sizes"),
        ("timing:\n  flatten_before_close:\n    enabeld: true\n", "timing.flatten_before_close.enabeld"),
    ],
)
def test_unknown_key_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, needle: str
) -> None:
    p = write(tmp_path, text)
    code, out, err = run(capsys, str(p))
    assert code == 2 and out == ""
    assert err.startswith("kalshibot: error: ") and str(p) in err and needle in err and "unknown key" in err
    assert "Traceback" not in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "nowhere.yaml")
    assert code == 2 and "nowhere.yaml: no such file" in err


def test_yaml_error_exits_2_with_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = write(tmp_path, "environment: sim\nquoting:\n  spread: 0.02\n   skew: 0.005\n")
    code, _, err = run(capsys, str(p))
    assert code == 2 and "line 4" in err


def test_demo_requires_secrets_exit_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, err = run(capsys, str(EXAMPLE_YAML))
    assert code == 2 and out == "" and "KALSHI_API_KEY_ID" in err and "not set" in err
    monkeypatch.setenv("KALSHI_API_KEY_ID", SECRET_ID)
    code, _, err = run(capsys, str(EXAMPLE_YAML))
    assert code == 2 and "KALSHI_PRIVATE_KEY_PATH" in err and SECRET_ID not in err
    key = tmp_path / "k.pem"
    key.write_text("pem")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(key))
    code, out, _ = run(capsys, str(EXAMPLE_YAML))
    assert code == 0 and "environment: demo" in out
    assert "# rest: https://external-api.demo.kalshi.co/trade-api/v2" in out


def test_unreadable_key_file_exits_3(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALSHI_API_KEY_ID", SECRET_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", "keys/absent.pem")
    code, _, err = run(capsys, str(EXAMPLE_YAML))
    assert code == 3 and "KALSHI_PRIVATE_KEY_PATH" in err and "absent.pem" in err


def test_legacy_mode_with_sim_url_requires_email_and_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    p = write(tmp_path, "sim_url: http://127.0.0.1:8765\nauth: {mode: legacy}\n")
    code, _, err = run(capsys, str(p))
    assert code == 2 and "KALSHI_EMAIL" in err
    (tmp_path / ".env").write_text("KALSHI_EMAIL=me@example.com\n")
    code, _, err = run(capsys, str(p))
    assert code == 2 and "KALSHI_PASSWORD" in err
    (tmp_path / ".env").write_text(f"KALSHI_EMAIL=me@example.com\nKALSHI_PASSWORD={SECRET_PASSWORD}\n")
    code, out, _ = run(capsys, str(p))
    assert code == 0 and SECRET_PASSWORD not in out and "me@example.com" not in out


def test_sim_needs_no_secrets() -> None:
    s = load_settings(BOT_YAML)  # os.environ without KALSHI_*, no .env in the working directory
    assert not s.credentials_required
    assert s.secrets.api_key_id is None and s.secrets.private_key_path is None


def test_secrets_masked_in_output_and_reprs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KALSHI_API_KEY_ID", SECRET_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY", SECRET_PEM)
    monkeypatch.setenv("KALSHI_PASSWORD", SECRET_PASSWORD)
    p = write(tmp_path, "sim_url: http://127.0.0.1:8765\n")
    code, out, err = run(capsys, str(p))
    assert code == 0
    for secret in (SECRET_ID, "TOPSECRETKEYMATERIAL", SECRET_PASSWORD):
        assert secret not in out and secret not in err
    printed = yaml.safe_load(out)["secrets"]
    assert printed["KALSHI_API_KEY_ID"] == "**** (set)"
    assert printed["KALSHI_PRIVATE_KEY"] == "**** (set)"
    assert printed["KALSHI_PASSWORD"] == "**** (set)"
    assert printed["KALSHI_PRIVATE_KEY_PATH"] == "(not set)"
    s = load_settings(p)
    text = repr(s) + str(s) + repr(s.secrets) + s.model_dump_json() + render_settings(s)
    assert SECRET_ID not in text and "TOPSECRETKEYMATERIAL" not in text and SECRET_PASSWORD not in text
    # the values are there for the auth module, with the one-line PEM's \n escapes expanded
    assert s.secrets.private_key_pem is not None
    assert s.secrets.private_key_pem.get_secret_value().splitlines()[1] == "TOPSECRETKEYMATERIAL"


def test_env_wins_over_dotenv_and_environ_is_untouched(tmp_path: Path) -> None:
    dotenv = tmp_path / "custom.env"
    dotenv.write_text("KALSHI_API_KEY_ID=from-file\nKALSHI_PRIVATE_KEY=pem-from-file\nUNRELATED=1\n")
    text = "sim_url: http://127.0.0.1:8765\n"
    s = parse_settings_text(text, env={"KALSHI_API_KEY_ID": "from-env"}, env_file=str(dotenv))
    assert s.secrets.api_key_id is not None and s.secrets.api_key_id.get_secret_value() == "from-env"
    assert s.secrets.private_key_pem is not None and s.secrets.private_key_pem.get_secret_value() == "pem-from-file"
    # an empty variable in the environment does not hide the file's value
    s = parse_settings_text(text, env={"KALSHI_API_KEY_ID": ""}, env_file=str(dotenv))
    assert s.secrets.api_key_id is not None and s.secrets.api_key_id.get_secret_value() == "from-file"
    assert "KALSHI_API_KEY_ID" not in os.environ and "UNRELATED" not in os.environ


def test_both_key_forms_is_ambiguous(tmp_path: Path) -> None:
    from kalshibot.errors import ConfigError

    key = tmp_path / "k.pem"
    key.write_text("pem")
    env = {"KALSHI_API_KEY_ID": "id", "KALSHI_PRIVATE_KEY_PATH": str(key), "KALSHI_PRIVATE_KEY": "pem"}
    with pytest.raises(ConfigError, match="keep only one"):
        parse_settings_text("sim_url: http://127.0.0.1:1\n", env=env, env_file=None)


def test_require_secrets_false_for_read_only_commands() -> None:
    s = load_settings(EXAMPLE_YAML, require_secrets=False)
    assert s.environment == "demo" and s.secrets.api_key_id is None


def test_relative_key_path_resolves_against_working_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k.pem").write_text("pem")
    env = {"KALSHI_API_KEY_ID": "id", "KALSHI_PRIVATE_KEY_PATH": "keys/k.pem"}
    s = parse_settings_text("sim_url: http://127.0.0.1:1\n", env=env, env_file=None)
    assert s.secrets.private_key_path == tmp_path / "keys" / "k.pem"
