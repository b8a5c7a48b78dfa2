"""Kalshi's request-signing recipe (API.md §2), shared by the client and the simulator.

Theory of operation
-------------------
Every authenticated request carries three headers: ``KALSHI-ACCESS-KEY`` (the key id), ``KALSHI-ACCESS-TIMESTAMP``
(Unix time in milliseconds, decimal string) and ``KALSHI-ACCESS-SIGNATURE``: base64 of a signature over the UTF-8
text ``str(ts_ms) + METHOD + path``, where *path* is the full URL path including ``/trade-api/v2`` with the query
string stripped and no body (API.md §2.1). The WebSocket handshake signs ``ts + "GET" + "/trade-api/ws/v2"``
(API.md §2.2).

Two key types (API.md §2.1): RSA keys sign with RSA-PSS(SHA-256, MGF1-SHA-256, salt length 32 = the digest
length); Ed25519 keys sign the same text per RFC 8032. The type is read from the PEM, as the official SDK does.

Nothing here reads a clock or a file: the timestamp is passed in, keys arrive as PEM bytes or loaded key objects.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshibot.errors import CredentialError

KeyType = Literal["rsa", "ed25519"]
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

# RSA-PSS salt length = SHA-256 digest length (API.md §2.1: padding.PSS.DIGEST_LENGTH in the official SDK)
PSS_SALT_LENGTH = 32


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)


def strip_query(path: str) -> str:
    """The path Kalshi signs: everything before ``?`` (API.md §2.1: "query string stripped")."""
    return path.split("?", 1)[0]


def sign_message(ts_ms: int, method: str, path: str) -> bytes:
    """The exact bytes that are signed: ``f"{ts_ms}{METHOD}{path}"`` (query stripped), UTF-8."""
    return f"{int(ts_ms)}{method.upper()}{strip_query(path)}".encode()


def key_type_of(key: PublicKey | PrivateKey) -> KeyType:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CredentialError(f"unsupported key type {type(key).__name__} (Kalshi keys are RSA or Ed25519)")


def load_public_key(pem: bytes | str) -> PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo or PKCS#1 RSA); raises CredentialError when it is not one."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise CredentialError(f"not a PEM public key: {e}") from e
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise CredentialError(f"unsupported public key type {type(key).__name__} (Kalshi keys are RSA or Ed25519)")
    return key


class Signer:
    """Signs Kalshi requests with one private key (RSA-PSS or Ed25519, detected from the key)."""

    __slots__ = ("_key", "key_type")

    def __init__(self, private_key: PrivateKey) -> None:
        self.key_type: KeyType = key_type_of(private_key)
        self._key = private_key

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | None = None) -> Signer:
        """Load a private key: PKCS#8 (``BEGIN PRIVATE KEY``) or PKCS#1 RSA (``BEGIN RSA PRIVATE KEY``, which is
        what Kalshi-generated keys are, API.md §2.1)."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as e:
            # never include the key material in the message
            raise CredentialError(f"not a usable PEM private key: {type(e).__name__}") from e
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise CredentialError(f"unsupported private key type {type(key).__name__} (use RSA or Ed25519)")
        return cls(key)

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_bytes(self, message: bytes) -> str:
        """base64 signature of ``message``."""
        if isinstance(self._key, rsa.RSAPrivateKey):
            sig = self._key.sign(message, _pss(), hashes.SHA256())
        else:
            sig = self._key.sign(message)
        return base64.b64encode(sig).decode("ascii")

    def sign(self, ts_ms: int, method: str, path: str) -> str:
        """base64 signature for one request (path without query; a query is stripped anyway)."""
        return self.sign_bytes(sign_message(ts_ms, method, path))

    def __repr__(self) -> str:  # never show key material
        return f"Signer(key_type={self.key_type!r})"


def verify(public_key: PublicKey | bytes | str, ts_ms: int, method: str, path: str, signature_b64: str) -> bool:
    """True iff ``signature_b64`` is a valid signature of ``sign_message(ts_ms, method, path)`` by ``public_key``.

    Malformed base64 or a signature of the wrong length is simply False (never an exception): the caller answers
    401 either way."""
    key = load_public_key(public_key) if isinstance(public_key, bytes | str) else public_key
    try:
        sig = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    message = sign_message(ts_ms, method, path)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, message, _pss(), hashes.SHA256())
        else:
            key.verify(sig, message)
    except InvalidSignature:
        return False
    return True


def auth_headers(signer: Signer, key_id: str, method: str, path_without_query: str, ts_ms: int) -> dict[str, str]:
    """The three Kalshi auth headers for one request (API.md §2.1); for the WebSocket handshake pass
    ``("GET", "/trade-api/ws/v2")`` (API.md §2.2)."""
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: str(int(ts_ms)),
        HEADER_SIGNATURE: signer.sign(ts_ms, method, path_without_query),
    }
