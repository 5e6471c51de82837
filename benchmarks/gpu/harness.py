"""What the GPU benchmark's parts share: the shape, the device, the data, and real Trainers to time.

Every case drives the real training step, `seedling.train.loop.Trainer.train_step`: micro-batches
under autocast (fp16 with a GradScaler, or bf16) or in fp32, the token-weighted loss, unscaling,
the global gradient norm, the explosion guard, clipping, fused AdamW, one metrics.jsonl line.
transformers' GPT2LMHeadModel is trained by the same Trainer through `RefModel`, which gives it
our model's call, so both models meet the same loss, optimizer, scaler and clipping.

`--dry-run` runs all of it on the CPU at the tiny preset's shape: CPU autocast in fp16 with
`GradScaler("cpu")` (which skips and backs off like the CUDA one) and bf16, and torch.compile with
the "eager" backend (dynamo traces the model, nothing is code-generated: inductor's C++ build
would take minutes).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.gpu.budget import Budget
from benchmarks.gpu.peaks import DevicePeak, lookup
from seedling.config import RunConfig, apply_overrides, preset
from seedling.train.precision import native_bf16

__all__ = ["Ctx", "RefModel", "Shape", "adopt", "make_trainer", "matmul_mode", "release", "stepper", "sync", "unavailable"]

# Precision names of the benchmark -> train.precision; "tf32" is fp32 with TF32 matmuls switched on.
CONFIG_PRECISION = {"fp16": "fp16", "bf16": "bf16", "tf32": "fp32", "fp32": "fp32"}


@dataclass(frozen=True)
class Shape:
    """The model and plan measured: the seed's (on a GPU) or the tiny preset's (--dry-run)."""

    name: str
    cfg: RunConfig  # model shape and the optimizer settings of the plan
    seqs_per_step: int  # sequences per optimizer step in the plan (seed: 8 x 32): the micro-batch cap
    first_micro: int  # where the doubling search for the micro-batch starts
    numerics_steps: int
    numerics_micro: int
    max_reps: int = 7  # paired repetitions per throughput case, at most (at least 2)

    @property
    def plan_tokens(self) -> int:
        """Tokens the plan trains on: max_steps x sequences per step x context."""
        return int(self.cfg.train.max_steps) * self.seqs_per_step * self.cfg.model.n_ctx


def seedling_shape() -> Shape:
    """8 layers, d_model 512, context 1024, vocabulary 50,000 padded to 50,048; dropout off (as the reference)."""
    cfg = preset("seedling", ["model.pad_vocab_multiple=64", "model.dropout=0.0"])
    return Shape("seedling", cfg, cfg.train.micro_batch_size * cfg.train.grad_accum, 8, 200, 8)


def dry_run_shape() -> Shape:
    """The tiny preset (2 layers, d_model 128, context 128), a step of 8 sequences, 6 numerics steps, 2 repetitions."""
    return Shape("tiny (dry run)", preset("tiny", ["model.dropout=0.0"]), 8, 4, 6, 4, max_reps=2)


@dataclass
class Ctx:
    """One run's shared state: what to measure, where, under which budget, and scratch space."""

    shape: Shape
    device: torch.device
    budget: Budget
    data: Any  # seedling.data.PreparedData of the built-in corpus
    work: Path  # scratch folder for the Trainers' run directories (deleted at the end)
    dry_run: bool
    peak: DevicePeak | None = None
    compile_backend: str = "inductor"
    models: tuple[str, ...] = ("ours", "ref")  # "ref" (transformers) is left out where it is not installed
    micro: int | None = None  # the micro-batch the throughput search settled on
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def device_name(self) -> str:
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"


def device_facts(device: torch.device) -> tuple[dict[str, Any], DevicePeak | None]:
    """The device's name, capability and memory (CUDA), and its row of the peak table."""
    if device.type != "cuda":
        return {"name": "CPU", "type": "cpu"}, None
    props = torch.cuda.get_device_properties(device)
    name = torch.cuda.get_device_name(device)
    peak = lookup(name)
    return {"name": name, "type": "cuda", "capability": list(torch.cuda.get_device_capability(device)),
            "memory_gib": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda,
            "peak_entry": peak.name if peak else None,
            "peak_tflops": peak.tflops if peak else None, "peak_source": peak.source if peak else None}, peak


