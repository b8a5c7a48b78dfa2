"""systemd ``sd_notify`` without libsystemd: one datagram to ``$NOTIFY_SOCKET`` (Type=notify units).

READY=1 once the first quotes can go out, WATCHDOG=1 from the event loop (so a stuck loop stops the pings and
systemd restarts the unit), STOPPING=1 on shutdown. A no-op when not run under systemd.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.sent: list[str] = []

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def watchdog_interval_s(self) -> float | None:
        """Half of systemd's WatchdogSec (``$WATCHDOG_USEC``), or None when no watchdog is configured."""
        usec = os.environ.get("WATCHDOG_USEC")
        if not usec or not usec.isdigit():
            return None
        pid = os.environ.get("WATCHDOG_PID")
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None
        return int(usec) / 2_000_000

    def notify(self, message: str) -> bool:
        if not self.address:
            return False
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace socket
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.connect(addr)
                # never block the event loop on a full notify queue: a dropped WATCHDOG=1 is retried next tick
                s.send(message.encode(), socket.MSG_DONTWAIT)
        except OSError:
            return False
        self.sent.append(message)
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")
