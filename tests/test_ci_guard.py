"""`.ci/run`'s committed-key guard: real private keys (plain or embedded in a string) are refused; text that merely
names the PEM marker (Kalshi's schema descriptions, our tests of malformed key files) passes, so a fresh clone
gets through to `make test`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ROOT = Path(__file__).resolve().parent.parent
GUARD = ROOT / ".ci" / "no_private_keys.py"


def _guard(*paths: Path | str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GUARD), *map(str, paths)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _keys() -> dict[str, bytes]:
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    none = serialization.NoEncryption()
    pkcs8 = ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, none)
    return {
        "pkcs8.pem": pkcs8,
        "pkcs1.pem": rs.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, none),
        "openssh.key": ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, none),
        "embedded.json": json.dumps({"private_key": pkcs8.decode()}).encode(),
        "embedded.py": b"KEY = " + repr(pkcs8.decode()).encode() + b"\n",
    }


def test_real_private_keys_are_refused(tmp_path: Path) -> None:
    for name, data in _keys().items():
        f = tmp_path / name
        f.write_bytes(data)
        r = _guard(f)
        assert r.returncode == 1, name
        assert str(f) in r.stderr and "private key is committed" in r.stderr


def test_naming_the_marker_is_not_a_key(tmp_path: Path) -> None:
    texts = [
        "PKCS#8 (`-----BEGIN PRIVATE KEY-----`) for `ed25519`",
        '"-----BEGIN PRIVATE KEY-----\\nTOPSECRETKEYMATERIAL\\n-----END PRIVATE KEY-----"',
        "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    ]
    files = []
    for i, t in enumerate(texts):
        files.append(tmp_path / f"t{i}.txt")
        files[-1].write_text(t)
    r = _guard(*files)
    assert r.returncode == 0, r.stderr


def test_the_repository_passes_its_own_guard_and_ci_runs_it() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    r = _guard()
    assert r.returncode == 0, r.stderr
    assert "python3 .ci/no_private_keys.py" in (ROOT / ".ci" / "run").read_text()
