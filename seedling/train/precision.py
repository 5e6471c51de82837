"""Numeric precision: which autocast dtype to train in and whether a GradScaler is needed.

The published Seedling run used fp16 autocast with a GradScaler on a T4 (fp16's 5-bit exponent
underflows small gradients, so the loss is multiplied by a large scale before backward and the
gradients divided by it before clipping; Micikevicius et al. 2018). GPUs with bf16 have fp32's
exponent range and need no scaler. On CPU the default is plain fp32.
"""

from __future__ import annotations

import contextlib

import torch

from seedling.config import ConfigError

__all__ = ["autocast", "make_scaler", "native_bf16", "resolve_device", "resolve_precision"]


def resolve_device(requested: str) -> torch.device:
    """'auto' -> cuda when available, else cpu. An unavailable cuda is a clear error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {requested!r} was requested but this machine has no CUDA GPU; use --device cpu")
    return torch.device(requested)


def native_bf16() -> bool:
    """True when the current GPU computes bf16 on tensor cores (compute capability 8.0, Ampere, and newer).

    Not `torch.cuda.is_bf16_supported()`'s default, which also says yes on a T4 (7.5), where bf16
    tensors exist but run emulated, without tensor cores: far slower than fp16 there.
    """
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_precision(requested: str, device: torch.device) -> str:
    """'auto' -> fp32 on CPU, bf16 on GPUs with native bf16 (Ampere and newer), fp16 otherwise (the T4)."""
    if requested != "auto":
        if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("precision bf16 was requested but this GPU does not support it; use fp16")
        return requested
    if device.type != "cuda":
        return "fp32"
    return "bf16" if native_bf16() else "fp16"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward-pass context: autocast to fp16/bf16, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (disabled it is a no-op with scale 1)."""
    return torch.amp.GradScaler(device.type, enabled=(precision == "fp16"))
