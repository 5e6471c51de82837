"""`python -m recorders.replay`: equal to inline recording at the same step, resumable, one writer per group."""

import json

import numpy as np
import pytest

from recorders.replay import ReplayError, main, replay
from recorders.store import StoreError, StoreWriter, VarMeta
from seedling.train.__main__ import main as train
from tests.train_util import TINY, one_thread
from workbench.store import read_group as committed_dataset

CIRCUITS = "composition,logit_lens,dla,ablation"


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    """10 steps of a 2-layer tiny model recording the circuit groups inline at 0, 5, 10 (checkpoints 0,1,2,4,5,10)."""
    tmp = tmp_path_factory.mktemp("replay")
    sets = [a for s in [*TINY, "model.n_layers=2", "train.keep_last=2"] for a in ("--set", s)]
    run = tmp / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("SEEDLING_CACHE", str(tmp / "cache"))
    with one_thread():
        assert train(["--out", str(run), "--max-steps", "10", "--record", f"every=5 what=loss,{CIRCUITS} probe=3",
                      "--quiet", *sets]) == 0
    mp.undo()
    return run


def test_replay_equals_inline_at_the_same_steps_and_resumes_after_an_interruption(recorded_run, tmp_path):
    other = str(tmp_path / "replayed.zarr")
    seen = []

    def stop_after_two(step):
        seen.append(step)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with one_thread(), pytest.raises(KeyboardInterrupt):
        replay(recorded_run, tuple(CIRCUITS.split(",")), store=other, on_step=stop_after_two)
    assert committed_dataset(other, "ablation")["step"].values.tolist() == seen  # committed before the interruption
    with one_thread():
        result = replay(recorded_run, tuple(CIRCUITS.split(",")), store=other)
    assert result.already == 2 and result.written == [2, 4, 5, 10]
    for group in CIRCUITS.split(","):
        inline, replayed = committed_dataset(recorded_run / "records.zarr", group), committed_dataset(other, group)
        assert replayed["step"].values.tolist() == [0, 1, 2, 4, 5, 10]
        common = replayed.sel(step=inline["step"].values)  # steps 0, 5, 10: recorded inline and checkpointed
        assert inline["step"].values.tolist() == [0, 5, 10]
        for var in inline.data_vars:
            np.testing.assert_allclose(common[var].values, inline[var].values, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{group}/{var}")
            assert common[var].attrs["long_name"] == inline[var].attrs["long_name"]
    np.testing.assert_array_equal(committed_dataset(other, "probe")["induction_tokens"].values,
                                  committed_dataset(recorded_run / "records.zarr", "probe")["induction_tokens"].values)


def test_replay_refuses_groups_the_training_writes_and_those_it_cannot_compute(recorded_run, capsys):
    with pytest.raises(ReplayError, match="recorded by the training itself"):
        replay(recorded_run, ("ablation",))
    with pytest.raises(ReplayError, match="nothing to replay"):
        replay(recorded_run)  # every circuit group is recorded inline here
    assert main([str(recorded_run), "--what", "grad_norm", "--quiet"]) == 2
    assert main([str(recorded_run.parent / "nowhere"), "--quiet"]) == 2
    assert main([str(recorded_run), "--what", "nonsense", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "cannot be replayed" in err[0] and "not a run directory" in err[1] and "unknown group" in err[2]


def test_a_run_trained_without_record_gets_its_probe_from_its_data(tmp_path, monkeypatch):
    from recorders.recorder import make_probe
    from recorders.spec import RecordSpec
    from seedling.config import RunConfig
    from seedling.data import prepare

    monkeypatch.setenv("SEEDLING_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "plain"
    sets = [a for s in [*TINY, "model.n_layers=2"] for a in ("--set", s)]
    with one_thread():
        assert train(["--out", str(run), "--max-steps", "4", "--quiet", *sets]) == 0
        assert main([str(run), "--quiet"]) == 0  # every circuit group: the training records none
    url = run / "records.zarr"
    assert committed_dataset(url, "dla")["step"].values.tolist() == [0, 1, 2, 4]
    cfg = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    data = prepare(cfg, run)
    want = make_probe(RecordSpec(), cfg.model, data.val, data.tokenizer)  # what `--record` would have built
    np.testing.assert_array_equal(committed_dataset(url, "probe")["induction_tokens"].values, want.induction_tokens)


def test_a_writer_owning_some_groups_leaves_the_others_alone(tmp_path):
    """The training's writer and a replay's writer share a store; neither touches the other's groups."""
    meta = {"x": VarMeta((), "x", "1", "none")}
    url = str(tmp_path / "s.zarr")
    training = StoreWriter(url, root_attrs={"package_version": "0"}, background=False, block_size=2)
    training.append("loss", 0, {"x": np.float32(1)}, meta)
    training.append("loss", 1, {"x": np.float32(2)}, meta)  # a block: committed
    training.append("loss", 2, {"x": np.float32(3)}, meta)  # buffered, not yet on disk
    side = StoreWriter(url, root_attrs={}, background=False, only=("ablation",))
    with pytest.raises(StoreError, match="not one this writer owns"):
        side.append("loss", 5, {"x": np.float32(0)}, meta)
    side.append("ablation", 0, {"x": np.float32(9)}, meta)
    side.close()
    training.append("loss", 3, {"x": np.float32(4)}, meta)
    training.close()
    assert committed_dataset(url, "loss")["x"].values.tolist() == [1, 2, 3, 4]
    assert committed_dataset(url, "ablation")["x"].values.tolist() == [9]
