"""`.ci/run`'s committed-key guard: real private keys (plain or embedded in a string) are refused; text that merely
names the PEM marker (Kalshi's schema descriptions, our tests of malformed key files) passes, so a fresh clone
gets through to `make test`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".ci" / "run"


def _guard(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run .ci/run's key-refusal block (its `if git ls-files ... fi`, not the `make test` after it) in ``cwd``."""
    m = re.search(r"^if git ls-files.*?^fi$", CI.read_text(), re.S | re.M)
    assert m, ".ci/run no longer has its private-key check"
    script = "set -euo pipefail\n" + m.group(0) + "\necho clean\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60)


def _repo(tmp_path: Path, files: dict[str, bytes]) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, capture_output=True)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


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


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@needs_git
@pytest.mark.parametrize("name", ["pkcs8.pem", "pkcs1.pem", "openssh.key", "embedded.json", "embedded.py"])
def test_real_private_keys_are_refused(tmp_path: Path, name: str) -> None:
    r = _guard(_repo(tmp_path, {"README.md": b"hi\n", name: _keys()[name]}))
    assert r.returncode == 1 and "a private key is committed" in r.stderr
    assert r.stdout.split() == [name]


@needs_git
def test_naming_the_marker_is_not_a_key(tmp_path: Path) -> None:
    texts = [
        "PKCS#8 (`-----BEGIN PRIVATE KEY-----`) for `ed25519`",
        'SECRET_PEM = "-----BEGIN PRIVATE KEY-----\\nTOPSECRETKEYMATERIAL\\n-----END PRIVATE KEY-----"',
        'bad = b"-----BEGIN PRIVATE KEY-----\\nnot a key\\n-----END PRIVATE KEY-----\\n"',
    ]
    r = _guard(_repo(tmp_path, {f"t{i}.py": t.encode() for i, t in enumerate(texts)}))
    assert r.returncode == 0 and "clean" in r.stdout, r.stdout + r.stderr


@needs_git
def test_the_repository_passes_its_own_guard() -> None:
    """A fresh clone must get past the guard to `make test` (the repo names the marker in tests and schemas)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    r = _guard(ROOT)
    assert r.returncode == 0 and "clean" in r.stdout, r.stdout + r.stderr
