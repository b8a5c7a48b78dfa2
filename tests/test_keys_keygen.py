"""kalshibot keygen and the signing recipe's key handling."""

from __future__ import annotations

import base64
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshibot.cli import main
from kalshibot.errors import CredentialError
from kalshibot.kalshi import keys
from kalshibot.kalshi.signing import Signer, auth_headers, sign_message, verify
from kalshibot.net.auth import load_private_key


@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
def test_keygen_writes_three_files(tmp_path: Path, key_type: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k"
    assert main(["keygen", "--out", str(out), "--type", key_type]) == 0
    priv, pub, kid = out / "kalshi-key.pem", out / "kalshi-key.pub.pem", out / "kalshi-key.id"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert priv.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    key_id = kid.read_text().strip()
    assert str(uuid.UUID(key_id)) == key_id
    assert key_id in capsys.readouterr().out
    signer = load_private_key(priv)
    assert signer.key_type == key_type
    assert signer.public_key_pem() == pub.read_bytes()
    public = serialization.load_pem_public_key(pub.read_bytes())
    assert isinstance(public, rsa.RSAPublicKey if key_type == "rsa" else ed25519.Ed25519PublicKey)
    if key_type == "rsa":
        assert public.key_size == 2048  # type: ignore[union-attr]


def test_keygen_via_module_entry_point(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "kalshibot", "keygen", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "kalshi-key.pem").exists()


def test_loose_private_key_permissions_refused(tmp_path: Path) -> None:
    files = keys.write_key_files(tmp_path, "ed25519")
    files.private_path.chmod(0o644)
    with pytest.raises(CredentialError, match="too open"):
        load_private_key(files.private_path)
    assert CredentialError("x").exit_code == 3


def test_missing_key_file_is_a_credential_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialError):
        load_private_key(tmp_path / "nope.pem")


def test_garbage_pem_is_a_credential_error_without_key_material() -> None:
    with pytest.raises(CredentialError) as ei:
        Signer.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert "AAAA" not in str(ei.value)


def test_sign_message_is_the_documented_recipe() -> None:
    # API.md §2.1: timestamp + METHOD + path, query stripped
    assert sign_message(1703123456789, "get", "/trade-api/v2/portfolio/orders?limit=5") == (
        b"1703123456789GET/trade-api/v2/portfolio/orders"
    )


def test_rsa_signature_is_pss_sha256_salt32() -> None:
    pair = keys.generate_keypair("rsa")
    signer = Signer.from_pem(pair.private_pem)
    h = auth_headers(signer, "kid", "POST", "/trade-api/v2/portfolio/events/orders", 1_700_000_000_000)
    assert h["KALSHI-ACCESS-KEY"] == "kid" and h["KALSHI-ACCESS-TIMESTAMP"] == "1700000000000"
    public = serialization.load_pem_public_key(pair.public_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    # verifying with an explicit salt length of 32 (not AUTO) proves the salt length used
    public.verify(
        base64.b64decode(h["KALSHI-ACCESS-SIGNATURE"]),
        b"1700000000000POST/trade-api/v2/portfolio/events/orders",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_pkcs1_rsa_private_key_accepted() -> None:
    # Kalshi-generated keys are PKCS#1 "BEGIN RSA PRIVATE KEY" (API.md §2.1)
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    s = Signer.from_pem(pem)
    assert s.key_type == "rsa"
    assert verify(k.public_key(), 5, "GET", "/x", s.sign(5, "GET", "/x"))


@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
def test_verify_rejects_wrong_inputs(key_type: str) -> None:
    pair = keys.generate_keypair(key_type)  # type: ignore[arg-type]
    s = Signer.from_pem(pair.private_pem)
    sig = s.sign(1000, "GET", "/trade-api/v2/portfolio/balance")
    assert verify(pair.public_pem, 1000, "GET", "/trade-api/v2/portfolio/balance", sig)
    assert not verify(pair.public_pem, 1001, "GET", "/trade-api/v2/portfolio/balance", sig)
    assert not verify(pair.public_pem, 1000, "POST", "/trade-api/v2/portfolio/balance", sig)
    assert not verify(pair.public_pem, 1000, "GET", "/trade-api/v2/portfolio/fills", sig)
    assert not verify(pair.public_pem, 1000, "GET", "/trade-api/v2/portfolio/balance", "not base64!")
    other = keys.generate_keypair(key_type)  # type: ignore[arg-type]
    assert not verify(other.public_pem, 1000, "GET", "/trade-api/v2/portfolio/balance", sig)
    assert "PRIVATE" not in repr(s)
