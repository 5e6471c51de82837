"""The optimizer and the learning-rate plan: AdamW parameter groups, warmup then cosine decay.

The schedule is a pure function of the step number and the run's plan (`Schedule`), so a resumed
run continues exactly the same curve: nothing about it lives only in memory.

>>> s = Schedule(lr=1e-3, min_lr=1e-4, warmup_steps=10, total_steps=110)
>>> round(lr_at(5, s), 6), round(lr_at(10, s), 6), round(lr_at(110, s), 6)
(0.0005, 0.001, 0.0001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from seedling.config import TrainConfig

__all__ = ["Schedule", "build_optimizer", "lr_at", "param_groups"]


def param_groups(model: nn.Module, weight_decay: float, decay_all: bool) -> list[dict]:
    """AdamW parameter groups. With decay_all=False, biases, LayerNorm gains and embeddings get no
    weight decay (they are not weight matrices whose norm decay should pull towards zero;
    Loshchilov & Hutter 2019, and nanoGPT's practice). The tied output head is the embedding, so
    it follows the embedding's group."""
    if decay_all:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.dim() < 2 or name in ("wte.weight", "wpe.weight")
        (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with the run's lr, betas, eps and weight decay (seedling: 1e-4, (0.9, 0.95), 1e-8, 0.01)."""
    groups = param_groups(model, cfg.weight_decay, cfg.decay_all)
    # fused=True: one kernel per parameter group instead of parameter-sized temporaries per step
    # (+7% to +35% training throughput here, benchmarks/RESULTS.md); it is deterministic, so resume
    # stays bit for bit (tests/test_train_cli.py).
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=True)


@dataclass(frozen=True)
class Schedule:
    """The learning-rate plan of a run: linear warmup to `lr`, then cosine decay to `min_lr` at
    `total_steps` (optionally in `restarts + 1` cycles, SGDR: Loshchilov & Hutter 2017).
    `scale` multiplies the whole curve; the explosion guard lowers it after a rollback."""

    lr: float
    min_lr: float
    warmup_steps: int
    total_steps: int
    kind: str = "cosine"  # cosine | constant
    restarts: int = 0
    scale: float = 1.0

    @classmethod
    def from_config(cls, cfg: TrainConfig, total_steps: int, scale: float = 1.0) -> Schedule:
        return cls(cfg.lr, cfg.min_lr, cfg.warmup_steps, total_steps, cfg.schedule, cfg.restarts, scale)


def lr_at(step: int, s: Schedule) -> float:
    """Learning rate for optimizer step number `step` (1-based: the first update uses lr_at(1)).

    warmup:  lr * step / warmup_steps                          for step <= warmup_steps
    cosine:  min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2     p = cycle progress in [0, 1]
    after total_steps the rate stays at min_lr.
    """
    if s.warmup_steps > 0 and step <= s.warmup_steps:
        return s.scale * s.lr * step / s.warmup_steps
    if s.kind == "constant":
        return s.scale * s.lr
    span = max(1, s.total_steps - s.warmup_steps)
    progress = (step - s.warmup_steps) / span
    if progress >= 1.0:
        return s.scale * s.min_lr
    cycles = s.restarts + 1
    p = (progress * cycles) % 1.0
    return s.scale * (s.min_lr + 0.5 * (s.lr - s.min_lr) * (1.0 + math.cos(math.pi * p)))
