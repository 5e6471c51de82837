"""What the loop shares with its subscribers and its entry: the events, `TrainState`, the plan's length.

Also the small pieces of process plumbing the loop uses: seeding, Ctrl-C handling, peak memory.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seedling.config import ConfigError, RunConfig

__all__ = ["EVENTS", "MAX_ROLLBACKS", "RESUME_FREE_FIELDS", "SecondInterrupt", "TrainState", "TrainingDiverged",
           "peak_memory_mb", "plan_steps", "seed_everything", "stop_on_signals"]

log = logging.getLogger("seedling.train")

EVENTS = ("on_train_start", "on_after_backward", "on_step_end", "on_eval", "on_checkpoint", "on_train_end")
# Fields a resumed run may change: they decide when to evaluate or save, not what is computed.
RESUME_FREE_FIELDS = ("train.device", "train.compile", "train.eval_every", "train.eval_batches",
                      "train.checkpoint_every", "train.keep_last", "train.keep_grid", "train.log_checkpoints",
                      "train.bad_step_patience", "train.rollback_lr_factor")
MAX_ROLLBACKS = 10


class TrainingDiverged(RuntimeError):
    """The guard ran out of options: no good checkpoint to return to, or too many rollbacks."""


class SecondInterrupt(KeyboardInterrupt):
    """A second Ctrl-C while the loop was already stopping: abort at once (the last checkpoint is intact).

    Its own class so the entry can tell it from a Ctrl-C during start-up, before the loop listened."""


@dataclass
class TrainState:
    """What subscribers see. `step` counts completed optimizer steps."""

    step: int = 0
    tokens: int = 0
    loss: float = math.nan  # mean train loss of the step, nats
    lr: float = 0.0
    grad_norm: float = math.nan  # global L2 norm of the unscaled gradient, before clipping
    grad_norm_clipped: float = math.nan
    loss_scale: float = 1.0
    skipped: bool = False
    model: nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None
    config: RunConfig | None = None
    run_dir: Path | None = None
    tokenizer: Any = None
    device: torch.device | None = None
    is_main: bool = True
    resumed: bool = False
    elapsed: float = 0.0


def plan_steps(cfg: RunConfig, n_train_sequences: int, world_size: int = 1) -> int:
    """The plan's length in optimizer steps: max_steps, else max_tokens, else epochs."""
    t = cfg.train
    seqs_per_step = t.micro_batch_size * t.grad_accum * world_size
    if t.max_steps is not None:
        return t.max_steps
    if t.max_tokens is not None:
        return max(1, math.ceil(t.max_tokens / (seqs_per_step * cfg.model.n_ctx)))
    if t.epochs is not None:
        return max(1, math.ceil(t.epochs * n_train_sequences / seqs_per_step))
    raise ConfigError("the plan has no length: set train.max_steps, train.max_tokens or train.epochs")


@contextlib.contextmanager
def stop_on_signals(trainer: Any) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM) sets `trainer.stop_requested`: the loop finishes the current
    step, saves and stops. A second one aborts at once (SecondInterrupt)."""
    def handler(signum: int, frame: Any) -> None:
        if trainer.stop_requested:
            raise SecondInterrupt
        trainer.stop_requested = True
        log.warning("%s received: finishing this step, then saving a checkpoint (press again to abort)",
                    signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
