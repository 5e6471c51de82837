"""The contract every group recorder passes, and the scoping of hooks to record steps.

Every recorder in `recorders.spec.GROUPS`: its record has exactly the declared variables, each of
the declared shape (dims from the store vocabulary, sizes from the model and probe), finite (NaN
only where its `reduction` says so), identical for the same model, with long_name and units;
variable names name quantities, never places (schema 2: sites, layers and heads are coordinates);
its coordinates label its dimensions, sites are parameter or hook names; and the record goes
through the real writer and the one reader with its coordinates intact. A new recorder added to
`build_groups` is checked here without a new test.
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
from recorders.spec import GROUPS
from recorders.store import DIMENSIONS, StoreWriter, VarMeta
from seedling.config import preset
from seedling.data.constructs import construct_tokenizer
from seedling.model import GPT
from workbench.store import read_group

ALL_GROUPS = GROUPS  # every group, the opt-in ones included

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
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt.step()
        opt.zero_grad()
    state = SimpleNamespace(step=2, loss=loss.item(), lr=1e-2, tokens=144, grad_norm=1.5, grad_norm_clipped=1.0,
                            loss_scale=1.0)
    return state, before


@pytest.fixture(scope="module")
def recorded():
    probe = build_probe(n_items=3, length=20, d_vocab=97, seed=0, n_sample=5)
    # The planted item set in the planted corpus's tokenizer (89 ids < d_vocab 97), for `constructs`.
    probe = replace(probe, items=item_probe_for_run("planted", "synthetic:constructs", construct_tokenizer(), 24))
    runs = []
    for _ in range(2):  # the same model twice: records must be identical
        model = make_model()
        groups = build_groups(ALL_GROUPS, probe)
        state, before = trained_two_steps(model, groups)
        runs.append((model, groups, collect(groups, RecordContext(model, probe, state, before))))
    return probe, runs


# A quantity's name: lower-case words. A dot, a digit run or a parameter name would be a place in a name.
NAME = re.compile(r"^[a-z]+(_[a-z0-9]+)*$")


def expected_size(dim, model, probe):
    cfg = model.cfg
    s = probe.items.item_set
    return {"layer": cfg.n_layers, "head_index": cfg.n_heads, "batch": probe.tokens.shape[0], "d_model": cfg.d_model,
            "d_mlp": cfg.d_mlp, "query_pos": len(probe.pattern_tokens), "key_pos": len(probe.pattern_tokens),
            "src_layer": cfg.n_layers, "dst_layer": cfg.n_layers, "src_head": cfg.n_heads, "dst_head": cfg.n_heads,
            "kind": 3,
            "item": s.n_items, "item_b": s.n_items, "construct": len(s.construct_names),
            "factor": len(s.construct_names), "factor_b": len(s.construct_names)}.get(dim)


@pytest.mark.parametrize("group", ALL_GROUPS)
def test_group_recorder_contract(recorded, group):
    probe, [(model, groups, rec), (_, _, rec2)] = recorded
    recorder = next(g for g in groups if g.group == group)
    meta = recorder.variables(model, probe)
    values = rec[group]
    assert set(values) == set(meta), f"{group}: undeclared or missing variables {set(values) ^ set(meta)}"
    coords = recorder.coords(model, probe)
    sizes = {}
    for name, m in meta.items():
        assert isinstance(m, VarMeta) and m.long_name and m.units and m.reduction
        assert all(d in DIMENSIONS and d != "step" for d in m.dims)
        assert NAME.match(name), f"{group}/{name}: a variable is named for its quantity, not its place"
        v = values[name]
        assert v.dtype == m.numpy_dtype and v.ndim == len(m.dims), (name, v.shape, m.dims)
        for dim, n in zip(m.dims, v.shape, strict=True):
            want = expected_size(dim, model, probe)
            assert want is None or n == want, (name, dim, n, want)
            assert sizes.setdefault(dim, n) == n, f"{group}: dimension {dim} has two sizes"
        finite = np.isfinite(v.astype(np.float64))
        assert finite.all() or "NaN" in m.reduction, f"{group}/{name} is not finite and does not say where NaN is"
        assert finite.any(), f"{group}/{name} is all NaN"
        np.testing.assert_array_equal(v, rec2[group][name], err_msg=f"{group}/{name} is not deterministic")
    assert isinstance(recorder.group_attrs(probe), dict)
    assert "site" not in sizes or "site" in coords, f"{group}: a site dimension needs its site coordinate"
    places = set(dict(model.named_parameters())) | set(model.hook_points)
    for cname, c in coords.items():
        assert c.dim in sizes and len(c.values) == sizes[c.dim], (cname, c.dim)
        if cname == "site":
            assert set(c.values) <= places, f"{group}: sites that are neither parameters nor hook points"


@pytest.mark.parametrize("group", ALL_GROUPS)
def test_group_record_round_trips_through_writer_and_reader(recorded, group):
    probe, [(model, groups, rec), _] = recorded
    recorder = next(g for g in groups if g.group == group)
    url = f"memory://contract-{group}/records.zarr"
    meta, coords = recorder.variables(model, probe), recorder.coords(model, probe)
    with StoreWriter(url, root_attrs={}) as w:
        for step in (2, 3):
            w.append(group, step, rec[group], meta, attrs=recorder.group_attrs(probe), coords=coords)
    ds = read_group(url, group)
    assert ds["step"].values.tolist() == [2, 3]
    for name, m in meta.items():
        assert ds[name].dims == ("step", *m.dims) and ds[name].attrs["units"] == m.units
        np.testing.assert_array_equal(ds[name].values[0], rec[group][name])
    for cname, c in coords.items():
        assert cname in ds.coords and list(ds[cname].values) == list(c.values)


def test_collect_leaves_no_hooks_restores_mode_and_does_not_touch_training(recorded):
    probe, _ = recorded
    model = make_model()
    groups = build_groups(ALL_GROUPS, probe)
    state, _ = trained_two_steps(model, groups)
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
