"""The Seedling GPT: a GPT-2-family decoder with TransformerLens-named hook points.

Pre-LayerNorm blocks, learned position embeddings, a 4x MLP with exact GELU, biases, dropout, a
final LayerNorm and an output head tied to the token embedding (Radford et al. 2019). Read top to
bottom: attention, MLP, block, model. Shapes use the store's dimension vocabulary:
batch (B), pos (T), head_index (nh), d_head (hs), d_model (D), d_mlp, vocab (V).

Attention has two interchangeable paths. Training uses the fused `scaled_dot_product_attention`
kernel, which never materialises the attention probabilities. When a hook is attached to
`hook_attn_scores` or `hook_pattern`, the explicit path computes them, so they can be observed;
`tests/test_model.py` holds both paths equal in outputs and gradients.

Generation can pass a `KVCache`: each layer's keys and values of the positions already seen are
kept, so the next token costs one position's work instead of the whole prefix's
(`tests/test_kv_cache.py` holds cached and full forwards equal). Training never passes one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seedling.config import ModelConfig
from seedling.hooks import HookedModule, HookPoint

__all__ = ["GPT", "KVCache"]


class KVCache:
    """Keys and values of the positions seen so far, per layer, for incremental decoding.

    `model(tokens, kv_cache=cache)` gives `tokens` the positions `cache.length, cache.length + 1,
    ...`, attends over everything cached plus themselves, stores their keys and values, and
    advances `cache.length`. Buffers hold `n_ctx` positions, allocated on first use; a sequence
    cannot grow past `n_ctx` (learned positions end there), so a caller that slides its window
    starts a fresh cache.

    >>> model = GPT(ModelConfig(n_layers=1, n_ctx=8, d_vocab=16)).eval()
    >>> cache = KVCache(model.cfg)
    >>> _ = model(torch.tensor([[1, 2, 3]]), kv_cache=cache); _ = model(torch.tensor([[4]]), kv_cache=cache)
    >>> cache.length
    4
    """

    def __init__(self, cfg: ModelConfig) -> None:
        self.capacity = cfg.n_ctx
        self.length = 0
        self.keys: list[torch.Tensor | None] = [None] * cfg.n_layers  # each (B, nh, n_ctx, hs)
        self.values: list[torch.Tensor | None] = [None] * cfg.n_layers

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions' keys and values (B, nh, T, hs); return all of them so far."""
        B, nh, T, hs = k.shape
        if self.keys[layer] is None:
            self.keys[layer] = k.new_empty(B, nh, self.capacity, hs)
            self.values[layer] = v.new_empty(B, nh, self.capacity, hs)
        end = self.length + T
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]  # (B, nh, length+T, hs)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        # One fused projection for queries, keys and values: rows [0:D] are W_Q, [D:2D] W_K,
        # [2D:3D] W_V; within each, rows [h*hs:(h+1)*hs] belong to head h.
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)  # W_O; columns by head
        self.dropout = cfg.dropout
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.resid_drop = nn.Dropout(cfg.dropout)
        self.hook_attn_scores = HookPoint()  # (B, nh, T, T) pre-softmax, masked with -inf
        self.hook_pattern = HookPoint()  # (B, nh, T, T) probabilities; rows sum to 1
        self.hook_z = HookPoint()  # (B, T, nh, hs) per-head weighted values
        self.register_buffer("causal", torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool).tril(), persistent=False)

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        start = 0  # position of the first query; keys run from 0 to start + T - 1
        if kv_cache is not None:
            start = kv_cache.length
            k, v = kv_cache.update(layer, k, v)  # (B, nh, start+T, hs)
        if self.hook_attn_scores.active or self.hook_pattern.active:
            z = self._explicit(q, k, v, start)
        else:
            p = self.dropout if self.training else 0.0
            if start == 0:
                z = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # (B, nh, T, hs)
            else:  # is_causal aligns the mask top-left, wrong when queries start past key 0
                mask = self.causal[start : start + T, : start + T]
                z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        z = self.hook_z(z.transpose(1, 2))  # (B, T, nh, hs)
        return self.resid_drop(self.out(z.reshape(B, T, D)))

    def _explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int = 0) -> torch.Tensor:
        T, S = q.size(2), k.size(2)  # S = start + T keys (S = T without a cache)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.d_head))  # (B, nh, T, S)
        scores = scores.masked_fill(~self.causal[start : start + T, :S], float("-inf"))
        scores = self.hook_attn_scores(scores)
        pattern = self.hook_pattern(F.softmax(scores, dim=-1))
        return self.attn_drop(pattern) @ v  # (B, nh, T, hs)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc_in = nn.Linear(cfg.d_model, cfg.d_mlp, bias=cfg.bias)
        self.fc_out = nn.Linear(cfg.d_mlp, cfg.d_model, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)
        self.hook_pre = HookPoint()  # (B, T, d_mlp) before GELU
        self.hook_post = HookPoint()  # (B, T, d_mlp) after GELU: the "neurons"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hook_post(F.gelu(self.hook_pre(self.fc_in(x))))  # exact (erf) GELU, not tanh
        return self.drop(self.fc_out(h))


