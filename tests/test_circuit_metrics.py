"""The causal and circuit metrics against hand-built cases: planted weights, weight-edited models, exact sums."""

import copy

import pytest
import torch

from recorders.metrics.ablation import head_ablation
from recorders.metrics.composition import composition_scores, head_factors, random_baseline
from recorders.metrics.lens import direct_logit_attribution, logit_lens
from recorders.metrics.nll import item_loss, repeat_positions, token_nll
from seedling.config import preset
from seedling.model import GPT

SHAPE = {"model.n_layers": 2, "model.n_heads": 2, "model.d_model": 8, "model.n_ctx": 16, "model.d_vocab": 11}


def make_model(seed=0, scale=1.0):
    torch.manual_seed(seed)
    model = GPT(preset("tiny", SHAPE).model).eval()
    with torch.no_grad():  # larger weights than the init so every component matters
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p) * 0.3)
    return model


def tokens(seed=1, b=3, t=12):
    return torch.randint(0, 11, (b, t), generator=torch.Generator().manual_seed(seed))


def planted(read: str):
    """Layer 0 head 0 writes e1 (read from r); layer 1 head 1 reads e1 with its key (read="k") or query ("q")."""
    model = make_model()
    D, hs = 8, 4
    e = torch.eye(D)
    r = torch.arange(1.0, D + 1)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight.zero_()
            block.attn.out.weight.zero_()
        a, b = model.blocks[0].attn, model.blocks[1].attn
        a.qkv.weight[2 * D + 0] = r  # W_V^A[:, 0] = r
        a.out.weight[:, 0] = e[1]  # W_O^A[0, :] = e1
        q_row, k_row = (0 + hs, D + hs) if read == "k" else (D + hs, 0 + hs)
        b.qkv.weight[q_row] = e[2]  # the other side reads e2
        b.qkv.weight[k_row] = e[1]  # this side reads e1, what A writes
        b.qkv.weight[2 * D + hs] = e[3]  # B's OV: e3 -> e4, orthogonal to A's write
        b.out.weight[:, hs] = e[4]
    return model


@pytest.mark.parametrize("read", ["k", "q"])
def test_composition_planted_reads_what_the_earlier_head_writes(read):
    scores = composition_scores(head_factors(planted(read)))  # (kind, src_l, src_h, dst_l, dst_h)
    q, k, v = (float(scores[i, 0, 0, 1, 1]) for i in range(3))
    assert (q, k) == pytest.approx((1.0, 0.0) if read == "q" else (0.0, 1.0), abs=1e-12)
    assert v == pytest.approx(0.0, abs=1e-12)
    assert torch.isnan(scores[:, 1, :, 0, :]).all() and torch.isnan(scores[:, 1, :, 1, :]).all()  # only earlier -> later


def test_composition_equals_dense_products_with_ln_gain_folded():
    model = make_model(seed=3)
    with torch.no_grad():
        model.blocks[1].ln1.weight.mul_(torch.linspace(0.5, 2.0, 8))
    scores = composition_scores(head_factors(model))
    D, nh, hs = 8, 2, 4

    def dense(layer, h):
        blk = model.blocks[layer]
        w = blk.attn.qkv.weight.detach().double()
        g = torch.diag(blk.ln1.weight.detach().double())
        wq, wk, wv = (g @ w[i * D + h * hs : i * D + (h + 1) * hs].T for i in range(3))
        wo = blk.attn.out.weight.detach().double()[:, h * hs : (h + 1) * hs].T
        return wv @ wo, wq @ wk.T

    def score(a, b):
        return float(torch.linalg.norm(a @ b) / (torch.linalg.norm(a) * torch.linalg.norm(b)))

    for ha in range(nh):
        for hb in range(nh):
            ov_a, _ = dense(0, ha)
            ov_b, qk_b = dense(1, hb)
            got = scores[:, 0, ha, 1, hb].tolist()
            assert got == pytest.approx([score(ov_a, qk_b), score(ov_a, qk_b.T), score(ov_a, ov_b)], rel=1e-9)


def test_random_baseline_is_a_band_well_below_a_planted_circuit():
    null = random_baseline(d_model=8, d_head=4, n=300)
    assert null.shape == (3, 300) and (null > 0).all() and (null < 1).all()
    assert 0.1 < float(null.mean()) < 0.8  # not 0: unrelated random heads still overlap
    assert torch.quantile(null[1], 0.95) < 0.95  # the planted K-composition (1.0) lies above the band
    torch.testing.assert_close(null, random_baseline(d_model=8, d_head=4, n=300))  # seeded


