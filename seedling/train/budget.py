"""Will the config fit? A lower-bound memory estimate from the config alone, checked before anything is built.

A model of d_model 262,144 or a vocabulary of 10^9 tokens cannot be allocated; without this check
the process dies deep inside an allocator (or the tokenizer trainer aborts with a Rust backtrace)
after minutes of data preparation. The estimate counts only what training certainly holds:

    parameters P = 12 L d^2 + (V_padded + n_ctx) d           (blocks + tied embedding + positions)
    state      = 16 P bytes                                   (fp32 weights, gradients, two AdamW moments)
    activations >= B T (L * 16 d + 2 V_padded) * 2 bytes      (per-layer tensors, logits and their gradient, in fp16 at best)

with B the micro-batch and T the context. Real use is higher (attention buffers, allocator slack),
so a config refused here could never have run; one accepted may still be too large.
"""

from __future__ import annotations

import os

import torch

from seedling.config import ConfigError, RunConfig

__all__ = ["check_fits", "estimate_bytes"]


def estimate_bytes(cfg: RunConfig) -> dict[str, int]:
    """{'parameters': P, 'state': bytes, 'activations': bytes, 'total': bytes}, a lower bound (module docstring).

    >>> from seedling.config import preset
    >>> round(estimate_bytes(preset("seedling"))["parameters"] / 1e6, 1)
    51.3
    """
    m, t = cfg.model, cfg.train
    d, layers, vocab = m.d_model, m.n_layers, m.d_vocab_padded
    params = layers * (4 * d * d + 2 * d * m.d_mlp) + (vocab + m.n_ctx) * d
    state = 16 * params
    activations = t.micro_batch_size * m.n_ctx * (layers * 16 * d + 2 * vocab) * 2
    return {"parameters": params, "state": state, "activations": activations, "total": state + activations}


def available_bytes(device: torch.device) -> int:
    """Total memory of the device: the GPU's, or the machine's physical memory for the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(cfg: RunConfig, device: torch.device) -> None:
    """ConfigError with the estimate when the config certainly cannot be trained on `device`."""
    est, have = estimate_bytes(cfg), available_bytes(device)
    if est["total"] > have:
        raise ConfigError(
            f"this config needs at least {_gib(est['total'])} ({est['parameters']:,} parameters: {_gib(est['state'])} "
            f"of weights, gradients and optimizer state; {_gib(est['activations'])} of activations per micro-batch) "
            f"but {device} has {_gib(have)}; lower model.d_model, model.d_vocab, model.n_layers or "
            "train.micro_batch_size")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"
