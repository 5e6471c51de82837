"""Tests of the synthetic store: every group at its documented shape, planted curves where the docs say."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from recorders.spec import GROUPS as RECORDED
from recorders.store import StoreError
from recorders.synthetic_store import main, make_synthetic_store
from workbench.store import read_group as committed_dataset
from workbench.store import store_summary

GROUPS = {*RECORDED, "probe"}  # every group a run records, written through the real writer


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("syn") / "records.zarr"
    plant = make_synthetic_store(path, n_records=41, n_layers=2, n_heads=4, every=10, pattern_len=8,
                                 probe_len=16, n_probe=3, d_model=8, block_size=16)
    return path, plant


def test_every_group_with_its_shapes(store):
    path, plant = store
    summary = store_summary(path)
    assert set(summary["groups"]) == GROUPS
    assert summary["attrs"]["synthetic"]["induction_head"]["layer"] == plant.induction_head[0]
    for group in GROUPS - {"probe", "grad_norm", "update_ratio"}:
        assert summary["groups"][group]["committed"] == 41
    assert committed_dataset(path, "grad_norm")["step"].values[0] == 10  # no gradient at step 0
    pattern = committed_dataset(path, "attn_pattern")["pattern"]
    assert pattern.dims == ("step", "layer", "head_index", "query_pos", "key_pos") and pattern.shape == (41, 2, 4, 8, 8)
    rows = pattern.values.astype(np.float64).sum(-1)
    np.testing.assert_allclose(rows, 1.0, atol=5e-3)  # each query's attention is a distribution (float16)
    assert np.all(np.triu(pattern.values[-1, 0, 0], 1) == 0)  # causal
    sample = committed_dataset(path, "act_sample")["resid"]
    assert sample.dims == ("step", "site", "batch", "pos", "d_model") and sample.dtype == np.float16
    assert sample.sel(site="blocks.1.hook_resid_post").dims == ("step", "batch", "pos", "d_model")
    norms = committed_dataset(path, "weight_norm")
    assert norms["norm"].dims == ("step", "site") and "blocks.1.attn.qkv.weight" in norms["site"].values
    assert norms["layer"].sel(site="blocks.1.attn.qkv.weight") == 1 and norms["layer"].sel(site="wte.weight") == -1
    probe = committed_dataset(path, "probe")
    assert probe["tokens"].shape == (3, 16) and probe["text"].shape == (3,)
    ind = probe["induction_tokens"].values
    np.testing.assert_array_equal(ind[:, :8], ind[:, 8:16])


def test_planted_curves(store):
    path, plant = store
    scores = committed_dataset(path, "head_scores")
    layer, head = plant.induction_head
    ind = scores["induction"].sel(layer=layer, head_index=head)
    steps = scores["step"].values
    # the steepest rise of the planted head is at the planted midpoint (within one record)
    rise = steps[np.argmax(np.diff(ind.values))]
    assert abs(rise + plant.every / 2 - plant.induction_midpoint) <= plant.every
    assert ind.values[-1] > 0.8 and ind.values[0] < 0.1
    others = np.delete(scores["induction"].values[-1].ravel(), layer * 4 + head)
    assert others.max() < 0.2
    loss = committed_dataset(path, "loss")
    assert np.isnan(loss["train_loss"].values[0])
    assert loss["probe_loss"].values[0] == pytest.approx(10.33 + 0.10 * np.exp(-0.5 * (plant.induction_midpoint
                                                                                     / plant.induction_width) ** 2), abs=1e-4)
    assert loss["probe_loss"].values[-1] < 3
    assert loss["icl_score"].values[-1] < loss["icl_score"].values[0] < 0
    ent = committed_dataset(path, "attn_entropy")["entropy"]
    assert (ent.isel(step=-1) < ent.isel(step=0)).all()
    xr.testing.assert_allclose(ent, committed_dataset(path, "attn_entropy")["entropy_by_item"].mean("batch"))


def test_command_line(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert main([str(out), "--records", "3", "--layers", "1", "--heads", "2", "--pattern-len", "4"]) == 0
    assert "wrote 3 records" in capsys.readouterr().out
    assert main([str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main([str(tmp_path / "t.zarr"), "--pattern-len", "5"]) == 2
    with pytest.raises(StoreError, match="even pattern_len"):
        make_synthetic_store(tmp_path / "u.zarr", n_records=3, pattern_len=5)
