#!/usr/bin/env python3
"""CI guard: refuse a committed private key.

A real PEM private key is a BEGIN line followed by base64 key material (64-character lines; also when embedded in
a JSON or Python string with escaped newlines). Merely naming the marker, as Kalshi's schema descriptions and our
tests of bad key files do (``-----BEGIN PRIVATE KEY-----`` followed by ``not a key``), is not a key, so the guard
looks for the marker followed by a run of at least 40 base64 characters.

Usage: ``no_private_keys.py [PATH...]`` (default: every file ``git ls-files`` lists). Exit 1 naming the files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PEM_KEY = re.compile(
    rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
    rb"(?:\\[rn]|\s)+"  # a real newline, or an escaped one inside a string literal
    rb"[A-Za-z0-9+/=]{40,}"  # one line of key material (PEM lines are 64 characters)
)


def has_private_key(data: bytes) -> bool:
    return PEM_KEY.search(data) is not None


def main(argv: list[str]) -> int:
    if argv:
        paths = argv
    else:
        out = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
        paths = [p for p in out.decode().split("\0") if p]
    found = []
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except (IsADirectoryError, FileNotFoundError):
            continue
        if has_private_key(data):
            found.append(p)
    for p in found:
        print(p, file=sys.stderr)
    if found:
        print("ci: a private key is committed (see the files above); remove it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
