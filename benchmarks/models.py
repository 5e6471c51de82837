"""The model sizes the suite measures, our GPT and its Hugging Face twin, and one training step of each.

The reference is `transformers.GPT2LMHeadModel`, the implementation a user would otherwise pick,
built from the same shape (layers, heads, width, context, padded vocabulary), exact-erf GELU, the
same LayerNorm epsilon, tied embeddings and no dropout. Both models train with the same
`torch.optim.AdamW` hyper-parameters from the preset, in fp32, on the CPU.

A training step is: forward with loss, backward, gradient clipping at the preset's max-norm,
optimizer step, zero the gradients. Tokens per step are micro_batch x n_ctx.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from seedling.config import RunConfig, preset

__all__ = ["SIZES", "Size", "build_ours", "build_ref", "flops_per_token", "make_batch", "make_step"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Size:
    """A benchmarked model: a preset with overrides and the micro-batch used on the CPU."""

    name: str
    preset: str
    overrides: tuple[str, ...]
    batch: int
    quick_batch: int

    def config(self) -> RunConfig:
        # Dropout off for ours as for the reference (Hugging Face twin built with p=0): same model.
        return preset(self.preset, [*self.overrides, "model.dropout=0.0"])


SIZES: dict[str, Size] = {
    "tiny": Size("tiny", "tiny", (), batch=16, quick_batch=2),
    # The middle size: 4 layers, d_model 256, context 256 on the tiny vocabulary.
    "mid": Size("mid", "tiny", ("model.n_layers=4", "model.d_model=256", "model.n_ctx=256"), batch=4, quick_batch=2),
    # The published model at full context; micro-batch 1 (not 8) so that a CPU step takes seconds.
    "seedling": Size("seedling", "seedling", (), batch=1, quick_batch=1),
}


def build_ours(cfg: RunConfig) -> torch.nn.Module:
    from seedling.model import GPT

    torch.manual_seed(0)
    return GPT(cfg.model)


def build_ref(cfg: RunConfig) -> torch.nn.Module:
    """transformers' GPT2LMHeadModel with our shape; attention is its default (SDPA in 4.4x-5.x)."""
    import transformers

    transformers.logging.set_verbosity_error()
    m = cfg.model
    hf = transformers.GPT2Config(
        n_layer=m.n_layers, n_head=m.n_heads, n_embd=m.d_model, n_positions=m.n_ctx,
        vocab_size=m.d_vocab_padded, n_inner=m.d_mlp, activation_function="gelu",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=m.layer_norm_eps,
        bos_token_id=0, eos_token_id=0, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(hf)
    model.train()
    return model


def ref_attention(model: torch.nn.Module) -> str:
    return str(getattr(model.config, "_attn_implementation", "unknown"))


def make_batch(cfg: RunConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, cfg.model.d_vocab, (batch, cfg.model.n_ctx), generator=g)
    return x, torch.roll(x, -1, dims=1)


def make_optimizer(model: torch.nn.Module, cfg: RunConfig, fused: bool | None = None) -> torch.optim.Optimizer:
    t = cfg.train
    return torch.optim.AdamW(
        model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps, weight_decay=t.weight_decay, fused=fused
    )


def make_step(
    model: torch.nn.Module, cfg: RunConfig, batch: int, kind: str, fused: bool | None = None
) -> Callable[[], float]:
    """A closure that runs one training step and returns the loss; `kind` is "ours" or "ref"."""
    x, y = make_batch(cfg, batch)
    opt = make_optimizer(model, cfg, fused=fused)
    params = [p for p in model.parameters()]
    clip = cfg.train.grad_clip
    model.train()

    def step() -> float:
        if kind == "ref":
            loss = model(input_ids=x, labels=x).loss  # shifts labels inside: the same next-token task
        else:
            _, loss = model(x, y)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def flops_per_token(cfg: RunConfig) -> float:
    """Training FLOPs per token: 6 N + 12 L T D (Kaplan et al. 2020, eq. 2.1; PaLM appendix B).

    N counts the weight matrices that take part in matmuls: qkv, out, fc_in, fc_out in every layer
    and the tied token embedding as the output head (the position embedding, biases and LayerNorm
    gains do no matmul). The attention term 12 L T D counts QK^T and the
    weighted sum over all T key positions, forward and backward (the causal half is not discounted,
    as in PaLM's MFU). Units: FLOP per token.
    """
    m = cfg.model
    d_vocab = m.d_vocab_padded
    per_layer = 4 * m.d_model * m.d_model + 2 * m.d_model * m.d_mlp  # qkv + out, fc_in + fc_out weights
    n = m.n_layers * per_layer + d_vocab * m.d_model
    return 6.0 * n + 12.0 * m.n_layers * m.n_ctx * m.d_model
