"""Exit codes and messages of ``kalshibot run`` (CONTRACTS.md: 0 ok, 1 runtime, 2 usage/config, 3 credentials or
clock, 4 lock held), each through the real command line against a real ``kalshibot sim`` process on loopback.

The simulator is started once per module as a subprocess with one registered key; every case runs
``python -m kalshibot run --config ...`` in a fresh directory (so no ``.env`` leaks in) and checks the exit code,
the one-line message on stderr and that no traceback was printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshibot.kalshi.keys import generate_keypair, write_private_key

pytestmark = pytest.mark.timeout(120)


SIM_CMD = [sys.executable, "-m", "kalshibot", "sim", "--port", "0", "--scenario", "default", "--speed", "5"]


class Sim:
    def __init__(self, url: str, key_id: str, key_path: Path, proc: subprocess.Popen[str]) -> None:
        self.url, self.key_id, self.key_path, self.proc = url, key_id, key_path, proc


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    d = tmp_path_factory.mktemp("sim")
    pair = generate_keypair("ed25519")
    write_private_key(d / "key.pem", pair.private_pem)
    (d / "key.pub.pem").write_bytes(pair.public_pem)
    proc = subprocess.Popen(
        [*SIM_CMD, "--api-key-id", pair.key_id, "--public-key", str(d / "key.pub.pem")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=d,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the simulator printed its address (the test timeout bounds it)
    m = re.search(r"listening on (http://\S+)", line)
    assert m, f"simulator did not start: {line!r}"
    try:
        yield Sim(m.group(1), pair.key_id, d / "key.pem", proc)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def config(sim_url: str, log_dir: Path, extra: str = "") -> str:
    return f"environment: sim\nsim_url: {sim_url}\nlogging:\n  dir: {log_dir}\ncontrol:\n  port: 0\n{extra}"


def run(tmp: Path, cfg_text: str, env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str]:
    cfg = tmp / "bot.yaml"
    cfg.write_text(cfg_text)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI")}
    p = subprocess.run(
        [sys.executable, "-m", "kalshibot", "run", "--config", str(cfg), *args],
        cwd=tmp,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stderr


def assert_clean(err: str) -> None:
    assert "Traceback" not in err, err


def test_malformed_config_exits_2_with_file_and_line(tmp_path: Path, sim: Sim) -> None:
    code, err = run(tmp_path, "environment: sim\nrisk:\n  max_position: [\n", {})
    assert code == 2 and "bot.yaml" in err and "line" in err, err
    assert_clean(err)


def test_unknown_key_exits_2_naming_it(tmp_path: Path, sim: Sim) -> None:
    code, err = run(tmp_path, config(sim.url, tmp_path / "logs", "risk:\n  max_loss_per_day: 5\n"), {})
    assert code == 2 and "risk.max_loss_per_day" in err, err
    assert_clean(err)


def test_missing_secrets_exit_2_naming_the_variable(tmp_path: Path, sim: Sim) -> None:
    code, err = run(tmp_path, config(sim.url, tmp_path / "logs"), {})
    assert code == 2 and "KALSHI_API_KEY_ID" in err, err
    assert_clean(err)


def test_loose_key_file_exits_3(tmp_path: Path, sim: Sim) -> None:
    loose = tmp_path / "loose.pem"
    loose.write_bytes(sim.key_path.read_bytes())
    loose.chmod(0o644)
    env = {"KALSHI_API_KEY_ID": sim.key_id, "KALSHI_PRIVATE_KEY_PATH": str(loose)}
    code, err = run(tmp_path, config(sim.url, tmp_path / "logs"), env)
    assert code == 3 and "loose.pem" in err and ("permission" in err.lower() or "0600" in err or "600" in err), err
    assert_clean(err)


def test_wrong_key_exits_3(tmp_path: Path, sim: Sim) -> None:
    other = generate_keypair("ed25519")  # a key the simulator never registered, under the right key id
    write_private_key(tmp_path / "other.pem", other.private_pem)
    env = {"KALSHI_API_KEY_ID": sim.key_id, "KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "other.pem")}
    code, err = run(tmp_path, config(sim.url, tmp_path / "logs"), env)
    assert code == 3, err
    assert "signature" in err.lower() or "401" in err or "auth" in err.lower(), err
    assert_clean(err)
    assert other.private_pem.decode().splitlines()[1] not in err  # the key material is never printed


def test_clock_far_off_exits_3(tmp_path: Path, sim: Sim) -> None:
    """The daemon's clock 10 minutes ahead (``sitecustomize`` shifts time.time_ns in the child only)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import time\n_real = time.time_ns\ntime.time_ns = lambda: _real() + 600 * 10**9\n"
        "time.time = lambda: time.time_ns() / 1e9\n"
    )
    env = {
        "KALSHI_API_KEY_ID": sim.key_id,
        "KALSHI_PRIVATE_KEY_PATH": str(sim.key_path),
        "PYTHONPATH": str(shim),
    }
    code, err = run(tmp_path, config(sim.url, tmp_path / "logs"), env)
    assert code == 3 and ("clock" in err.lower() or "timestamp" in err.lower()), err
    assert_clean(err)


def test_second_instance_exits_4_and_first_stops_cleanly(tmp_path: Path, sim: Sim) -> None:
    env = {"KALSHI_API_KEY_ID": sim.key_id, "KALSHI_PRIVATE_KEY_PATH": str(sim.key_path)}
    logs = tmp_path / "logs"
    first_dir = tmp_path / "a"
    first_dir.mkdir()
    (first_dir / "bot.yaml").write_text(config(sim.url, logs))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI")}
    first = subprocess.Popen(
        [sys.executable, "-m", "kalshibot", "run", "--config", str(first_dir / "bot.yaml")],
        cwd=first_dir,
        env={**clean, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        control = logs / "state" / "control.json"
        deadline = time.monotonic() + 40
        while not control.exists():  # the first daemon is up once its control address is written
            assert first.poll() is None, f"first daemon exited {first.returncode}"
            assert time.monotonic() < deadline, "first daemon never came up"
            time.sleep(0.05)
        second = tmp_path / "b"
        second.mkdir()
        code, err = run(second, config(sim.url, logs), env)
        assert code == 4 and "another kalshibot instance" in err, err
        assert_clean(err)
    finally:
        first.terminate()  # SIGTERM: graceful stop
        assert first.wait(30) == 0
