"""Recording inside a real training run: every group readable, hooks only on record steps, training unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from recorders import Recorder
from recorders.spec import GROUPS
from seedling.data import prepare
from seedling.model import CausalSelfAttention
from seedling.train.loop import Trainer
from tests.train_util import tiny_config

STEPS = 10
EXTRA = ["model.n_layers=2", f"train.max_steps={STEPS}", "train.checkpoint_every=4"]


class HookSpy:
    """A subscriber that checks, at every step's backward, that no hook point has a hook attached."""

    def __init__(self) -> None:
        self.checked = 0

    def on_after_backward(self, state) -> None:
        assert not any(h.active for h in state.model.hook_points.values())
        self.checked += 1


def train(run_dir, record: str | None, monkeypatch):
    cfg = tiny_config(EXTRA)
    data = prepare(cfg, run_dir)
    trainer = Trainer(cfg, run_dir, data)
    calls = {"explicit": 0}
    original = CausalSelfAttention._explicit

    def counting(self, *args, **kwargs):
        calls["explicit"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CausalSelfAttention, "_explicit", counting)  # a spy: still runs the real path
    spy = trainer.subscribe(HookSpy())
    if record:
        trainer.subscribe(Recorder(record, run_dir, data=data))
    trainer.fit()
    monkeypatch.undo()
    return trainer, spy, calls["explicit"]


@pytest.mark.slow
def test_recorded_run_writes_every_group_and_trains_exactly_as_without(tmp_path, monkeypatch):
    plain, _, plain_explicit = train(tmp_path / "plain", None, monkeypatch)
    rec, spy, explicit = train(tmp_path / "rec", "every=log:4 probe=3", monkeypatch)

    # Training is untouched: same weights bit for bit, and without --record no explicit attention.
    for (name, a), b in zip(plain.model.state_dict().items(), rec.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert plain_explicit == 0 and spy.checked == STEPS
    steps = [0, 1, 2, 4, 8]
    # The explicit path ran only in the record steps' probe forwards: 3 stimuli x 2 layers each.
    assert explicit == len(steps) * 3 * 2

    store = tmp_path / "rec" / "records.zarr"
    for group in GROUPS:
        ds = xr.open_zarr(store, group=group, consolidated=False)
        want = steps[1:] if group in ("grad_norm", "update_ratio") else steps
        assert ds["step"].values.tolist() == want, group
        assert ds.attrs["committed"] == len(want)
        for var in ds.data_vars:
            assert ds[var].attrs["long_name"] and "units" in ds[var].attrs, (group, var)
    norms = xr.open_zarr(store, group="weight_norm", consolidated=False)
    assert list(norms["site"].values) == [n for n, _ in rec.model.named_parameters()]
    heads = xr.open_zarr(store, group="head_scores", consolidated=False)
    assert heads["induction"].dims == ("step", "layer", "head_index") and heads.sizes["batch"] == 3
    probe = xr.open_zarr(store, group="probe", consolidated=False)
    ind = probe["induction_tokens"].values
    span = probe.attrs["span"]
    np.testing.assert_array_equal(ind[:, :span], ind[:, span : 2 * span])
    assert probe.attrs["source"] == "validation data" and len(probe["text"].values) == 3
    grads = xr.open_zarr(store, group="grad_norm", consolidated=False)
    clip = rec.config.train.grad_clip
    np.testing.assert_allclose(grads["global_norm_clipped"], np.minimum(grads["global_norm"], clip), rtol=1e-6)
    # The per-site gradient norms add up (in squares) to the global norm the optimizer step used.
    np.testing.assert_allclose(np.sqrt((grads["norm"].values.astype(np.float64) ** 2).sum(1)), grads["global_norm"], rtol=1e-4)
