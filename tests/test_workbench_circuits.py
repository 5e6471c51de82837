"""workbench.circuits on planted circuit groups (tests/circuit_store.py): the parts, effects and onsets it must find."""

import numpy as np
import pytest

from tests.circuit_store import FEEDER, HEAD, add_circuit_groups
from tests.dashboard_run import write_run
from workbench.circuits import bootstrap_mean_ci, circuit_text, induction_circuit
from workbench.run import open_run


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("wb_circuit") / "run", n_records=30)
    add_circuit_groups(run, np.arange(30, dtype=np.int64) * 10)
    return induction_circuit(open_run(run), method="delta")


def test_finds_the_planted_head_its_feeder_and_the_null_band(circuit):
    assert circuit.induction_head == HEAD and circuit.feeder == FEEDER
    assert circuit.k_composition == pytest.approx(0.19, abs=0.01) and circuit.k_null == pytest.approx((0.088, 0.092))


def test_ablation_effect_with_item_ci_above_its_null_and_near_zero_before_onset(circuit):
    mean, lo, hi = circuit.ablation
    assert lo < mean < hi and mean == pytest.approx(1.5, abs=0.05)
    assert circuit.ablation_null[2] < lo
    assert circuit.early_step is not None and circuit.early_step < 120  # planted onset: 12% of the rise near step 105
    assert abs(circuit.early_ablation[0]) < 0.2


def test_onsets_come_in_time_order_with_cis_and_the_text_says_so(circuit):
    onsets = circuit.onsets
    assert onsets["onset"].is_monotonic_increasing
    assert (onsets["ci_lo"] <= onsets["onset"]).all() and (onsets["onset"] <= onsets["ci_hi"]).all()
    assert {"induction score", "K-composition feeder -> head", "ablation: repeat loss change"} <= set(onsets["trajectory"])
    text = "\n".join(circuit_text(circuit))
    assert f"layer {HEAD[0]} head {HEAD[1]}" in text and "above the null band" in text and "95% CI" in text


def test_bootstrap_mean_ci_covers_the_mean_and_refuses_one_item():
    m, lo, hi = bootstrap_mean_ci(np.arange(10.0))
    assert lo < m == 4.5 < hi
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_mean_ci([1.0])
