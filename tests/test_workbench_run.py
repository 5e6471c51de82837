"""open_run on real Zarr stores: labelled groups, committed records only, clear errors, no torch on import."""

import subprocess
import sys

import numpy as np
import pytest

import workbench as wb
from tests.workbench_runs import make_run


def test_import_without_torch():
    code = "import workbench, workbench.cli, workbench.report, workbench.export, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_open_run_groups_and_labels(tmp_path):
    run = wb.open_run(make_run(tmp_path / "r"))
    assert {"loss", "head_scores", "attn_entropy", "act_sample", "probe"} <= set(run.groups)
    ind = run.variable("head_scores", "induction")
    assert ind.dims == ("step", "layer", "head_index") and ind["step"].values[1] == 50
    assert ind.attrs["units"] == "probability"
    assert run.config["model"]["n_layers"] == 2
    assert set(run.metrics["event"]) == {"step", "eval"} and len(run.metrics) == 2000 + 10
    resid = wb.resid_by_layer(run.variable("act_sample", "resid"))
    assert resid.dims == ("step", "layer", "batch", "pos", "d_model") and list(resid["layer"].values) == [0, 1]
    assert "probe" in run.groups and "step" not in run.group("probe").dims


def test_places_are_coordinates_not_names(tmp_path):
    """Schema 2: xarray opens a group with its sites as coordinates; no reader parses names."""
    import xarray as xr

    run_dir = make_run(tmp_path / "r")
    ds = xr.open_zarr(run_dir / "records.zarr", group="weight_norm", consolidated=False)
    assert {"site", "layer", "component"} <= set(ds.coords) and list(ds.data_vars) == ["norm"]
    run = wb.open_run(run_dir)
    norm = run.variable("weight_norm", "norm")
    assert norm.sel(site="blocks.1.attn.qkv.weight").dims == ("step",)
    by_layer = norm.groupby("layer").mean()
    assert sorted(by_layer["layer"].values.tolist()) == [-1, 0, 1]
    mats = run.group("matrices")
    assert mats["weight_norm"].dims == ("step", "matrix", "layer", "head_index")
    assert list(mats["matrix"].values) == ["W_Q", "W_K", "W_V", "W_O", "W_in", "W_out"]
    assert np.isnan(mats["weight_norm"].sel(matrix="W_in").values).all()
    stats = run.group("act_stats")
    assert stats["kurtosis"].attrs["units"] == "1" and stats["rms"].attrs["units"] == "activation units"


def test_reads_only_committed_records_of_a_store_being_written(tmp_path):
    run = wb.open_run(make_run(tmp_path / "r", n_records=20, committed=15))
    ds = run.group("head_scores")
    assert run.record_counts["head_scores"] == 15 and run.record_counts["probe"] is None
    assert ds.sizes["step"] == 15 and ds["step"].values[-1] == 14 * 50


def test_bad_inputs_say_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(wb.NotARunError, match="none of config.json, metrics.jsonl, records.zarr"):
        wb.open_run(tmp_path / "empty")
    with pytest.raises(wb.NotARunError, match="not a directory"):
        wb.open_run(tmp_path / "nope")
    with pytest.raises(wb.SchemaVersionError, match="schema_version 99"):
        wb.open_run(make_run(tmp_path / "new", schema_version=99))
    with pytest.raises(wb.SchemaVersionError, match="schema_version 1, older than 2"):
        wb.open_run(make_run(tmp_path / "old", schema_version=1))
    run = wb.open_run(make_run(tmp_path / "r"))
    with pytest.raises(wb.MissingMetricError, match="group 'ablation' was not recorded"):
        run.group("ablation")
    with pytest.raises(wb.MissingMetricError, match="'kurtosis' is not in group 'head_scores'"):
        run.variable("head_scores", "kurtosis")


def test_open_runs_expands_seed_directories(tmp_path):
    for s in range(3):
        make_run(tmp_path / "seeds" / f"seed{s}", seed=s)
    runs = wb.open_runs([tmp_path / "seeds"])
    assert [r.name for r in runs] == ["seeds/seed0", "seeds/seed1", "seeds/seed2"]
    with pytest.raises(wb.NotARunError, match="seed0, seed1, seed2"):
        wb.open_run(tmp_path / "seeds")


def test_checkpoint_spectra_from_a_torch_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    run_dir = make_run(tmp_path / "r")
    (run_dir / "checkpoints").mkdir()
    g = torch.Generator().manual_seed(0)
    for step in (100, 200):
        state = {"blocks.0.attn.qkv.weight": torch.randn(48, 16, generator=g), "wte.weight": torch.randn(64, 16, generator=g),
                 "blocks.0.ln1.bias": torch.zeros(16)}
        torch.save({"model": state, "step": step}, run_dir / "checkpoints" / f"step_{step:07d}.pt")
    run = wb.open_run(run_dir)
    assert [c.step for c in run.checkpoints] == [100, 200]
    df = wb.spectra_over_checkpoints(run.checkpoints)
    assert set(df["matrix"]) == {"blocks.0.attn.W_Q", "blocks.0.attn.W_K", "blocks.0.attn.W_V", "wte.weight"}
    row = df[(df.step == 100) & (df.matrix == "wte.weight")].iloc[0]
    s = np.linalg.svd(torch.load(run_dir / "checkpoints" / "step_0000100.pt")["model"]["wte.weight"].numpy(),
                      compute_uv=False)
    assert row["sigma_max"] == pytest.approx(s[0], rel=1e-5)


def test_reads_a_store_written_by_the_store_writer_while_it_writes(tmp_path):
    from recorders.store import StoreWriter, VarMeta

    meta = {"induction": VarMeta(("layer", "head_index"), "induction score", "probability", "mean over items")}
    run_dir = tmp_path / "live"
    run_dir.mkdir()
    writer = StoreWriter(str(run_dir / "records.zarr"), root_attrs={"package_version": "0"}, block_size=4)
    try:
        for i in range(10):  # 10 records in blocks of 4: 8 reach disk, 2 wait in the buffer
            writer.append("head_scores", i * 10, {"induction": np.full((2, 3), i, np.float32)}, meta)
        writer.flush()
        for i in range(10, 13):
            writer.append("head_scores", i * 10, {"induction": np.full((2, 3), i, np.float32)}, meta)
        run = wb.open_run(run_dir)  # the writer is still open
        da = run.variable("head_scores", "induction")
        assert da.dims == ("step", "layer", "head_index") and da.sizes["step"] in (10, 11, 12, 13)
        assert np.array_equal(da.isel(layer=0, head_index=0).values, np.arange(da.sizes["step"]))
    finally:
        writer.close()
    assert wb.open_run(run_dir).variable("head_scores", "induction").sizes["step"] == 13