def unavailable(precision: str, device: torch.device) -> str | None:
    """Why `precision` cannot run on this device (None: it can)."""
    if device.type != "cuda":
        return "TF32 is a CUDA matmul mode (Ampere and newer); the CPU has none" if precision == "tf32" else None
    if precision == "bf16" and not native_bf16():  # a T4 would run bf16 emulated, without tensor cores
        return "this GPU has no native bf16 (compute capability below 8.0)"
    if precision == "tf32" and torch.cuda.get_device_capability(device)[0] < 8:
        return "TF32 needs compute capability 8.0 (Ampere) or newer"
    return None


@contextlib.contextmanager
def matmul_mode(precision: str) -> Iterator[None]:
    """TF32 matmuls on for "tf32", off otherwise (PyTorch's default for fp32 matmuls); restored after.

    Through the legacy flags on purpose: in torch 2.13 one write through the newer
    `torch.backends.cuda.matmul.fp32_precision` makes every later read of the legacy flags raise
    ("mix of the legacy and new APIs"), and inductor's cache keys still read them.
    """
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    on = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read after it covers the work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class RefModel(nn.Module):
    """transformers' GPT2LMHeadModel behind our GPT's call: (tokens, targets, reduction) -> (logits, loss).

    The loss is computed as ours computes it (logits upcast to fp32, targets -1 ignored), so the two
    models differ only in their own layers. No KV cache is built in training (use_cache=False).
    """

    def __init__(self, hf: nn.Module) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean"):
        logits = self.hf(input_ids=tokens, use_cache=False).logits  # (B, T, V)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1, reduction=reduction)
        return logits, loss


def adopt(trainer: Any, module: nn.Module) -> None:
    """Make `trainer` train `module` instead of the GPT it built: a fresh optimizer of the same build, its forward."""
    from seedling.train.optim import build_optimizer

    trainer.model = module
    trainer.optimizer = build_optimizer(module, trainer.config.train)
    trainer.forward = trainer._wrap(module)  # compiled exactly as the Trainer compiles ours under train.compile
    trainer.state.model, trainer.state.optimizer = module, trainer.optimizer


def make_trainer(ctx: Ctx, precision: str, micro: int, model: str = "ours", compiled: bool = False,
                 accum: int | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """A real Trainer of `model` ("ours" or "ref") at this micro-batch, accumulating to the plan's step."""
    from benchmarks.models import build_ref
    from seedling.train.loop import Trainer

    accum = accum if accum is not None else max(1, ctx.shape.seqs_per_step // micro)
    inductor = compiled and ctx.compile_backend == "inductor"
    cfg = apply_overrides(ctx.shape.cfg, {"train.precision": CONFIG_PRECISION[precision], "train.micro_batch_size": micro,
                                          "train.grad_accum": accum, "train.compile": inductor, **(overrides or {})})
    run_dir = Path(tempfile.mkdtemp(dir=ctx.work, prefix=f"{model}-{precision}-"))
    trainer = Trainer(cfg, run_dir, ctx.data, device=ctx.device)
    trainer._wall0 = time.perf_counter()  # what fit() sets before the first step (as benchmarks/samples_cost.py)
    if model == "ref":
        adopt(trainer, RefModel(build_ref(cfg)).to(ctx.device))
    if compiled and not inductor:
        trainer.forward = torch.compile(trainer.model, backend=ctx.compile_backend)
    return trainer


def release(trainer: Any) -> None:
    """Close the Trainer's metrics file; its tensors go when the last reference does."""
    if trainer.metrics is not None:
        trainer.metrics.close()


def stepper(trainer: Any, device: torch.device) -> Callable[[], None]:
    """One real optimizer step, returning only when the device has finished it (for timing)."""

    def step() -> None:
        trainer.train_step()
        sync(device)

    return step
