"""No secret (private key, password, token, signature) reaches the logs, exceptions, the journal, the state files or
the control/metrics server; the simulator refuses bad, stale and unknown-key signatures; the control server binds to
loopback by default; CI refuses a committed private key.

The leak tests run the real daemon against the simulator over loopback (API-key signing, then the legacy
email/password flow), record every signature the client produced and the login token it was given, capture every
log line at debug level, the journal/market/state files and the control endpoints, and search all of it.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from kalshibot import logsetup
from kalshibot.config import parse_settings_text
from kalshibot.daemon import Daemon
from kalshibot.kalshi import signing
from kalshibot.sim.testing import TestSim, eventually, running_sim, write_private_key_file

pytestmark = pytest.mark.timeout(90)
PASSWORD = "hunter2-Correct-Horse-Battery"  # a fake credential for the simulator's legacy login
EMAIL = "bot@example.invalid"


def pem_body_lines(pem: bytes) -> list[str]:
    return [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")]


async def run_daemon_capturing(sim: TestSim, tmp: Path, yaml_extra: str, env: dict[str, str]) -> tuple[str, Daemon]:
    """Run the daemon until it has traded a little, stop it; return everything it wrote or served, as text."""
    stream = io.StringIO()
    logsetup.configure("debug", "json", stream=stream)
    logs = tmp / "logs"
    text = f"environment: sim\nsim_url: {sim.base_url}\nlogging:\n  dir: {logs}\ncontrol:\n  port: 0\n{yaml_extra}"
    settings = parse_settings_text(text, env=env, env_file=None)
    d = Daemon(settings, handle_signals=False)
    task = asyncio.create_task(d.run())
    served: list[str] = []
    try:
        await eventually(lambda: d.ready.is_set() or task.done(), timeout=30, what="ready")
        assert not task.done(), task.result()
        assert d.control_url is not None and d.control_url.startswith("http://127.0.0.1:")
        await eventually(lambda: d.summary["orders"] >= 3, timeout=30, what="orders sent")
        async with httpx.AsyncClient() as c:
            for path in ("/status", "/metrics", "/healthz"):
                served.append((await c.get(d.control_url.rstrip("/") + path)).text)
    finally:
        d.stop_event.set()
        code = await asyncio.wait_for(task, 30)
        logsetup.configure("warning", "json")
    assert code == 0
    files = [p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert any('"type": "order_sent"' in f or '"type":"order_sent"' in f for f in files)
    return "\n".join([stream.getvalue(), *served, *files, repr(settings), str(settings)]), d


def assert_absent(haystack: str, secrets: list[str], what: str) -> None:
    for s in secrets:
        assert s and s not in haystack, f"a {what} leaked: {s[:12]}..."


async def test_api_key_run_leaks_no_key_or_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    signatures: list[str] = []
    real = signing.Signer.sign_bytes

    def recording(self: signing.Signer, message: bytes) -> str:
        sig = real(self, message)
        signatures.append(sig)
        return sig

    monkeypatch.setattr(signing.Signer, "sign_bytes", recording)
    async with running_sim(scenario="default", speed=5) as sim:
        key = write_private_key_file(sim.test_private_key_pem, tmp_path)
        env = {"KALSHI_API_KEY_ID": sim.test_key_id, "KALSHI_PRIVATE_KEY_PATH": str(key)}
        text, _ = await run_daemon_capturing(sim, tmp_path, "", env)
    assert len(signatures) >= 5  # the run really signed requests (REST and the WebSocket handshake)
    assert_absent(text, pem_body_lines(sim.test_private_key_pem), "private key line")
    assert_absent(text, sorted(set(signatures)), "signature")


async def test_legacy_run_leaks_no_password_or_token(tmp_path: Path) -> None:
    async with running_sim(scenario="default", speed=5, legacy_logins={EMAIL: PASSWORD}) as sim:
        env = {"KALSHI_EMAIL": EMAIL, "KALSHI_PASSWORD": PASSWORD}
        text, _ = await run_daemon_capturing(sim, tmp_path, "auth:\n  mode: legacy\n", env)
        tokens: list[str] = list(sim.auth._tokens)  # every bearer token the simulator issued (test access)
    assert tokens  # the login happened
    # the token is "<user id>:<random part>"; the user id alone is not secret, the random part is
    assert_absent(text, [PASSWORD, *tokens, *(t.split(":", 1)[1] for t in tokens)], "credential")


@pytest.mark.parametrize("case", ["bad_signature", "stale_timestamp", "unknown_key"])
async def test_simulator_refuses_bad_stale_and_unknown_signatures(case: str) -> None:
    async with running_sim(scenario="none") as sim:
        path = "/trade-api/v2/portfolio/balance"
        h = sim.signed_headers("GET", path)
        if case == "bad_signature":
            other, _, _ = sim.new_user()
            h = sim.signed_headers("GET", path, key_id=other)  # signed with our key under another account's id
        elif case == "stale_timestamp":
            ts = sim.clock() - 120_000
            h = {
                "KALSHI-ACCESS-KEY": sim.test_key_id,
                "KALSHI-ACCESS-TIMESTAMP": str(ts),
                "KALSHI-ACCESS-SIGNATURE": sim.test_signer.sign(ts, "GET", path),
            }
        else:
            h["KALSHI-ACCESS-KEY"] = "00000000-0000-4000-8000-000000000000"
        async with httpx.AsyncClient(base_url=sim.base_url) as c:
            ok = await c.get(path, headers=sim.signed_headers("GET", path))
            r = await c.get(path, headers=h)
    assert ok.status_code == 200
    assert r.status_code == 401
    code = r.json()["error"]["code"]
    assert (
        code
        == {
            "bad_signature": "invalid_signature",
            "stale_timestamp": "timestamp_out_of_window",
            "unknown_key": "unknown_api_key",
        }[case]
    )


def test_control_server_defaults_to_loopback() -> None:
    s = parse_settings_text("environment: sim\n", env={}, env_file=None)
    assert s.control.host == "127.0.0.1"


CI = Path(__file__).resolve().parent.parent / ".ci" / "run"


def _ci_key_check() -> str:
    """The private-key refusal block of .ci/run (its `if git ls-files ... fi`), without the `make test` after it."""
    m = re.search(r"^if git ls-files.*?^fi$", CI.read_text(), re.S | re.M)
    assert m, ".ci/run no longer has its private-key check"
    return "set -euo pipefail\n" + m.group(0) + "\necho clean\n"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.parametrize("committed", ["rsa", "pkcs8", "none"])
def test_ci_refuses_a_committed_private_key(tmp_path: Path, committed: str) -> None:
    from kalshibot.kalshi.keys import generate_keypair

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "README.md").write_text("hello\n")
    if committed == "pkcs8":
        (tmp_path / "deploy.pem").write_bytes(generate_keypair("ed25519").private_pem)
    elif committed == "rsa":
        (tmp_path / "id").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")
    (tmp_path / ".env.example").write_text("KALSHI_PRIVATE_KEY_PATH=/path/to/kalshi-key.pem\n")
    git("add", "-A")
    p = subprocess.run(["bash", "-c", _ci_key_check()], cwd=tmp_path, capture_output=True, text=True)
    if committed == "none":
        assert p.returncode == 0 and "clean" in p.stdout, p.stderr
    else:
        assert p.returncode == 1 and "a private key is committed" in p.stderr
        assert ("deploy.pem" if committed == "pkcs8" else "id") in p.stdout
