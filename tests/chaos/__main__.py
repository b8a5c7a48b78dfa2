"""``make chaos`` = ``python -m tests.chaos``: the full fault matrix, then the volume fuzzer.

Prints one line per cell as it finishes, the matrix (fault x seed -> ``ok`` or the first invariant that failed),
the fuzz totals, and ends with ``chaos: <F> faults x <S> seeds, <P> passed, <X> failed`` (CONTRACTS.md). Exits 1
if any cell (or the fuzzer) failed. Cells run in ``--jobs`` worker processes (default 2: the 2-core machine).

Options: ``--seeds N`` (default 20), ``--faults a,b`` (default all), ``--jobs N``, ``--fuzz N`` generated inputs
(default 1,000,000; 0 skips), ``--no-matrix``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import sys
import time

from tests.chaos.harness import Cell


def _short(cell: Cell) -> str:
    if cell.passed:
        return "ok"
    return cell.failures[0].split(":", 1)[0]


def print_matrix(cells: list[Cell], names: list[str], seeds: list[int]) -> None:
    by = {(c.fault, c.seed): c for c in cells}
    width = max(len(n) for n in names) + 2
    print("\nfault matrix (seed -> ok | failed invariant)")
    for n in names:
        row = [f"{s}:{_short(by[(n, s)])}" for s in seeds if (n, s) in by]
        passed = sum(by[(n, s)].passed for s in seeds if (n, s) in by)
        print(f"  {n:<{width}} {passed:>3}/{len(seeds)}  " + " ".join(row))
    bad = [c for c in cells if not c.passed]
    if bad:
        print("\nfailures:")
        for c in bad:
            print(f"  {c.fault} seed {c.seed}: " + "; ".join(c.failures))


def main(argv: list[str] | None = None) -> int:
    from tests.chaos.matrix import FAULTS, run_named

    ap = argparse.ArgumentParser(prog="python -m tests.chaos")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--faults", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--fuzz", type=int, default=1_000_000)
    ap.add_argument("--no-matrix", action="store_true")
    args = ap.parse_args(argv)
    names = [f.name for f in FAULTS] if not args.faults else args.faults.split(",")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    cells: list[Cell] = []
    t0 = time.monotonic()
    if not args.no_matrix:
        jobs = [(n, s) for s in seeds for n in names]
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
            futs = {pool.submit(run_named, n, s): (n, s) for n, s in jobs}
            for fut in cf.as_completed(futs):
                n, s = futs[fut]
                try:
                    c = fut.result()
                except Exception as e:
                    c = Cell(n, s, failures=[f"worker crashed: {e!r}"])
                cells.append(c)
                status = "ok" if c.passed else "FAIL " + "; ".join(c.failures)
                print(
                    f"[{time.monotonic() - t0:6.0f}s] {n} seed {s}: fills {c.fills} fired {c.fired} "
                    f"two-sided {c.two_sided if c.two_sided is None else round(c.two_sided, 2)} "
                    f"max-used {c.notes.get('max_used')} refused {c.notes.get('refused')} "
                    f"reducing {c.notes.get('reducing')} halted {c.notes.get('halted')} "
                    f"{c.elapsed_s:.1f}s {status}",
                    flush=True,
                )
        print_matrix(cells, names, seeds)
    fuzz_ok = True
    if args.fuzz > 0:
        from tests.chaos.fuzz import run_fuzz

        fuzz_ok = run_fuzz(args.fuzz, seed=args.first_seed)
    passed = sum(c.passed for c in cells)
    failed = len(cells) - passed
    print(
        f"chaos: {len(names) if not args.no_matrix else 0} faults x {len(seeds) if not args.no_matrix else 0} seeds, "
        f"{passed} passed, {failed} failed"
    )
    return 0 if failed == 0 and fuzz_ok else 1


if __name__ == "__main__":
    sys.exit(main())
