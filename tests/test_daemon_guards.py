"""Daemon guards that need no exchange: ``environment: prod`` refuses to start without ``--live`` (exit 2, suggesting
``--paper``) before any connection, and a second SIGTERM/SIGINT exits at once while the first stops gracefully."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshibot import daemon as daemon_mod
from kalshibot.config import parse_settings
from kalshibot.daemon import Daemon
from kalshibot.kalshi.keys import generate_keypair
from tests.test_ops_cli import clean_env, run_cli, write_config

# real daemons against a real simulator over loopback: generous on a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(180)


def test_prod_without_live_exits_2_and_suggests_paper(tmp_path: Path) -> None:
    pair = generate_keypair("ed25519")
    cfg = write_config(tmp_path, environment="prod", universe={"series": ["KXCPI"]})
    env = clean_env(KALSHI_API_KEY_ID=pair.key_id, KALSHI_PRIVATE_KEY=pair.private_pem.decode())
    r = run_cli(["run", "--config", str(cfg)], tmp_path, env=env)
    assert r.returncode == 2, r.stderr
    assert "--live" in r.stderr and "--paper" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").glob("*.jsonl")), "nothing may start"


class _Exit(Exception):
    pass


def test_first_signal_stops_gracefully_second_exits_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_settings({"environment": "sim", "logging": {"dir": str(tmp_path / "logs")}}, env={}, env_file=None)
    d = Daemon(settings, handle_signals=False)
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise _Exit

    monkeypatch.setattr(daemon_mod.os, "_exit", fake_exit)
    d._on_signal()
    assert d.stop_event.is_set() and codes == []  # the first signal asks for the graceful stop only
    with pytest.raises(_Exit):
        d._on_signal()
    assert codes == [1]
