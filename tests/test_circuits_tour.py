"""Issue 14's "done when" on the induction tour: the circuit's causal signature, replayed over its checkpoints.

The shared run (tests/conftest.py) records `composition` inline at every=10; `circuit_run_dir`
replays `logit_lens`, `dla` and `ablation` over its kept checkpoints into a copy of the run.
"""

import numpy as np
import pytest

from recorders.replay import replay
from workbench.circuits import induction_circuit
from workbench.cli import main as workbench
from workbench.run import open_run
from workbench.store import read_group as committed_dataset

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def circuit(circuit_run_dir):
    return induction_circuit(open_run(circuit_run_dir), method="delta")


def test_replayed_composition_equals_the_inline_record_at_checkpoint_steps(induction_run_dir, tmp_path):
    other = tmp_path / "replayed.zarr"
    replay(induction_run_dir, ("composition",), store=str(other))
    inline = committed_dataset(induction_run_dir / "records.zarr", "composition")
    got = committed_dataset(other, "composition")
    common = np.intersect1d(inline["step"].values, got["step"].values)
    assert len(common) >= 4, common  # every=10 records vs checkpoints 0, 1, 2, 4, ..., 128 and the last ones
    np.testing.assert_allclose(got["score"].sel(step=common).values, inline["score"].sel(step=common).values,
                               rtol=1e-5, atol=1e-7)


def test_ablating_the_induction_head_raises_the_repeat_loss_at_the_end_not_before_onset(circuit):
    layer, _ = circuit.induction_head
    assert layer >= 1
    mean, lo, _ = circuit.ablation
    _, _, null_hi = circuit.ablation_null
    assert mean > 0.3 and lo > null_hi, (circuit.ablation, circuit.ablation_null)  # clearly, and above its null
    assert circuit.early_ablation is not None, circuit.notes
    assert abs(circuit.early_ablation[0]) < 0.05, circuit.early_ablation


def test_k_composition_from_the_previous_token_head_rises_above_its_null_band(circuit, circuit_run_dir):
    run = open_run(circuit_run_dir)
    prev = run.variable("head_scores", "previous_token").isel(step=-1, layer=0)
    assert circuit.feeder == (0, int(np.argmax(prev.values))), "the feeder is layer 0's previous-token head"
    _, q95 = circuit.k_null
    assert circuit.k_composition > q95 + 0.02
    layer, head = circuit.induction_head
    start = float(run.variable("composition", "score").isel(step=0).sel(kind="k", src_layer=0, src_head=circuit.feeder[1],
                                                                     dst_layer=layer, dst_head=head))
    assert start < q95 + 0.01  # at initialisation it sits in the band: it rose above it


def test_the_logit_lens_shows_layer_1_carrying_the_in_context_prediction(circuit_run_dir):
    lens = open_run(circuit_run_dir).variable("logit_lens", "repeat_loss")
    first, last = lens.isel(step=0).values, lens.isel(step=-1).values
    assert last[1] < last[0] - 1.0, last  # the repeated half is predicted after layer 1, not after layer 0
    assert abs(first[1] - first[0]) < 0.2, first


def test_summary_reports_the_circuit(circuit_run_dir, capsys):
    assert workbench(["summary", str(circuit_run_dir), "--fast"]) == 0
    out = capsys.readouterr().out
    assert "induction circuit: induction head layer 1" in out and "fed by layer 0 head" in out
    assert "raises the repeated-half loss by" in out and "onsets in time order" in out
