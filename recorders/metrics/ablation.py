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
    with `null`, `null_effect` (B, layer, head_index); all in nats, float32 on the CPU. One
    forward per head (and one more per head for the null). Call in eval mode.
    """
    if mode not in MODES:
        raise ValueError(f"ablation mode {mode!r} is not one of {', '.join(MODES)}")
    cfg = model.cfg
    if positions is not None:
        positions = positions.to(tokens.device)
    z_clean: dict[int, torch.Tensor] = {}

    def keep_z(z: torch.Tensor, name: str) -> None:
        z_clean[int(name.split(".")[1])] = z.detach()  # (B, T, nh, hs)

    def loss_of(hooks) -> torch.Tensor:
        with model.hooks(hooks):
            return item_loss(token_nll(model(tokens), tokens), positions).cpu()

    with torch.no_grad():
        clean = loss_of([(lambda n: n.endswith("attn.hook_z"), keep_z)])
        shape = (tokens.size(0), cfg.n_layers, cfg.n_heads)
        effect = torch.zeros(shape)
        null_effect = torch.zeros(shape)
        for layer in range(cfg.n_layers):
            z = z_clean[layer]
            fill = z.mean((0, 1)) if mode == "mean" else torch.zeros_like(z[0, 0])  # (nh, hs)
            w_o = model.blocks[layer].attn.out.weight.view(cfg.d_model, cfg.n_heads, cfg.d_head)  # (D, nh, hs)
            for head in range(cfg.n_heads):
                effect[:, layer, head] = loss_of([(f"blocks.{layer}.attn.hook_z", _replace(head, fill[head]))]) - clean
                if null:
                    delta = (fill[head] - z[:, :, head]) @ w_o[:, head].T  # (B, T, D): what the ablation moves
                    push = _random_like(delta, seed, layer, head)
                    null_effect[:, layer, head] = loss_of([(f"blocks.{layer}.hook_attn_out", _add(push))]) - clean
    out = {"clean": clean, "effect": effect}
    if null:
        out["null_effect"] = null_effect
    return out


def _replace(head: int, value: torch.Tensor):
    def hook(z: torch.Tensor, name: str) -> torch.Tensor:
        z = z.clone()
        z[:, :, head] = value
        return z

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
