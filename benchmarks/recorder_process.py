"""Recording cost as a user meets it: whole `python -m seedling.train` processes, with and without `--record`.

Two cases, each run as separate processes alternating A B B A (A = `--record off`, B = recording):
- the induction tour (`--preset tiny --data synthetic:induction`, 1,500 steps) at `every=10`;
- 300 steps of the tiny preset on the built-in corpus at `every=50`.
The overhead is (wall_B - wall_A) / wall_A, paired by repetition (target for the tour: at most 10%).
The fixed start-up cost (probe, store creation, the stimulus set written: `Recorder.on_train_start`)
is timed directly in-process, median of several (target: under 0.5 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Options, Row, median

TOUR = ("--preset", "tiny", "--data", "synthetic:induction")
TINY_300 = ("--preset", "tiny", "--max-steps", "300")
TINY_1 = ("--preset", "tiny", "--max-steps", "1")


def _train(args: tuple[str, ...], record: str, root: Path, threads: int | None) -> float:
    """Wall seconds of one training process (a fresh run directory, quiet, no samples)."""
    out = Path(tempfile.mkdtemp(dir=root))
    cmd = [sys.executable, "-m", "seedling.train", *args, "--out", str(out / "run"), "--record", record,
           "--samples", "off", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return wall


def ab(args: tuple[str, ...], record: str, reps: int, threads: int | None) -> tuple[list[float], list[float]]:
    """(walls without, walls with) recording, alternating A B B A so that a drift in load hits both arms."""
    root = Path(tempfile.mkdtemp(prefix="bench-recproc-"))
    a, b = [], []
    try:
        for r in range(reps):
            for arm in ("A", "B") if r % 2 == 0 else ("B", "A"):
                if arm == "A":
                    a.append(_train(args, "off", root, threads))
                else:
                    b.append(_train(args, record, root, threads))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return a, b


def startup_seconds(n: int = 5) -> float:
    """Median seconds of `Recorder.on_train_start` on the tiny preset: probe, store creation, stimulus set."""
    from types import SimpleNamespace

    import torch

    from recorders import Recorder
    from seedling.config import preset
    from seedling.model import GPT

    cfg = preset("tiny")
    torch.manual_seed(0)
    model = GPT(cfg.model)
    times = []
    root = Path(tempfile.mkdtemp(prefix="bench-recstart-"))
    try:
        for i in range(n + 1):  # the first pays for imports: left out
            rec = Recorder("every=100", root / f"r{i}")
            # step 1, as a resumed run: no step-0 record is taken, so this is the start-up alone.
            state = SimpleNamespace(model=model, config=cfg, step=1, is_main=True, tokenizer=None)
            t0 = time.perf_counter()
            rec.on_train_start(state)
            rec.writer.flush(wait=True)
            elapsed = time.perf_counter() - t0
            rec.on_train_end(state)
            if i:
                times.append(elapsed)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return median(times)


def process_rows(opts: Options) -> list[Row]:
    reps = opts.reps(2)
    rows = []
    for label, args, record, target in (("induction tour, 1,500 steps", TOUR, "every=10", 0.10),
                                        ("tiny, 300 steps", TINY_300, "every=50", None)):
        a, b = ab(args, record, reps, opts.threads)
        overhead = median([(y - x) / x for x, y in zip(a, b)])
        note = f"{record} vs --record off, {len(a)} A/B pairs of processes; A {median(a):.1f} s, B {median(b):.1f} s"
        rows.append(Row(label, f"wall overhead of recording ({record})", overhead, "fraction of wall",
                        note=note + (f"; target <= {target:.0%}" if target else ""), samples={"A": a, "B": b}))
    start = startup_seconds()
    rows.append(Row("tiny, Recorder.on_train_start", "fixed start-up cost (in process)", start, "s",
                    note="probe, store creation, stimulus set written and flushed; target < 0.5 s"))
    a, b = ab(TINY_1, "every=100", reps, opts.threads)
    rows.append(Row("tiny, 1 step", "fixed start-up cost (whole process)", median([y - x for x, y in zip(a, b)]), "s",
                    note="wall of a 1-step run recording every=100 (imports, store, the step-0 record) minus --record off; "
                         f"A {median(a):.1f} s, B {median(b):.1f} s", samples={"A": a, "B": b}))
    return rows
