"""Single-instance lock per account/subaccount (exit code 4 when another instance holds it).

An advisory ``flock`` on a file under ``logs/state/``: the kernel drops it when the process dies, so a crash never
leaves a stale lock behind (unlike a PID file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from kalshibot.errors import LockHeldError


class InstanceLock:
    def __init__(self, state_dir: str | Path, account: str, subaccount: int) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", account)[:80] or "default"
        self.path = Path(state_dir) / f"kalshibot-{safe}-{subaccount}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = ""
            with contextlib.suppress(OSError):
                holder = self.path.read_text().strip()
            raise LockHeldError(
                f"another kalshibot instance holds {self.path}" + (f" (pid {holder})" if holder else "")
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
