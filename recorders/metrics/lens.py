"""Where the prediction is formed: the logit lens per layer, and each head's direct logit attribution.

Both read the residual stream through the model's own output path, `ln_final` then the tied
unembedding `W_U = wte.weight` (V x D). Marr level: algorithmic (at which layer, and through
which heads, the next-token prediction is written).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recorders.metrics.nll import item_loss, token_nll

__all__ = ["logit_lens", "direct_logit_attribution"]


def logit_lens(model: torch.nn.Module, tokens: torch.Tensor, positions: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Loss and KL per item and layer when the residual after each block is read out as if it were the last.

    `logits_l = ln_final(resid_post_l) W_U^T`; `loss` (B, layer): mean next-token cross-entropy of
    logits_l over the predictions in `positions` (nats); `kl` (B, layer): mean over the same
    predictions of `KL(p_final || p_l) = sum_v p_final ln(p_final / p_l)` (nats), where p_final is
    the model's own output distribution. At the last layer `loss` is the model's loss and `kl` is 0.
    nostalgebraist 2020, "interpreting GPT: the logit lens". Call in eval mode.
    """
    resid: dict[int, torch.Tensor] = {}

    def keep(x: torch.Tensor, name: str) -> None:
        resid[int(name.split(".")[1])] = x.detach()

    with torch.no_grad(), model.hooks([(lambda n: n.endswith("hook_resid_post"), keep)]):
        final = model(tokens)
    if positions is not None:
        positions = positions.to(tokens.device)
    losses, kls = [], []
    with torch.no_grad():
        for b in range(tokens.size(0)):  # one item at a time: (T, V) logits per layer, not (B, T, V)
            log_p_final = F.log_softmax(final[b : b + 1, :-1].float(), -1)
            item_l, item_kl = [], []
            for layer in sorted(resid):
                logits = F.linear(model.ln_final(resid[layer][b : b + 1]), model.wte.weight)  # (1, T, V)
                item_l.append(item_loss(token_nll(logits, tokens[b : b + 1]), positions))
                log_p = F.log_softmax(logits[:, :-1].float(), -1)
                kl = (log_p_final.exp() * (log_p_final - log_p)).sum(-1)  # (1, T-1)
                item_kl.append(item_loss(kl, positions))
            losses.append(torch.cat(item_l))
            kls.append(torch.cat(item_kl))
    return {"loss": torch.stack(losses).cpu(), "kl": torch.stack(kls).cpu()}


def direct_logit_attribution(model: torch.nn.Module, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each residual component's direct contribution to the correct next-token logit, per prediction.

    With x the final residual at position t, `sigma_t = sqrt(var(x_t) + eps)` (the final
    LayerNorm's scale, frozen at its value on the full residual), gamma and beta the LayerNorm's
    gain and bias, and u = W_U[token t+1], a component c_t that the residual is the sum of
    contributes `((c_t - mean(c_t)) / sigma_t) . (gamma * u)`. Returned, each (B, T-1, ...) in
    logit units (nats of unnormalised log-probability):

    - `heads` (B, T-1, layer, head_index): head h of layer l writes `z_h W_O^h`;
    - `attn_bias` and `mlp` (B, T-1, layer); `embed` and `pos_embed` (B, T-1);
    - `ln_bias` (B, T-1): `beta . u`, the LayerNorm's bias term,

    and they sum to the model's logit of the correct token exactly (dropout off). Elhage et al.
    2021 (direct path); Wang et al. 2022 (logit attribution). Call in eval mode.
    """
    cfg = model.cfg
    seen: dict[str, torch.Tensor] = {}

    def keep(x: torch.Tensor, name: str) -> None:
        seen[name] = x.detach()

    names = ("hook_embed", "hook_pos_embed", "attn.hook_z", "hook_mlp_out", "hook_resid_post")
    with torch.no_grad(), model.hooks([(lambda n: n.endswith(names), keep)]):
        model(tokens)
    last = f"blocks.{cfg.n_layers - 1}.hook_resid_post"
    x = seen[last][:, :-1].double()  # (B, T-1, D)
    ln = model.ln_final
    sigma = (x.var(-1, unbiased=False, keepdim=True) + ln.eps).sqrt()  # (B, T-1, 1)
    u = model.wte.weight.detach().double()[tokens[:, 1:]]  # (B, T-1, D)
    gu = u * ln.weight.detach().double()
    read = (gu - gu.mean(-1, keepdim=True)) / sigma  # c . read == ((c - mean c) / sigma) . (gamma u)

    def direct(c: torch.Tensor) -> torch.Tensor:  # (B, T, ..., D) -> (B, T-1, ...)
        c = c[:, :-1].double()
        extra = c.dim() - read.dim()
        return (c * read.view(*read.shape[:2], *([1] * extra), -1)).sum(-1)

    def full(v: torch.Tensor) -> torch.Tensor:  # a per-position (T, D) or constant (D,) write, for every item
        return v.detach().expand(tokens.size(0), tokens.size(1), -1)

    heads, bias, mlp = [], [], []
    for layer in range(cfg.n_layers):
        attn = model.blocks[layer].attn
        w_o = attn.out.weight.detach().double().view(cfg.d_model, cfg.n_heads, cfg.d_head)  # (D, nh, hs)
        z = seen[f"blocks.{layer}.attn.hook_z"].double()  # (B, T, nh, hs)
        heads.append(direct(torch.einsum("btnk,dnk->btnd", z, w_o)))
        b = attn.out.bias
        bias.append(direct(full(b)) if b is not None else torch.zeros(x.shape[:2], dtype=torch.float64))
        mlp.append(direct(seen[f"blocks.{layer}.hook_mlp_out"]))
    ln_bias = (u * ln.bias.detach().double()).sum(-1) if ln.bias is not None else torch.zeros(x.shape[:2], dtype=torch.float64)
    return {
        "heads": torch.stack(heads, 2).cpu(),
        "attn_bias": torch.stack(bias, 2).cpu(),
        "mlp": torch.stack(mlp, 2).cpu(),
        "embed": direct(seen["hook_embed"]).cpu(),
        "pos_embed": direct(full(seen["hook_pos_embed"])).cpu(),
        "ln_bias": ln_bias.cpu(),
    }
