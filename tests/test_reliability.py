"""Issue #12's reliability promises, the fast cases of the torture script (`python -m benchmarks torture`), in-process.

Each test breaks a tiny run the way a hostile tester did and checks the command's answer: resumed
bit-identically from the newest checkpoint that verifies, or refused in one line with exit 2 and
nothing changed on disk. The kill -9 counts come from the full script (docs/reliability.md).
"""

from __future__ import annotations

import json

import pytest

from benchmarks.torture import damage, inputs, kills
from benchmarks.torture.harness import STEPS, Harness, final_weights, one_line, rewind, same_weights, step_lines
from tests.train_util import one_thread


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    with one_thread():
        harness = Harness(tmp_path_factory.mktemp("torture"), in_process=True)
        harness.base()
        yield harness


def _held(result) -> None:
    assert result.held == result.tried and result.tried > 0, result.notes


def test_bad_inputs_are_one_line_exit_2_and_change_nothing(h):
    _held(inputs.bad_inputs(h))


def test_unverifiable_checkpoints_are_set_aside_and_the_run_resumes_exactly(h):
    with one_thread():
        _held(damage.checkpoints(h))


def test_killed_at_step_0_between_checkpoint_and_sidecar_starts_fresh(h):
    """The stuck case: step_0000000.pt in place, no sidecar, only step 0's lines written; re-run: no error."""
    run = h.copy("killed-at-0")
    rewind(run, 0)
    (run / "checkpoints" / "step_0000000.json").unlink()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("".join(ln + "\n" for ln in lines if json.loads(ln)["step"] == 0))
    with one_thread():
        p = h.run("seedling.train", h.train_args(run))
    assert p.rc == 0, p.err
    assert [s["step"] for s in step_lines(run)] == list(range(1, STEPS + 1))
    assert same_weights(final_weights(run), final_weights(h.base()))
    assert (run / "checkpoints" / "rejected" / "step_0000000.pt").exists()


def test_damaged_store_is_set_aside_or_refused_and_summary_says_so(h):
    with one_thread():
        _held(damage.store(h))


def test_lost_config_stale_temporaries_and_export_into_a_run(h):
    with one_thread():
        _held(damage.run_directory(h))


def test_a_second_writer_gets_one_line_naming_the_first(h):
    from seedling.train.lock import RunLock

    run = h.copy("locked")
    with RunLock(run):
        p = h.run("seedling.train", h.train_args(run))
    assert p.rc == 2 and one_line(p.err) and "in use by pid" in p.err, p.err
    assert not (run / ".lock").exists()  # released and removed


def test_ctrl_c_on_a_checkpoint_step_saves_it_once(h):
    from benchmarks.torture.harness import TINY
    from seedling.config import preset
    from seedling.data import prepare
    from seedling.train import Trainer
    from seedling.train.samples import CheckpointSamples, read_samples

    run = h.work / "ctrl-c"
    cfg = preset("tiny", [*TINY, "train.max_steps=20"])
    data = prepare(cfg, run)
    tr = Trainer(cfg, run, data)
    tr.subscribe(CheckpointSamples(run, data))

    class StopAt5:
        def on_step_end(self, state):
            tr.stop_requested = tr.stop_requested or state.step == 5  # as the first Ctrl-C does

    tr.subscribe(StopAt5())
    with one_thread():
        tr.fit()
    events = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "checkpoint"].count(5) == 1
    assert [s["step"] for s in read_samples(run / "samples.jsonl")].count(5) == 1
    assert any(e["event"] == "interrupt" for e in events)


def test_report_spectra_skip_a_flipped_checkpoint(h):
    _held(damage.report_skips_unverified(h))


@pytest.mark.slow
def test_kill_9_and_ctrl_c_leave_bit_identical_runs(tmp_path):
    """A few real kills in fresh processes (the full script delivers 50 or more)."""
    r = kills.interruptions(Harness(tmp_path), kills=3, ctrl_c=1, seed=1)
    _held(r)
    assert r.extra["holes"] == r.extra["duplicates"] == 0


def test_load_run_never_imports_the_training_loop():
    import subprocess
    import sys

    code = "import sys, seedling; from seedling import load_run; print(sorted(m for m in sys.modules if 'train.' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "seedling.train.loop" not in out and "seedling.train.checkpoint_io" in out
