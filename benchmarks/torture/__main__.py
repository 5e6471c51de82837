"""`python -m benchmarks torture`: run every case of the torture script and print the counts."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.torture import damage, inputs, kills
from benchmarks.torture.harness import Harness, Result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks torture", description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=50, help="kill -9s to deliver (default 50)")
    p.add_argument("--ctrl-c", type=int, default=6, help="Ctrl-Cs to deliver (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seeds the moments of the kills and the flipped bits")
    p.add_argument("--work", metavar="DIR", help="scratch directory (default: a new temporary one)")
    p.add_argument("--json", metavar="OUT", help="also write the counts as JSON")
    p.add_argument("--only", metavar="CASE", action="append", choices=sorted(CASES),
                   help="run only this case (repeatable)")
    return p


CASES = {
    "checkpoints": lambda h, a: damage.checkpoints(h, a.seed),
    "malicious": lambda h, a: damage.malicious(h),
    "report": lambda h, a: damage.report_skips_unverified(h),
    "store": lambda h, a: damage.store(h),
    "run-directory": lambda h, a: damage.run_directory(h),
    "bad-inputs": lambda h, a: inputs.bad_inputs(h),
    "second-writer": lambda h, a: kills.second_writer(h),
    "startup-interrupt": lambda h, a: kills.startup_interrupt(h),
    "kills": lambda h, a: kills.interruptions(h, a.kills, a.ctrl_c, a.seed),
}


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.kills < 0 or a.ctrl_c < 0:
        print("error: --kills and --ctrl-c must be >= 0", file=sys.stderr)
        return 2
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="seedling-torture-"))
    h = Harness(work)
    results: list[Result] = []
    t0 = time.perf_counter()
    for name in a.only or list(CASES):
        t = time.perf_counter()
        res = CASES[name](h, a)
        res.extra["wall_s"] = round(time.perf_counter() - t, 1)
        results.append(res)
        print(f"{res.case:48s} {res.held:3d}/{res.tried:<3d} held  {_extra(res)}", flush=True)
        for note in res.notes:
            print(f"    FAILED: {note}", flush=True)
    total = sum(r.tried for r in results)
    held = sum(r.held for r in results)
    print(f"\n{held}/{total} checks held in {time.perf_counter() - t0:.0f} s (work directory {work})")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if held == total else 1


def _extra(r: Result) -> str:
    return ", ".join(f"{k} {v}" for k, v in r.extra.items())


if __name__ == "__main__":
    sys.exit(main())
