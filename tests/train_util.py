"""Shared by the training tests: tiny shapes, a synthetic corpus, and a way to run the real command."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# One layer, 32-dim, context 32, on the synthetic bigram corpus (vocab 256 + EOT): a step takes
# milliseconds. Dropout is on so that exact resume also has to restore the RNG.
TINY = [
    "model.n_layers=1", "model.n_heads=2", "model.d_model=32", "model.n_ctx=32", "model.d_vocab=260",
    "model.dropout=0.1", "train.micro_batch_size=4", "train.grad_accum=2", "train.warmup_steps=4",
    "train.lr=3e-3", "train.min_lr=3e-4", "train.eval_every=5", "train.eval_batches=2",
    "train.checkpoint_every=5", "data.source=synthetic:bigram",
]


@contextlib.contextmanager
def one_thread():
    """Tiny matrices: on a busy machine extra intra-op threads only wait for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_config(extra: list[str] | None = None):
    from seedling.config import preset

    return preset("tiny", TINY + (extra or []))


def cli_args(out: Path, steps: int, extra: list[str] | None = None) -> list[str]:
    args = [sys.executable, "-m", "seedling.train", "--out", str(out), "--max-steps", str(steps), "--quiet"]
    for s in TINY + (extra or []):
        args += ["--set", s]
    return args


def env(cache: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update({"SEEDLING_CACHE": str(cache), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    return e


def run_cli(args: list[str], cache: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env(cache), capture_output=True, text=True, timeout=timeout)
