"""Head ablation: how much the loss depends on one head's output, with a random-direction null.

Mean-ablation of head (l, h) replaces its output `z[b, t, h, :]` (hook `blocks.l.attn.hook_z`,
before W_O) by its mean over the batch items and positions of the same forward, and runs the
rest of the model unchanged; zero-ablation replaces it by 0. The effect is the change in
next-token loss, per item:

    effect[b, l, h] = loss_b(ablated l, h) - loss_b(clean)        (nats; > 0: the model needs it)

The null: ablation moves the residual stream at each position by `delta_t = (z_mean - z_t) W_O^h`.
Adding instead a random direction of the same norm, `||delta_t|| r_t / ||r_t||` with r_t
Gaussian (seeded per head), to the same layer's attention output gives the change a perturbation
of that size causes when it carries no particular information: a head's effect means something
only when it exceeds this null.

Wang et al. 2022 ("Interpretability in the Wild", IOI) for mean-ablation; Olsson et al. 2022 for
ablations across training. Marr level: algorithmic (which heads the behaviour depends on).
"""

from __future__ import annotations

import torch

from recorders.metrics.nll import item_loss, token_nll

__all__ = ["MODES", "head_ablation"]

MODES = ("mean", "zero")
LOGIT_BUDGET = 2**26  # logits per forward (256 MiB in float32): bounds how many heads share one forward


def head_ablation(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    positions: torch.Tensor | None = None,
    mode: str = "mean",
    null: bool = True,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Per-item loss changes of ablating each head, on `tokens` (B, T), over the predictions in `positions`.

    Returns `clean` (B,), the loss of the unchanged model; `effect` (B, layer, head_index) and,
    with `null`, `null_effect` (B, layer, head_index); all in nats, float32 on the CPU. Each head
    costs one forward of the batch (and one more for the null), several heads sharing a forward
    while their logits fit LOGIT_BUDGET. Call in eval mode.
    """
    if mode not in MODES:
        raise ValueError(f"ablation mode {mode!r} is not one of {', '.join(MODES)}")
    cfg = model.cfg
    if positions is not None:
        positions = positions.to(tokens.device)
    z_clean: dict[int, torch.Tensor] = {}

    def keep_z(z: torch.Tensor, name: str) -> None:
        z_clean[int(name.split(".")[1])] = z.detach()  # (B, T, nh, hs)

    def loss_of(hooks, copies: int = 1) -> torch.Tensor:  # (copies, B): `copies` stacked copies of the batch
        batch = tokens.repeat(copies, 1)
        with model.hooks(hooks):
            return item_loss(token_nll(model(batch), batch), positions).cpu().view(copies, -1)

    # Heads of one layer are ablated side by side, each in its own copy of the batch: one forward per
    # layer-chunk instead of one per head (the tiny model's cost is mostly per forward, not per token).
    # A chunk's logits (copies x B x T x vocab floats) stay within LOGIT_BUDGET.
    per_copy = tokens.numel() * model.wte.weight.size(0)
    chunk = max(1, min(cfg.n_heads, LOGIT_BUDGET // max(per_copy, 1)))
    with torch.no_grad():
        clean = loss_of([(lambda n: n.endswith("attn.hook_z"), keep_z)])[0]
        shape = (tokens.size(0), cfg.n_layers, cfg.n_heads)
        effect = torch.zeros(shape)
        null_effect = torch.zeros(shape)
        for layer in range(cfg.n_layers):
            z = z_clean[layer]
            fill = z.mean((0, 1)) if mode == "mean" else torch.zeros_like(z[0, 0])  # (nh, hs)
            w_o = model.blocks[layer].attn.out.weight.view(cfg.d_model, cfg.n_heads, cfg.d_head)  # (D, nh, hs)
            for first in range(0, cfg.n_heads, chunk):
                heads = list(range(first, min(first + chunk, cfg.n_heads)))
                hook = (f"blocks.{layer}.attn.hook_z", _replace(heads, fill))
                effect[:, layer, heads] = (loss_of([hook], len(heads)) - clean).T
                if null:
                    # what each ablation moves the residual by, (B, T, D) per head, replaced by a random push
                    push = torch.cat([_random_like((fill[h] - z[:, :, h]) @ w_o[:, h].T, seed, layer, h) for h in heads])
                    hook = (f"blocks.{layer}.hook_attn_out", _add(push))
                    null_effect[:, layer, heads] = (loss_of([hook], len(heads)) - clean).T
    out = {"clean": clean, "effect": effect}
    if null:
        out["null_effect"] = null_effect
    return out


def _replace(heads: list[int], fill: torch.Tensor):
    """In copy j of the batch, head heads[j]'s output becomes fill[heads[j]] (hs,) at every item and position."""
    def hook(z: torch.Tensor, name: str) -> torch.Tensor:
        z = z.clone().view(len(heads), -1, *z.shape[1:])  # (copies, B, T, nh, hs)
        for j, h in enumerate(heads):
            z[j, :, :, h] = fill[h]
        return z.flatten(0, 1)

    return hook


def _add(push: torch.Tensor):
    def hook(x: torch.Tensor, name: str) -> torch.Tensor:
        return x + push

    return hook


def _random_like(delta: torch.Tensor, seed: int, layer: int, head: int) -> torch.Tensor:
    """A Gaussian direction per position, scaled to `||delta_t||`; seeded per (seed, layer, head), CPU-generated."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + layer * 1009 + head)
    r = torch.randn(delta.shape, generator=g, dtype=torch.float32).to(delta.device, delta.dtype)
    return r / r.norm(dim=-1, keepdim=True) * delta.norm(dim=-1, keepdim=True)
