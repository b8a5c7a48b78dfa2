"""The ``kalshibot`` command (CONTRACTS.md "CLI").

Each subcommand's implementation lives with its component and is imported lazily, so ``kalshibot --help`` and
``check-config`` stay fast and a broken optional component cannot break the others. Errors from the project's error
tree become a one-line message and the exit code of CONTRACTS.md (2 usage/config, 3 credentials, 4 lock); nothing
else prints a traceback unless ``KALSHIBOT_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

from kalshibot import __version__
from kalshibot.errors import KalshibotError, exit_code

# subcommand -> "module:function"; each function takes the parsed argparse.Namespace and returns an exit code
HANDLERS: dict[str, str] = {
    "run": "kalshibot.daemon:run_main",
    "demo": "kalshibot.demo:demo_main",
    "sim": "kalshibot.sim.server:sim_main",
    "keygen": "kalshibot.kalshi.keys:keygen_main",
    "check-config": "kalshibot.config:check_config_main",
    "status": "kalshibot.control:control_main",
    "halt": "kalshibot.control:control_main",
    "resume": "kalshibot.control:control_main",
    "cancel-all": "kalshibot.net.cancel_all:cancel_all_main",
    "tail": "kalshibot.journal.tail:tail_main",
    "replay": "kalshibot.replay.cli:replay_main",
    "backtest": "kalshibot.replay.backtest:backtest_main",
    "journal": "kalshibot.journal.validate:journal_main",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kalshibot", description="Market-making daemon for Kalshi event contracts.")
    p.add_argument("--version", action="version", version=f"kalshibot {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", default="config/bot.yaml")
    run.add_argument("--paper", action="store_true", help="real market data, no orders sent (paper fills)")
    run.add_argument("--live", action="store_true", help="required for environment: prod")

    demo = sub.add_parser("demo", help="run against the embedded simulator for a while, then summarize")
    demo.add_argument("--duration", type=float, default=60.0)
    demo.add_argument("--config", default="config/bot.yaml")

    sim = sub.add_parser("sim", help="run the Kalshi-compatible exchange simulator as a server")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--api-key-id", action="append", default=[], dest="api_key_ids")
    sim.add_argument("--public-key", action="append", default=[], dest="public_keys")
    sim.add_argument("--scenario", default="default")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--speed", type=float, default=1.0)
    sim.add_argument("--balance", type=float, default=10000.0)
    sim.add_argument(
        "--rate-limit-tier",
        default="basic",
        choices=["basic", "advanced", "premier", "paragon", "prime", "off"],
    )
    sim.add_argument("--faults", action="store_true", help="enable the fault-injection admin endpoint")
    sim.add_argument("--legacy-login", action="append", default=[], metavar="EMAIL:PASSWORD")

    kg = sub.add_parser("keygen", help="generate an API key pair for the simulator")
    kg.add_argument("--out", required=True)
    kg.add_argument("--type", default="ed25519", choices=["rsa", "ed25519"])

    cc = sub.add_parser("check-config", help="validate a config file and print the effective settings")
    cc.add_argument("path", nargs="?", default="config/bot.yaml")

    for name, helptext in (
        ("status", "show a running daemon's status"),
        ("halt", "halt a running daemon (cancel quotes, nothing new)"),
        ("resume", "resume a halted daemon"),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("--config", default="config/bot.yaml")

    ca = sub.add_parser("cancel-all", help="cancel this bot's resting orders (no daemon needed)")
    ca.add_argument("--config", default="config/bot.yaml")
    ca.add_argument("--account", action="store_true", help="cancel every resting order on the account (panic)")

    tail = sub.add_parser("tail", help="follow the journal as a readable table")
    tail.add_argument("path", nargs="?", default=None)
    tail.add_argument("--no-follow", action="store_true")

    rp = sub.add_parser("replay", help="forward-test replay of journal + market-data files")
    rp.add_argument("paths", nargs="+")
    rp.add_argument("--fill-model", default="queue", choices=["recorded", "queue", "touch", "conservative"])
    rp.add_argument("--config", default=None)
    rp.add_argument("--report", default=None)

    bt = sub.add_parser("backtest", help="strategies side by side on a simulator scenario (virtual clock)")
    bt.add_argument("--scenario", required=True)
    bt.add_argument("--strategies", default=None)
    bt.add_argument("--seed", type=int, default=1)
    bt.add_argument(
        "--duration",
        type=float,
        default=None,
        help="virtual seconds to run (default: one full event life of the scenario's longest series)",
    )

    jr = sub.add_parser("journal", help="journal tools")
    jsub = jr.add_subparsers(dest="journal_command", required=True)
    jv = jsub.add_parser("validate", help="check every line against the schema")
    jv.add_argument("paths", nargs="+")
    return p


def _resolve(spec: str) -> Callable[[argparse.Namespace], int]:
    module, _, func = spec.partition(":")
    return cast(Callable[[argparse.Namespace], int], getattr(importlib.import_module(module), func))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _resolve(HANDLERS[args.command])(args)
    except KalshibotError as e:
        if os.environ.get("KALSHIBOT_DEBUG"):
            raise
        print(f"kalshibot: error: {e}", file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        return 130
