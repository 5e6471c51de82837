"""The contract every group recorder passes, and the scoping of hooks to record steps.

Every recorder in `recorders.spec.GROUPS`: its record has exactly the declared variables, each of
the declared shape (dims from the store vocabulary, sizes from the model and probe), finite,
identical for the same model, with long_name and units; names are hook names, parameter names or
metric names. A new recorder added to `build_groups` is checked here without a new test.
"""

import copy
import re
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recorders.capture import collect
from recorders.groups import RecordContext, build_groups
from recorders.item_probe import item_probe_for_run
from recorders.probe import build_probe
from recorders.spec import GROUPS, OPTIONAL_GROUPS
from recorders.store import DIMENSIONS, VarMeta
from seedling.config import preset
from seedling.data.constructs import construct_tokenizer
from seedling.model import GPT

ALL_GROUPS = GROUPS + OPTIONAL_GROUPS

TINY = {"model.n_layers": 2, "model.n_heads": 4, "model.d_model": 32, "model.n_ctx": 24, "model.d_vocab": 97}


def make_model():
    torch.manual_seed(0)
    return GPT(preset("tiny", TINY).model)


def trained_two_steps(model, groups):
    """Two AdamW steps (biases leave zero, so update ratios are defined); the second feeds after_backward."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for step in range(2):
        x = torch.randint(0, 97, (3, 25), generator=g)
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        if step == 1:
            for rec in groups:
                rec.after_backward(model)
        opt.step()
        opt.zero_grad()
    return SimpleNamespace(step=2, loss=loss.item(), lr=1e-2, tokens=144, grad_norm=1.5, grad_norm_clipped=1.0,
                           loss_scale=1.0)


@pytest.fixture(scope="module")
def recorded():
    probe = build_probe(n_items=3, length=20, d_vocab=97, seed=0, n_sample=5)
    # The planted item set in the planted corpus's tokenizer (89 ids < d_vocab 97), for `constructs`.
    probe = replace(probe, items=item_probe_for_run("planted", "synthetic:constructs", construct_tokenizer(), 24))
    runs = []
    for _ in range(2):  # the same model twice: records must be identical
        model = make_model()
        groups = build_groups(ALL_GROUPS, probe)
        state = trained_two_steps(model, groups)
        runs.append((model, groups, collect(groups, RecordContext(model, probe, state))))
    return probe, runs


NAME = re.compile(
    r"^(train_loss|probe_loss|probe_loss_by_pos|icl_score|lr|tokens|pattern|global_norm|global_norm_clipped|loss_scale"
    r"|(entropy|entropy_normalized|previous_token|first_token|induction)(_by_item)?"
    r"|item_embedding(_last)?|cosine|centred_cosine|(empirical_)?recovery(_spearman)?|(empirical_)?mantel_p|hit_rate"
    r"|domains_recovered(_target)?|congruence|rmsr|(unrotated_|blind_)?loading|factor_correlation|(blind_)?daal"
    r"|factor_congruence"
    r"|alignment(_own_minus_mean|_own_minus_max)?)$"
)


def expected_size(dim, model, probe):
    cfg = model.cfg
    s = probe.items.item_set
    return {"layer": cfg.n_layers, "head_index": cfg.n_heads, "batch": probe.tokens.shape[0], "d_model": cfg.d_model,
            "d_mlp": cfg.d_mlp, "query_pos": len(probe.pattern_tokens), "key_pos": len(probe.pattern_tokens),
            "item": s.n_items, "item_b": s.n_items, "construct": len(s.construct_names),
            "factor": len(s.construct_names), "factor_b": len(s.construct_names)}.get(dim)


@pytest.mark.parametrize("group", ALL_GROUPS)
def test_group_recorder_contract(recorded, group):
    probe, [(model, groups, rec), (_, _, rec2)] = recorded
    recorder = next(g for g in groups if g.group == group)
    meta = recorder.variables(model, probe)
    values = rec[group]
    assert set(values) == set(meta), f"{group}: undeclared or missing variables {set(values) ^ set(meta)}"
    params = dict(model.named_parameters())
    hooks = model.hook_points
    for name, m in meta.items():
        assert isinstance(m, VarMeta) and m.long_name and m.units and m.reduction
        assert all(d in DIMENSIONS and d != "step" for d in m.dims)
        site = name.rsplit(".", 1)[0]
        assert (name in params or name in hooks or NAME.match(name) or re.fullmatch(r"blocks\.\d+\.attn\.W_[QKVO]", name)
                or site in params or site in hooks or re.fullmatch(r"blocks\.\d+\.attn\.W_[QKVO]", site)), name
        v = values[name]
        assert v.dtype == m.numpy_dtype and v.ndim == len(m.dims), (name, v.shape, m.dims)
        for dim, n in zip(m.dims, v.shape, strict=True):
            want = expected_size(dim, model, probe)
            assert want is None or n == want, (name, dim, n, want)
        finite = np.isfinite(v.astype(np.float64))
        assert finite.all(), f"{group}/{name} is not finite"
        np.testing.assert_array_equal(v, rec2[group][name], err_msg=f"{group}/{name} is not deterministic")
    assert isinstance(recorder.group_attrs(probe), dict)


def test_collect_leaves_no_hooks_restores_mode_and_does_not_touch_training(recorded):
    probe, _ = recorded
    model = make_model()
    groups = build_groups(ALL_GROUPS, probe)
    state = trained_two_steps(model, groups)
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    model.train()
    collect(groups, RecordContext(model, probe, state))
    assert model.training
    assert not any(h.active for h in model.hook_points.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


def test_step_zero_skips_gradient_groups(recorded):
    probe, _ = recorded
    model = make_model()
    groups = build_groups(GROUPS, probe)
    state = SimpleNamespace(step=0, loss=None, lr=0.0, tokens=0, grad_norm=0.0, grad_norm_clipped=0.0, loss_scale=1.0)
    rec = collect(groups, RecordContext(model, probe, state))
    assert "grad_norm" not in rec and "update_ratio" not in rec
    assert np.isnan(rec["loss"]["train_loss"]) and np.isfinite(rec["loss"]["probe_loss"])
    # At initialisation the probe loss is about ln(vocab): a check on the loss recorder's logits.
    assert abs(float(rec["loss"]["probe_loss"]) - np.log(97)) < 0.5
