"""The workbench recovers what recorders.synthetic_store plants (an independent generator, written by the StoreWriter)."""

import numpy as np
import pytest

import workbench as wb
from recorders.synthetic_store import make_synthetic_store
from workbench.findings import find, head_scores


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("planted") / "run"
    run_dir.mkdir()
    truth = make_synthetic_store(run_dir / "records.zarr", n_records=120, n_layers=2, n_heads=4, every=25,
                                 d_vocab=512, n_probe=8, probe_len=32, pattern_len=16)
    return wb.open_run(run_dir), truth


def test_planted_induction_head_onset_and_phase_change(planted):
    run, truth = planted
    layer, head = truth.induction_head
    f = find(run, method="delta")
    pc = f.phase_change
    assert pc.detected, pc.reason
    assert (pc.layer, pc.head_index) == (layer, head)
    lo, hi = pc.onset.midpoint_ci
    assert lo <= truth.induction_midpoint <= hi or abs(pc.onset.midpoint - truth.induction_midpoint) < 0.1 * truth.every
    assert pc.onset.width == pytest.approx(truth.induction_width, rel=0.2)
    assert pc.icl_change < -0.3


def test_planted_roles_emerge_in_order(planted):
    run, truth = planted
    em = wb.role_emergence(wb.classify_heads(head_scores(run))).set_index(["layer", "head_index", "role"])
    ind_step = em.loc[(*truth.induction_head, "induction"), "emergence_step"]
    prev_step = em.loc[(*truth.previous_token_head, "previous_token"), "emergence_step"]
    assert prev_step < ind_step  # the previous-token head forms first; the induction head composes with it
    assert abs(ind_step - truth.induction_midpoint) < 4 * truth.induction_width


def test_planted_loss_power_law_recovered(planted):
    run, truth = planted  # probe loss = 1.8 + 8.53 (1 + s / tau)^-0.5 + a 0.1-nat bump at the induction onset
    ds = run.group("loss")
    fit = wb.fit_power_law(ds["step"].values, ds["probe_loss"].values, shift=True)
    assert fit.params["b"] == pytest.approx(0.5, abs=0.03)
    assert fit.params["c"] == pytest.approx(1.8, abs=0.05)
    assert fit.params["t0"] == pytest.approx(truth.tau, rel=0.3)
    assert np.isfinite(fit.se["b"]) and fit.aic < wb.fit_power_law(ds["step"].values, ds["probe_loss"].values).aic