def test_mean_ablation_equals_a_weight_edited_model():
    """Mean-ablating z_h == setting W_V^h = 0 and its value bias to mean(z_h): attention rows sum to 1."""
    model, x = make_model(), tokens()
    out = head_ablation(model, x)
    D, hs, layer, head = 8, 4, 1, 0
    z = {}
    with model.hooks([(f"blocks.{layer}.attn.hook_z", lambda t, n: z.setdefault("z", t.clone()))]):
        model(x)
    edited = copy.deepcopy(model)
    with torch.no_grad():
        rows = slice(2 * D + head * hs, 2 * D + (head + 1) * hs)
        edited.blocks[layer].attn.qkv.weight[rows] = 0
        edited.blocks[layer].attn.qkv.bias[rows] = z["z"][:, :, head].mean((0, 1))
        want = item_loss(token_nll(edited(x), x)) - item_loss(token_nll(model(x), x))
    torch.testing.assert_close(out["effect"][:, layer, head], want, atol=1e-5, rtol=1e-4)
    assert out["effect"].shape == out["null_effect"].shape == (3, 2, 2)


def test_ablation_of_a_constant_head_is_zero_for_mean_not_for_zero_and_its_null_is_zero():
    model, x = make_model(), tokens()
    with torch.no_grad():  # head 1 of layer 0: W_V = 0, so z = its value bias at every position
        model.blocks[0].attn.qkv.weight[2 * 8 + 4 : 2 * 8 + 8] = 0
    mean = head_ablation(model, x, mode="mean")
    zero = head_ablation(model, x, mode="zero", null=False)
    assert mean["effect"][:, 0, 1].abs().max() < 1e-5
    assert mean["null_effect"][:, 0, 1].abs().max() < 1e-5  # nothing moved, so the null moves nothing
    assert zero["effect"][:, 0, 1].abs().max() > 1e-3
    assert mean["null_effect"].abs().max() > 1e-4  # elsewhere the null does perturb


def test_logit_lens_last_layer_is_the_models_own_loss_and_kl_zero():
    model, x = make_model(), tokens()
    lens = logit_lens(model, x)
    with torch.no_grad():
        _, loss = model(x[:, :-1], x[:, 1:])  # mean over items of equal length = mean of item means
    assert lens["loss"].shape == lens["kl"].shape == (3, 2)
    assert float(lens["loss"][:, -1].mean()) == pytest.approx(float(loss), abs=1e-5)
    assert lens["kl"][:, -1].abs().max() < 1e-5 and (lens["kl"][:, 0] > 0).all()
    mask = repeat_positions(12, 5)
    sub = logit_lens(model, x, mask)
    torch.testing.assert_close(sub["loss"][:, -1], item_loss(token_nll(model(x), x), mask), atol=1e-5, rtol=1e-5)


def test_dla_components_sum_to_the_correct_token_logit():
    model, x = make_model(), tokens()
    parts = direct_logit_attribution(model, x)
    total = (parts["heads"].sum((2, 3)) + parts["attn_bias"].sum(2) + parts["mlp"].sum(2) + parts["embed"]
             + parts["pos_embed"] + parts["ln_bias"])
    logit = model(x)[:, :-1].double().gather(-1, x[:, 1:, None])[..., 0]
    torch.testing.assert_close(total, logit, atol=1e-4, rtol=1e-4)
    assert parts["heads"].shape == (3, 11, 2, 2)


def test_dla_of_a_silenced_head_is_zero():
    model, x = make_model(), tokens()
    with torch.no_grad():
        model.blocks[1].attn.out.weight[:, 4:8] = 0  # head 1 of layer 1 writes nothing
    assert direct_logit_attribution(model, x)["heads"][:, :, 1, 1].abs().max() == 0


def test_ablation_gives_the_same_effects_one_head_per_forward_and_all_heads_in_one(monkeypatch):
    import recorders.metrics.ablation as ablation

    model, x = make_model(), tokens()
    together = head_ablation(model, x)
    monkeypatch.setattr(ablation, "LOGIT_BUDGET", 1)  # one head per forward
    alone = head_ablation(model, x)
    for key in ("clean", "effect", "null_effect"):
        torch.testing.assert_close(alone[key], together[key], atol=1e-5, rtol=1e-5)