class Block(nn.Module):
    """Pre-LN residual block: x + attn(ln1(x)), then + mlp(ln2(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps, bias=cfg.bias)
        self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x), kv_cache, layer)))
        return self.hook_resid_post(x + self.hook_mlp_out(self.mlp(self.ln2(x))))


class FinalLayerNorm(nn.LayerNorm):
    """LayerNorm with a hook on its output (`ln_final.hook_normalized`), after scale and shift."""

    def __init__(self, d: int, eps: float, bias: bool) -> None:
        super().__init__(d, eps=eps, bias=bias)
        self.hook_normalized = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_normalized(super().forward(x))


class GPT(HookedModule):
    """GPT-2-style language model. `model(tokens)` -> logits (B, T, V).

    `model(tokens, kv_cache=cache)` continues a sequence whose earlier positions are in `cache`
    (see `KVCache`); the logits are those of the new positions only.

    `model(tokens, targets)` -> (logits, loss), the mean cross-entropy in nats over targets that
    are not -1; `reduction="sum"` gives the sum instead (token-weighted gradient accumulation).
    V is `cfg.d_vocab_padded`: padded rows are never targets and learn to be improbable.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.d_vocab_padded, cfg.d_model)  # also the output head (tied)
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = FinalLayerNorm(cfg.d_model, cfg.layer_norm_eps, cfg.bias)
        self.setup_hook_names()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every weight on purpose (the original left position embeddings at zero)."""
        cfg = self.cfg
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln" in name or name.startswith("ln_final"):
                nn.init.ones_(p)
            elif name in ("wte.weight", "wpe.weight"):
                nn.init.normal_(p, std=0.005 if cfg.init == "seedling" else 0.02)
            elif cfg.init == "seedling":
                fan_out, fan_in = p.shape
                nn.init.normal_(p, std=math.sqrt(1.0 / (fan_in + fan_out)))
            else:  # gpt2: residual-stream writers scaled down by depth
                residual = name.endswith("attn.out.weight") or name.endswith("mlp.fc_out.weight")
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers) if residual else 0.02)

    def num_params(self, exclude_pos: bool = False) -> int:
        """Parameter count (tied embedding counted once); exclude_pos drops wpe (Kaplan et al.)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if exclude_pos else n

    def forward(
        self,
        tokens: torch.Tensor,
        targets: torch.Tensor | None = None,
        reduction: str = "mean",
        kv_cache: KVCache | None = None,
    ):
        B, T = tokens.shape
        start = 0 if kv_cache is None else kv_cache.length
        if start + T > self.cfg.n_ctx:
            raise ValueError(
                f"sequence length {start + T} ({start} cached + {T} new) exceeds the model's context n_ctx={self.cfg.n_ctx}"
            )
        pos = torch.arange(start, start + T, device=tokens.device)
        x = self.drop(self.hook_embed(self.wte(tokens)) + self.hook_pos_embed(self.wpe(pos)))  # (B, T, D)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache, i)
        if kv_cache is not None:
            kv_cache.length = start + T
        logits = F.linear(self.ln_final(x), self.wte.weight)  # (B, T, V)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1, reduction=reduction)
        return logits, loss
