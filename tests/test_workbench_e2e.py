"""End to end: train the tiny preset on synthetic:induction with recording, and detect the induction phase change."""

import subprocess
import sys

import pytest

import workbench as wb
import workbench.findings
from workbench.cli import main

# Training the shared run (tests/conftest.py) takes minutes on a busy 2-core machine: allow it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="session")
def induction_run(induction_run_dir):
    """The shared recorded run of tests/conftest.py, opened with the workbench."""
    return wb.open_run(induction_run_dir)


def test_an_induction_head_forms_and_the_phase_change_is_detected(induction_run):
    scores = wb.findings.head_scores(induction_run)
    assert float(scores["induction"].isel(step=-1).max()) > 0.3
    roles = wb.classify_heads(scores)
    em = wb.role_emergence(roles)
    assert (em["role"] == "induction").any()
    loss = induction_run.group("loss").reindex(step=scores["step"])
    pc = wb.induction_phase_change(scores["step"].values, scores["induction"], loss=loss["train_loss"].values,
                                   icl=loss["icl_score"].values)
    assert pc.detected, pc.reason
    steps = scores["step"].values
    lo, hi = pc.onset.onset_ci
    assert steps[0] <= lo <= pc.onset.onset <= hi <= steps[-1]
    assert pc.icl_change < 0  # the model starts to use its context when the head forms
    assert pc.layer >= 1  # prefix matching needs the previous-token head of an earlier layer


def test_summary_command_on_the_trained_run(induction_run, capsys):
    assert main(["summary", str(induction_run.path), "--fast"]) == 0
    out = capsys.readouterr().out
    assert "last recorded loss (loss/train_loss)" in out and "induction phase change" in out
    assert out.splitlines()[1] == "What changed:" and "layer 1 head" in out.split("heads that moved most")[1]
    assert "head_scores" in out and "records, steps 0..1500" in out


def test_workbench_reads_the_real_store_without_torch(induction_run):
    code = ("import sys, workbench as wb; r = wb.open_run(sys.argv[1]); "
            "assert r.variable('head_scores', 'induction').dims == ('step', 'layer', 'head_index'); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(induction_run.path)], check=True)
