"""The Recorder as a subscriber: spec errors at construction, `off`, any fsspec URL, resume cut-back."""

from __future__ import annotations

import pytest

from recorders import Recorder
from seedling.data import prepare
from seedling.train.loop import Trainer
from tests.train_util import tiny_config
from workbench.store import read_group as committed_dataset


def test_malformed_spec_is_a_one_line_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"every='x'.*accepted") as err:
        Recorder("every=x", tmp_path)
    assert "\n" not in str(err.value)


def fit(run_dir, steps, record, url=None, resume=False):
    cfg = tiny_config([f"train.max_steps={steps}", "train.checkpoint_every=2", "train.eval_every=1000"])
    data = prepare(cfg, run_dir)
    trainer = Trainer(cfg, run_dir, data)
    if resume:
        assert trainer.resume()
    trainer.subscribe(Recorder(record, run_dir, url=url, data=data))
    trainer.fit()
    return trainer


def test_store_at_a_memory_url_and_off_writes_nothing(tmp_path):
    fit(tmp_path / "mem", 3, "every=1 what=loss,optim probe=2", url="memory://recorder-test/records.zarr")
    ds = committed_dataset("memory://recorder-test/records.zarr", "optim")
    assert ds["step"].values.tolist() == [0, 1, 2, 3]
    assert ds["tokens"].values.tolist() == [0, 256, 512, 768]  # micro batch 4 x accum 2 x 32 tokens
    assert not (tmp_path / "mem" / "records.zarr").exists()
    fit(tmp_path / "off", 2, "off")
    assert not (tmp_path / "off" / "records.zarr").exists()


def test_resume_cuts_the_store_back_to_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    first = fit(run, 5, "every=1 what=loss,grad_norm probe=2")
    before = committed_dataset(run / "records.zarr", "loss")["probe_loss"].values
    for late in ("step_0000004", "step_0000005"):
        for f in (run / "checkpoints").glob(late + "*"):
            f.unlink()  # as if killed after recording steps 3..5 but before their checkpoints
    second = fit(run, 5, "every=1 what=loss,grad_norm probe=2", resume=True)
    assert second.state.resumed and first.state.step == second.state.step == 5
    assert committed_dataset(run / "records.zarr", "loss")["step"].values.tolist() == [0, 1, 2, 3, 4, 5]
    assert committed_dataset(run / "records.zarr", "grad_norm")["step"].values.tolist() == [1, 2, 3, 4, 5]
    # Steps 3..5 were recorded again after the resume, with the same values (exact resume).
    assert committed_dataset(run / "records.zarr", "loss")["probe_loss"].values.tolist() == before.tolist()
