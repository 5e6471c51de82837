"""Shared fixtures: one recorded training run on `synthetic:induction`, trained once per test session."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

_READY = all(importlib.util.find_spec(m) is not None for m in ("seedling.train", "recorders.recorder"))

# The command README promises forms an induction head with its default settings: no --set flags.
INDUCTION_ARGS = ["--preset", "tiny", "--data", "synthetic:induction", "--record", "every=10", "--quiet",
                  "--device", "cpu"]


@pytest.fixture(scope="session")
def induction_run_dir(tmp_path_factory) -> Path:
    """The run directory of `python -m seedling.train` with INDUCTION_ARGS (trained once, shared)."""
    if not _READY:
        pytest.skip("needs the training loop (seedling.train) and the recorders")
    out = tmp_path_factory.mktemp("e2e") / "induction"
    cmd = [sys.executable, "-m", "seedling.train", *INDUCTION_ARGS, "--out", str(out)]
    # One intra-op thread: the tiny model gains little from two, and on a loaded machine two threads
    # wait on each other at every parallel region (200 steps took 195 s on 2 threads at load 4, 16 s on 1).
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1700, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


# The planted-constructs run of docs/data.md: the source's own plan, recording the constructs group.
CONSTRUCTS_ARGS = ["--preset", "tiny", "--data", "synthetic:constructs", "--record", "every=100 what=loss,constructs",
                   "--quiet", "--device", "cpu"]


@pytest.fixture(scope="session")
def constructs_run_dir(tmp_path_factory) -> Path:
    """The run directory of `python -m seedling.train` with CONSTRUCTS_ARGS (trained once, shared)."""
    if not _READY:
        pytest.skip("needs the training loop (seedling.train) and the recorders")
    out = tmp_path_factory.mktemp("e2e") / "constructs"
    cmd = [sys.executable, "-m", "seedling.train", *CONSTRUCTS_ARGS, "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1700, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    return out
