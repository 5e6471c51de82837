"""kill -9 a recording training run at random moments (also during store and checkpoint writes), resume, compare.

After each kill the same command resumes from the newest checkpoint; the store is cut back to it.
At the end every group must hold each recorded step exactly once, strictly increasing, with the
values of an uninterrupted run (the loop resumes exactly, and the probe forwards are deterministic).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from recorders.spec import GROUPS
from tests.train_util import REPO, cli_args, env, run_cli
from workbench.store import read_group as committed_dataset

STEPS = 20
EXTRA = ["model.n_layers=2", "train.checkpoint_every=4", "train.eval_every=1000"]
RECORD = ["--record", "every=1 probe=2 probe_len=16 sample=4"]


def newest_mtime(folder: Path) -> float:
    latest = 0.0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                latest = max(latest, os.stat(os.path.join(root, f)).st_mtime)
            except FileNotFoundError:  # renamed away while we looked
                pass
    return latest


def steps_done(run_dir: Path) -> int:
    """The last step the run reported in metrics.jsonl (0 before the first)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [json.loads(line)["step"] for line in lines if '"event": "step"' in line and line.endswith("}")]
    return steps[-1] if steps else 0


def kill_when(proc: subprocess.Popen, run_dir: Path, after: int, moment: str, rng: random.Random) -> bool:
    """Once the run is past step `after`, wait for `moment` ("step": a random time after a new
    step; "checkpoint": a checkpoint's temporary file exists; "store": a file of the store has
    just changed), then kill -9. Returns False when the run finished first."""
    ckpts, store = run_dir / "checkpoints", run_dir / "records.zarr"
    deadline = time.monotonic() + 240
    while proc.poll() is None and steps_done(run_dir) < after and time.monotonic() < deadline:
        time.sleep(0.01)
    start_steps, start_store = steps_done(run_dir), newest_mtime(store)
    while proc.poll() is None and time.monotonic() < deadline:
        if moment == "step" and steps_done(run_dir) > start_steps:
            time.sleep(rng.uniform(0, 0.3))
            break
        if moment == "checkpoint" and ckpts.is_dir() and any(p.name.endswith(".tmp") for p in ckpts.iterdir()):
            break
        if moment == "store" and newest_mtime(store) > start_store:
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.slow
def test_kill9_at_random_moments_then_resume_gives_the_uninterrupted_store(tmp_path):
    cache = tmp_path / "cache"
    ref = run_cli(cli_args(tmp_path / "ref", STEPS, EXTRA) + RECORD, cache, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]

    run_dir = tmp_path / "killed"
    args = cli_args(run_dir, STEPS, EXTRA) + RECORD
    rng = random.Random(7)
    kills = []
    # Armed after steps 2, 6, 10 and 14, so the kills spread over the run; with every=1 and
    # checkpoints every 4 steps the store writes its blocks in the flush before each checkpoint.
    for i, (after, moment) in enumerate([(2, "store"), (6, "checkpoint"), (10, "step"), (14, "store"), (0, None)]):
        with open(tmp_path / f"stderr{i}.txt", "w") as err:
            proc = subprocess.Popen(args, cwd=REPO, env=env(cache), stdout=subprocess.DEVNULL, stderr=err)
            if moment is None:  # the last run goes to the end
                assert proc.wait(timeout=300) == 0, (tmp_path / f"stderr{i}.txt").read_text()[-2000:]
            elif kill_when(proc, run_dir, after, moment, rng):
                kills.append((moment, steps_done(run_dir)))
            else:
                break
    assert len(kills) >= 3 and max(step for _, step in kills) >= 10, f"too few kills, or all early: {kills}"

    for group in GROUPS:
        want = committed_dataset(tmp_path / "ref" / "records.zarr", group)
        got = committed_dataset(run_dir / "records.zarr", group)
        steps = got["step"].values
        assert np.all(np.diff(steps) > 0), (group, steps, kills)
        np.testing.assert_array_equal(steps, want["step"].values, err_msg=f"{group} after kills {kills}")
        for var in want.data_vars:
            np.testing.assert_array_equal(got[var].values, want[var].values, err_msg=f"{group}/{var} after {kills}")
    expected = [0] + list(range(1, STEPS + 1))
    assert committed_dataset(run_dir / "records.zarr", "loss")["step"].values.tolist() == expected
