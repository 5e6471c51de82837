"""The project's promise: the tiny preset on synthetic:induction, with default settings, forms an induction head.

Runs the real command (`python -m seedling.train --preset tiny --data synthetic:induction --record
every=10`, no --set flags; trained once per session in tests/conftest.py) and reads its store.
"""

import numpy as np
import pytest
import xarray as xr

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _group(run_dir, name):
    ds = xr.open_zarr(run_dir / "records.zarr", group=name, consolidated=False)
    return ds.isel(step=slice(0, ds.attrs["committed"])) if "step" in ds.dims else ds


def test_the_probe_holds_a_repeated_random_token_sequence(induction_run_dir):
    probe = _group(induction_run_dir, "probe")
    ind = probe["induction_tokens"].values
    span = probe.attrs["span"]
    assert span >= 16 and ind.shape[1] >= 2 * span
    np.testing.assert_array_equal(ind[:, :span], ind[:, span : 2 * span])
    # random tokens: many distinct symbols per item, and the items differ from each other
    assert min(len(np.unique(row[:span])) for row in ind) > span // 4
    assert len({tuple(row[:span]) for row in ind}) == len(ind)


def test_an_induction_head_forms_with_the_default_settings(induction_run_dir):
    scores = _group(induction_run_dir, "head_scores")["induction"]
    assert scores.dims == ("step", "layer", "head_index")
    first, best = float(scores.isel(step=0).max()), scores.max(("layer", "head_index"))
    assert first < 0.1  # at initialisation no head does prefix matching
    assert float(best.isel(step=-1)) > 0.3, f"max induction score by step: {best.to_series().round(3).to_dict()}"
    # prefix matching needs a previous-token head before it: a layer-0 head scoring high is positional
    assert float(scores.isel(step=-1, layer=slice(1, None)).max()) > 0.3
    assert float(scores.isel(step=-1, layer=0).max()) < 0.1
    prev = _group(induction_run_dir, "head_scores")["previous_token"]
    assert float(prev.isel(step=-1, layer=0).max()) > 0.3  # the circuit's first half, in layer 0
