"""Shared pieces of the benchmarks: the result line, percentiles, a simulator subprocess, keys.

Every figure returns a list of :class:`Result`; ``Result.line()`` is the CONTRACTS.md line
``bench: <name> <value> <unit> goal <goal> ratio <x> MET|MISSED``. ``ratio`` is always oriented so that a larger
number is better for us: against a baseline measured in the same run it is ``baseline / ours`` for times and
``ours / baseline`` for rates; where a figure has no natural baseline it is the value against its goal
(``goal / value`` for an upper bound, ``value / goal`` for a lower bound), so ``ratio >= 1`` means the goal holds.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Result:
    name: str
    value: float
    unit: str
    goal: str  # e.g. "<=15" or ">=50000"
    ratio: float
    met: bool
    notes: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"bench: {self.name} {fmt(self.value)} {self.unit} goal {self.goal} ratio {self.ratio:.2f} "
            f"{'MET' if self.met else 'MISSED'}"
        )


def fmt(v: float) -> str:
    if v == int(v) and abs(v) >= 100:
        return str(int(v))
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def upper(name: str, value: float, unit: str, goal: float, baseline: float | None = None, **notes: object) -> Result:
    """A figure where lower is better (goal: value <= goal); ratio = baseline / value, or goal / value."""
    ref = baseline if baseline is not None else goal
    return Result(name, value, unit, f"<={fmt(goal)}", ref / value if value else float("inf"), value <= goal, notes)


def lower(name: str, value: float, unit: str, goal: float, baseline: float | None = None, **notes: object) -> Result:
    """A figure where higher is better (goal: value >= goal); ratio = value / baseline, or value / goal."""
    ref = baseline if baseline is not None else goal
    return Result(name, value, unit, f">={fmt(goal)}", value / ref if ref else float("inf"), value >= goal, notes)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def kalshibot_cmd() -> list[str]:
    return [sys.executable, "-m", "kalshibot"]


@dataclass(slots=True)
class Keys:
    directory: Path
    key_id: str
    private_pem: Path
    public_pem: Path


def make_keys(directory: Path, key_type: str = "ed25519") -> Keys:
    subprocess.run(
        [*kalshibot_cmd(), "keygen", "--out", str(directory), "--type", key_type],
        check=True,
        capture_output=True,
    )
    return Keys(
        directory,
        (directory / "kalshi-key.id").read_text().strip(),
        directory / "kalshi-key.pem",
        directory / "kalshi-key.pub.pem",
    )


@dataclass(slots=True)
class SimProcess:
    proc: subprocess.Popen[str]
    base_url: str

    @property
    def rest_url(self) -> str:
        return self.base_url + "/trade-api/v2"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/trade-api/ws/v2"


@contextlib.contextmanager
def sim_process(keys: Keys, *extra: str, timeout_s: float = 30.0) -> Iterator[SimProcess]:
    """``kalshibot sim --port 0 --rate-limit-tier off`` in another process; yields once it is listening."""
    cmd = [
        *kalshibot_cmd(),
        "sim",
        "--port",
        "0",
        "--rate-limit-tier",
        "off",
        "--api-key-id",
        keys.key_id,
        "--public-key",
        str(keys.public_pem),
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + timeout_s
        base = ""
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"simulator exited early (rc={proc.poll()})")
            if line.startswith("listening on "):
                base = line.split()[-1].strip()
                break
        if not base:
            raise RuntimeError("simulator did not print its listening line in time")
        yield SimProcess(proc, base)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kalshibot-bench-") as d:
        yield Path(d)


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError):
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": str(os.cpu_count()), "python": sys.version.split()[0]}
