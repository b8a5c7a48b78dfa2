"""The real ``kalshibot run`` / ``kalshibot demo`` in subprocesses: exit codes of CONTRACTS.md (2 bad config, 3 loose
key file or clock skew, 4 lock held), SIGTERM -> graceful stop with nothing resting, the demo's summary on a clean
stdout; the systemd unit passes ``systemd-analyze verify``; the JSON log format for journald."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kalshibot import logsetup
from kalshibot.lock import InstanceLock
from kalshibot.sim.testing import add_test_market, eventually, running_sim
from tests.test_daemon_support import PREFIX, resting_ids, seed_book, sim_env

# real daemons against a real simulator over loopback: generous on a loaded 2-core CI machine
pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env.update(extra)
    return env


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 40
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kalshibot", *args],
        cwd=cwd,  # no stray .env from the repo
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_config(tmp_path: Path, **data: object) -> Path:
    base: dict[str, object] = {"control": {"port": 0}, "logging": {"dir": str(tmp_path / "logs"), "format": "json"}}
    base.update(data)
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(yaml.safe_dump(base))
    return cfg


def test_exit_2_on_unknown_config_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, quoting={"sprad": 0.02})
    r = run_cli(["run", "--config", str(cfg)], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "sprad" in r.stderr and "bot.yaml" in r.stderr and "Traceback" not in r.stderr


def test_exit_3_on_loose_key_file(tmp_path: Path) -> None:
    key = tmp_path / "kalshi-key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    key.chmod(0o644)
    cfg = write_config(tmp_path, environment="sim", sim_url="http://127.0.0.1:9")
    env = clean_env(KALSHI_API_KEY_ID="00000000-0000-0000-0000-000000000000", KALSHI_PRIVATE_KEY_PATH=str(key))
    r = run_cli(["run", "--config", str(cfg)], tmp_path, env)
    assert r.returncode == 3, r.stderr
    assert "kalshi-key.pem" in r.stderr and "Traceback" not in r.stderr


def test_exit_3_on_clock_skew(tmp_path: Path) -> None:
    # The process's clock runs 60 s ahead (time.time_ns: what the daemon, its signatures and the embedded simulator
    # read) while the HTTP Date header the skew check compares against still tells the true time (time.time).
    shim = tmp_path / "skewed.py"
    shim.write_text(
        "import sys, time\n"
        "_real = time.time_ns\n"
        "time.time_ns = lambda: _real() + 60_000_000_000\n"
        "from kalshibot.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    cfg = write_config(tmp_path, environment="sim")
    r = subprocess.run(
        [sys.executable, str(shim), "run", "--config", str(cfg)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert r.returncode == 3, r.stderr
    assert "clock" in r.stderr and "Traceback" not in r.stderr


def test_exit_4_when_lock_held(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, environment="sim")
    with InstanceLock(tmp_path / "logs" / "state", "sim-embedded", 0):
        r = run_cli(["run", "--config", str(cfg)], tmp_path)
    assert r.returncode == 4, r.stderr
    assert "another kalshibot instance" in r.stderr


async def test_sigterm_stops_gracefully_with_nothing_resting(tmp_path: Path) -> None:
    async with running_sim(scenario="none", rate_limit_tier="off") as sim:
        add_test_market(sim, "TEST-MKT")
        seed_book(sim, "TEST-MKT")
        cfg = write_config(
            tmp_path,
            environment="sim",
            sim_url=sim.base_url,
            client_order_id_prefix=PREFIX,
            universe={"series": ["TEST"]},
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kalshibot",
            "run",
            "--config",
            str(cfg),
            cwd=tmp_path,
            env=clean_env(**sim_env(sim)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await eventually(lambda: len(resting_ids(sim)) >= 2 or proc.returncode is not None, timeout=20)
            assert proc.returncode is None, "the daemon exited before quoting"
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()[-2000:]
        assert resting_ids(sim) == set()
        logs = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        events = [e["event"] for e in logs]
        assert "signal received: stopping" in events and "shutdown: no resting orders remain" in events
        assert all("private" not in json.dumps(e).lower() for e in logs)


def test_demo_prints_summary_on_clean_stdout(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, environment="sim", sim={"speed": 4.0}, universe={"max_markets_per_series": 2})
    r = run_cli(["demo", "--duration", "4", "--config", str(cfg)], tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert not [line for line in out.splitlines() if line.startswith("{")], "daemon logs leaked onto stdout"
    assert "kalshibot demo summary" in out
    assert "resting after stop  : 0" in out
    assert "replay it           : kalshibot replay " in out
    journal = out.split("journal             : ", 1)[1].split("\n", 1)[0].strip()
    assert Path(journal).is_file() and Path(journal).parent == tmp_path / "logs"
    assert any(
        json.loads(line).get("event") == "first two-sided quote"
        for line in r.stderr.splitlines()
        if line.startswith("{")
    )


def test_json_logs_for_journald_and_redaction() -> None:
    buf = io.StringIO()
    logsetup.configure("info", "auto", buf)  # not a terminal: JSON
    import structlog

    structlog.get_logger("t").info("hello", ticker="X", password="hunter2", note="Bearer abc.def")
    rec = json.loads(buf.getvalue())
    assert rec["event"] == "hello" and rec["ticker"] == "X" and rec["level"] == "info"
    assert rec["password"] == "****" and "abc.def" not in rec["note"]
    buf2 = io.StringIO()
    logsetup.configure("info", "console", buf2)
    structlog.get_logger("t").info("hello", ticker="X")
    assert "hello" in buf2.getvalue() and not buf2.getvalue().startswith("{")
    logsetup.configure("info", "json", sys.stdout)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "kalshibot.service").read_text()
    text = unit.replace("/opt/kalshibot/.venv/bin/kalshibot", sys.executable)
    unit_path = tmp_path / "kalshibot.service"
    unit_path.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True, timeout=60)
    complaints = [
        line
        for line in (r.stdout + r.stderr).splitlines()
        if (line.strip() and str(unit_path) in line) or "kalshibot.service" in line
    ]
    assert r.returncode == 0 and complaints == [], r.stdout + r.stderr
    for directive in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "RestartPreventExitStatus=2 3 4"):
        assert directive in unit
    assert "EnvironmentFile=" in unit and "ExecStopPost=" in unit and "cancel-all" in unit
