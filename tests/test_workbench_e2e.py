"""End to end: train the tiny preset on synthetic:induction with recording, and detect the induction phase change."""

import importlib.util
import subprocess
import sys

import pytest

import workbench as wb
import workbench.findings
from workbench.cli import main

pytestmark = pytest.mark.slow

_READY = all(importlib.util.find_spec(m) is not None for m in ("seedling.train", "recorders.recorder"))
# The detection itself is checked on an independently planted store in test_workbench_planted.py.


@pytest.fixture(scope="session")
def induction_run(tmp_path_factory):
    """One recorded training run on planted induction data, shared by every test of the session."""
    if not _READY:
        pytest.skip("needs the training loop (seedling.train) and the recorders on main")
    out = tmp_path_factory.mktemp("e2e") / "induction"
    cmd = [sys.executable, "-m", "seedling.train", "--preset", "tiny", "--data", "synthetic:induction",
           "--out", str(out), "--record", "every=10", "--quiet", "--device", "cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-2000:]
    return wb.open_run(out)


@pytest.mark.xfail(strict=False, reason="measured 2026-11-24: the tiny preset's default 300 steps on synthetic:induction "
                   "end on the unigram plateau (loss 5.55 = ln 256) with no induction head (max score 0.012); "
                   "docs/analyses.md, 'End-to-end check'")
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


def test_summary_command_on_the_trained_run(induction_run, capsys):
    assert main(["summary", str(induction_run.path), "--fast"]) == 0
    out = capsys.readouterr().out
    assert "final loss (loss/train_loss)" in out and "induction phase change" in out
    assert "head_scores" in out and "records, steps 0..300" in out


def test_workbench_reads_the_real_store_without_torch(induction_run):
    code = ("import sys, workbench as wb; r = wb.open_run(sys.argv[1]); "
            "assert r.variable('head_scores', 'induction').dims == ('step', 'layer', 'head_index'); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(induction_run.path)], check=True)
