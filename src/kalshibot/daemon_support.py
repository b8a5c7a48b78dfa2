"""Pieces of the daemon that are not the event flow: credentials, the embedded simulator, persisted risk state,
and turning the engine's notes into journal records."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from kalshibot.config import Settings
from kalshibot.core import events as ev
from kalshibot.errors import ConfigError
from kalshibot.journal.records import intent_record, lifecycle_record, risk_record, settlement_record
from kalshibot.kalshi.keys import generate_keypair
from kalshibot.kalshi.signing import Signer
from kalshibot.net.auth import KalshiAuth, LegacyTokenAuth, load_private_key

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Credentials:
    key_id: str
    signer: Signer

    def __repr__(self) -> str:
        return f"Credentials(key_id={self.key_id!r})"


class EmbeddedVenue:
    """The in-process simulator of ``environment: sim`` with its throwaway key (real loopback HTTP/WS)."""

    def __init__(self, server: Any, credentials: Credentials) -> None:
        self.server = server
        self.credentials = credentials

    @property
    def base_url(self) -> str:
        return str(self.server.base_url)

    async def stop(self) -> None:
        await self.server.stop()


async def start_embedded_sim(settings: Settings) -> EmbeddedVenue:
    from kalshibot.sim.server import SimConfig, SimServer

    sim = settings.sim
    legacy = {}
    if settings.auth.mode == "legacy":
        legacy = {"bot@localhost": "embedded-sim-password"}
    server = SimServer(
        SimConfig(
            host="127.0.0.1",
            port=0,
            scenario=sim.scenario,
            seed=sim.seed,
            speed=sim.speed,
            balance=sim.balance / 1_000_000,
            rate_limit_tier=sim.rate_limit_tier,
            legacy_logins=legacy,
        )
    )
    pair = generate_keypair("ed25519")
    server.add_api_key(pair.key_id, pair.public_pem)
    await server.start()
    log.info("embedded simulator started", url=server.base_url, scenario=sim.scenario, speed=sim.speed)
    return EmbeddedVenue(server, Credentials(pair.key_id, Signer.from_pem(pair.private_pem)))


def build_auth(settings: Settings, rest_url: str, embedded: Credentials | None) -> KalshiAuth | LegacyTokenAuth:
    """API-key signing (default) or the legacy token flow, from the settings and secrets (never logged)."""
    s = settings.secrets
    if settings.auth.mode == "legacy":
        if embedded is not None:
            email, password = "bot@localhost", "embedded-sim-password"
        elif s.email is None or s.password is None:
            raise ConfigError("auth.mode legacy needs KALSHI_EMAIL and KALSHI_PASSWORD", field="auth.mode")
        else:
            email, password = s.email.get_secret_value(), s.password.get_secret_value()
        return LegacyTokenAuth(
            rest_url,
            email,
            password,
            environment=settings.environment,
            token_lifetime_s=settings.auth.legacy_token_lifetime_s,
        )
    if embedded is not None:
        return KalshiAuth(embedded.key_id, embedded.signer)
    if s.api_key_id is None:
        raise ConfigError("KALSHI_API_KEY_ID is not set (see .env.example)", field="KALSHI_API_KEY_ID")
    if s.private_key_pem is not None:
        signer = load_private_key(s.private_key_pem.get_secret_value().encode())
    elif s.private_key_path is not None:
        signer = load_private_key(s.private_key_path)
    else:
        raise ConfigError(
            "KALSHI_PRIVATE_KEY_PATH (or KALSHI_PRIVATE_KEY) is not set (see .env.example)",
            field="KALSHI_PRIVATE_KEY_PATH",
        )
    return KalshiAuth(s.api_key_id.get_secret_value(), signer)


def account_label(settings: Settings) -> str:
    """A name for the instance lock: the API key id (not a secret by itself) or the login, per environment."""
    if settings.embedded_sim:
        return "sim-embedded"
    s = settings.secrets
    who = s.api_key_id.get_secret_value() if s.api_key_id is not None else "legacy"
    return f"{settings.environment}-{who}"


class StateStore:
    """The daemon's persisted risk state (``logs/state/risk.json``): written atomically (tmp + rename)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "risk.json"

    def load(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.error("persisted risk state unreadable; starting HALTED is safer", path=str(self.path), error=str(e))
            return {"halted": True, "halt_reason": f"unreadable state file {self.path}"}
        return data if isinstance(data, dict) else None

    def write_control_address(self, path: str, url: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"url": url}))

    def save(self, state: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".risk-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(state, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            log.error("could not persist risk state", error=str(e))
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def split_for_acks(actions: Sequence[ev.Action], step: int) -> list[list[ev.Action]]:
    """Split one pump round into executor submissions so that each batch-create request is acknowledged as soon as
    it returns, instead of after the whole round (issue 9, figure 6: at startup every market's first quotes leave in
    one round, which the write bucket paces into requests a second apart, API.md §7.1).

    The wire stays the same: the first submission carries every non-create action (cancels, amends, ...: the
    executor sends them before creates anyway) plus the first ``step`` creates, each later one the next ``step``
    creates in the engine's order, which is how ``batch_create`` chunks them. A create whose cancel is in the same
    round stays in the first submission, where the executor drops the pair (``Executor._coalesce``)."""
    places = [a for a in actions if isinstance(a, ev.PlaceOrder)]
    if step < 1 or len(places) <= step:
        return [list(actions)]
    pending_cancel = {a.client_order_id for a in actions if isinstance(a, ev.CancelOrder) and a.order_id is None}
    first: list[ev.Action] = [a for a in actions if not isinstance(a, ev.PlaceOrder)]
    sent: list[ev.PlaceOrder] = []
    for p in places:
        if p.client_order_id in pending_cancel:
            first.append(p)  # never sent: the executor drops it with its cancel
        else:
            sent.append(p)
    parts: list[list[ev.Action]] = [[*first, *sent[:step]]]
    parts.extend(list(sent[i : i + step]) for i in range(step, len(sent), step))
    return parts


def note_to_record(note: ev.Note, session: str, ts_ms: int) -> Any:
    if isinstance(note, ev.IntentNote):
        return intent_record(note, session, ts_ms)
    if isinstance(note, ev.RiskNote):
        return risk_record(note, session, ts_ms)
    if isinstance(note, ev.LifecycleNote):
        return lifecycle_record(note, session, ts_ms)
    return settlement_record(note, session, ts_ms)


__all__ = [
    "Credentials",
    "EmbeddedVenue",
    "StateStore",
    "account_label",
    "build_auth",
    "note_to_record",
    "split_for_acks",
    "start_embedded_sim",
]
