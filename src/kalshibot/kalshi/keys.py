"""API key files: ``kalshibot keygen`` and loading a private key with the permission check.

``keygen --out DIR [--type rsa|ed25519]`` writes (CONTRACTS.md "CLI"):

* ``DIR/kalshi-key.pem``: the private key, PKCS#8 PEM, mode 0600 (created with that mode, never widened);
* ``DIR/kalshi-key.pub.pem``: the public key (SubjectPublicKeyInfo PEM), what ``kalshibot sim --public-key`` takes;
* ``DIR/kalshi-key.id``: a fresh UUID to use as the key id (``--api-key-id``).

RSA keys are 2048-bit like Kalshi's (API.md §2.1).
"""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kalshibot.errors import UsageError
from kalshibot.kalshi.signing import KeyType, PrivateKey

PRIVATE_NAME = "kalshi-key.pem"
PUBLIC_NAME = "kalshi-key.pub.pem"
ID_NAME = "kalshi-key.id"
RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class KeyPair:
    key_id: str
    private_pem: bytes  # PKCS#8
    public_pem: bytes  # SubjectPublicKeyInfo
    key_type: KeyType


@dataclass(frozen=True, slots=True)
class KeyFiles:
    private_path: Path
    public_path: Path
    id_path: Path
    key_id: str


def generate_keypair(key_type: KeyType = "ed25519") -> KeyPair:
    """A fresh key pair and UUID key id (in memory)."""
    key: PrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    elif key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise UsageError(f"unknown key type {key_type!r} (rsa or ed25519)")
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(str(uuid.uuid4()), private_pem, public_pem, key_type)


def write_private_key(path: Path, pem: bytes) -> None:
    """Write ``pem`` to ``path`` with mode 0600 from the first byte (O_CREAT with mode; umask cannot widen it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def write_key_files(out_dir: Path | str, key_type: KeyType = "ed25519") -> KeyFiles:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pair = generate_keypair(key_type)
    files = KeyFiles(out / PRIVATE_NAME, out / PUBLIC_NAME, out / ID_NAME, pair.key_id)
    write_private_key(files.private_path, pair.private_pem)
    files.public_path.write_bytes(pair.public_pem)
    files.id_path.write_text(pair.key_id + "\n")
    return files


def keygen_main(args: argparse.Namespace) -> int:
    key_type: KeyType = "rsa" if getattr(args, "type", "ed25519") == "rsa" else "ed25519"
    files = write_key_files(Path(args.out), key_type)
    print(f"wrote {files.private_path} (private, mode 0600), {files.public_path}, {files.id_path}")
    print(f"key id: {files.key_id}")
    return 0
