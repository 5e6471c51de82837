"""Shared fixtures: recorded training runs on `synthetic:induction` and `synthetic:constructs`, each trained once per test session."""

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


def _train_once(tmp_path_factory, name: str, args: list[str]) -> Path:
    """Train `python -m seedling.train ARGS --out TMP/NAME` and return the run directory."""
    if not _READY:
        pytest.skip("needs the training loop (seedling.train) and the recorders")
    out = tmp_path_factory.mktemp("e2e") / name
    cmd = [sys.executable, "-m", "seedling.train", *args, "--out", str(out)]
    # One intra-op thread: the tiny model gains little from two, and on a loaded machine two threads
    # wait on each other at every parallel region (200 steps took 195 s on 2 threads at load 4, 16 s on 1).
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1700, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def induction_run_dir(tmp_path_factory) -> Path:
    """The run directory of `python -m seedling.train` with INDUCTION_ARGS (trained once, shared)."""
    return _train_once(tmp_path_factory, "induction", INDUCTION_ARGS)


# The planted-constructs run of docs/data.md: the source's own plan, recording the constructs group.
CONSTRUCTS_ARGS = ["--preset", "tiny", "--data", "synthetic:constructs", "--record", "every=100 what=loss,constructs",
                   "--quiet", "--device", "cpu"]


@pytest.fixture(scope="session")
def constructs_run_dir(tmp_path_factory) -> Path:
    """The run directory of `python -m seedling.train` with CONSTRUCTS_ARGS (trained once, shared)."""
    return _train_once(tmp_path_factory, "constructs", CONSTRUCTS_ARGS)


@pytest.fixture(scope="session")
def circuit_run_dir(induction_run_dir, tmp_path_factory) -> Path:
    """The shared induction run with the circuit groups replayed into its store (a copy; checkpoints hard-linked)."""
    import shutil

    from recorders.replay import replay

    out = tmp_path_factory.mktemp("circuits") / "induction"
    shutil.copytree(induction_run_dir / "checkpoints", out / "checkpoints", copy_function=os.link)
    shutil.copytree(induction_run_dir, out, ignore=shutil.ignore_patterns("checkpoints"), dirs_exist_ok=True)
    replay(out)  # the groups the training did not record: logit_lens, dla, ablation
    return out
