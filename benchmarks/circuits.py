"""Cost of the causal and circuit groups on the induction tour, as ratios to the tour's own training time.

Three timed commands, each the real command line in a fresh process (so each pays the same imports):

- A: the tour, `python -m seedling.train --preset tiny --data synthetic:induction` (no recording);
- R: `python -m recorders.replay RUN --what composition,logit_lens,dla,ablation` over A's kept
  checkpoints;
- B: the tour recording the same four groups inline, `--record "every=50 what=..."`.

    replay ratio = R / A   (aim: < 1, the replay costs less than the training did)
    inline overhead = (B - A) / A   (aim: < 10%)

Every command runs with one torch thread (OMP_NUM_THREADS=1). `--quick` shortens the tour to 150 steps (the ratios then say little about the real tour). One
repetition of each (a tour takes a minute or more); on a shared machine, read them as rough.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Options, Row

NAME = "circuits"
SUMMARY = "replay of the induction tour's checkpoints and inline recording at every=50, vs the tour's training time"

GROUPS = "composition,logit_lens,dla,ablation"
ROOT = Path(__file__).resolve().parents[1]


def _timed(args: list[str]) -> float:
    # One intra-op thread, as the tests' shared tour run: the tiny model gains little from two, and on a
    # loaded machine two threads wait on each other at every parallel region (10x slower at load 4).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {res.stderr[-500:]}")
    return time.perf_counter() - t0


def _train(out: Path, quick: bool, record: str | None) -> float:
    args = ["-m", "seedling.train", "--preset", "tiny", "--data", "synthetic:induction", "--out", str(out),
            "--quiet", "--device", "cpu"]
    if quick:
        args += ["--max-steps", "150"]
    if record:
        args += ["--record", record]
    return _timed(args)


def run(opts: Options) -> list[Row]:
    root = Path(tempfile.mkdtemp(prefix="bench-circuits-"))
    try:
        plain = _train(root / "plain", opts.quick, None)
        n_ckpt = len(list((root / "plain" / "checkpoints").glob("step_*.pt")))
        replay = _timed(["-m", "recorders.replay", str(root / "plain"), "--what", GROUPS, "--quiet"])
        inline = _train(root / "inline", opts.quick, f"every=50 what={GROUPS}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    case = "tour (150 steps)" if opts.quick else "tour"
    return [
        Row(case, "tour training (A)", plain, "s", note="python -m seedling.train, no recording"),
        Row(case, "replay of the kept checkpoints (R)", replay, "s", ref=plain, ratio=replay / plain,
            note=f"{n_ckpt} checkpoints, groups {GROUPS}; ratio R/A (aim < 1)"),
        Row(case, "training recording them inline every=50 (B)", inline, "s", ref=plain, ratio=(inline - plain) / plain,
            note="ratio is the overhead (B-A)/A (aim < 0.10)"),
    ]
