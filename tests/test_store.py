"""Tests of the record store writer: round trip, blocks, crash and resume, concurrent reading, errors."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from recorders.store import (
    SCHEMA_VERSION,
    StoreError,
    StoreSchemaError,
    StoreWriteError,
    StoreWriter,
    VarMeta,
)
from tests.store_appender import META, SHAPES, expected
from workbench.store import read_group as committed_dataset
from workbench.store import store_summary

ROOT = Path(__file__).resolve().parents[1]
# zarr warns when a listing meets the writer's temporary files (workbench.store filters it; pytest resets filters)
pytestmark = pytest.mark.filterwarnings("ignore:Object at .*partial is not recognized")
ATTRS = {"package_version": "0.1.0", "config": {"model": {"n_layer": 2}}}
ENT = {
    "entropy": VarMeta(("layer", "head_index"), "attention entropy", "nats", "mean over batch and query positions"),
    "train_loss": VarMeta((), "training loss", "nats", "mean over the step's tokens", attrs={"note": "x"}),
}


def _records(n: int, start: int = 0, every: int = 10):
    for i in range(start, start + n):
        step = i * every
        yield step, {"entropy": np.full((2, 3), step, dtype=np.float32) + np.arange(6).reshape(2, 3),
                     "train_loss": np.float32(step / 7)}


def _assert_consistent(path, group: str, shapes: dict) -> xr.Dataset:
    """A group at rest: every array as long as the commit marker, steps strictly increasing, values as planted."""
    g = zarr.open_group(str(path), mode="r")[group]
    n = g.attrs["committed"]
    along = {name: a.shape[0] for name, a in g.arrays() if a.metadata.dimension_names[0] == "step"}
    assert along == {name: n for name in along} and set(along) >= {"step", *shapes}
    ds = xr.open_zarr(str(path), group=group, consolidated=False)  # a plain reader can open it now
    steps = ds["step"].values
    assert np.all(np.diff(steps) > 0)
    for var, shape in shapes.items():
        vals = ds[var].values
        assert not np.isnan(vals.astype(np.float32)).any()
        want = np.stack([expected(int(s), shape, META[var].dtype) for s in steps]) if len(steps) else vals
        np.testing.assert_array_equal(vals, want)
    return ds


def test_round_trip_dims_attrs_and_step_index(tmp_path):
    path = tmp_path / "records.zarr"
    with StoreWriter(path, root_attrs=ATTRS, block_size=4) as w:
        for step, vals in _records(10):
            w.append("attn_entropy", step, vals, ENT, attrs={"long_name": "attention entropy"})
    ds = xr.open_zarr(path, group="attn_entropy", consolidated=False)
    assert ds["entropy"].dims == ("step", "layer", "head_index")
    assert ds["train_loss"].dims == ("step",)
    assert "step" in ds.indexes and ds["step"].values.tolist() == list(range(0, 100, 10))
    assert ds["entropy"].attrs == {"long_name": "attention entropy", "units": "nats",
                                   "reduction": "mean over batch and query positions"}
    assert ds["train_loss"].attrs["note"] == "x"
    assert ds.attrs["committed"] == 10 and ds.attrs["long_name"] == "attention entropy"
    np.testing.assert_array_equal(ds["entropy"].sel(step=30).values, 30 + np.arange(6).reshape(2, 3))
    assert ds["entropy"].dtype == np.float32
    root = zarr.open_group(str(path), mode="r")
    assert root.attrs["schema_version"] == SCHEMA_VERSION and root.attrs["config"] == ATTRS["config"]
    xr.testing.assert_identical(committed_dataset(path, "attn_entropy").load(), ds.load())
    xr.testing.assert_identical(committed_dataset(path.as_uri(), "attn_entropy").load(), ds.load())  # file:// URL
    summary = store_summary(path)["groups"]["attn_entropy"]
    assert summary["committed"] == 10 and summary["variables"] == ["entropy", "train_loss"]
    assert summary["record_bytes"] == 8 + 6 * 4 + 4 and summary["disk_bytes"] > 0  # step, entropy, train_loss


def test_memory_url_and_static_group():
    url = f"memory://{uuid.uuid4().hex}/records.zarr"
    probe_meta = {"tokens": VarMeta(("batch", "pos"), "probe tokens", "token id", "none", dtype="int64"),
                  "text": VarMeta(("batch",), "decoded probe text", "text", "none", dtype="str")}
    tokens, text = np.arange(12).reshape(3, 4), np.array(["the cat", "sat ünïcode", ""])
    with StoreWriter(url, root_attrs=ATTRS, block_size=3, background=False) as w:
        w.write_static("probe", {"tokens": tokens, "text": text}, probe_meta, attrs={"repeat_len": 2})
        for step, vals in _records(7):
            w.append("attn_entropy", step, vals, ENT)
    with StoreWriter(url, root_attrs=ATTRS) as w:  # resume: identical static rewrite is a no-op
        w.write_static("probe", {"tokens": tokens, "text": text}, probe_meta)
        with pytest.raises(StoreError, match="differs from the stored one"):
            w.write_static("probe", {"tokens": tokens + 1, "text": text}, probe_meta)
    probe = committed_dataset(url, "probe")
    assert probe["tokens"].dims == ("batch", "pos") and probe.attrs["repeat_len"] == 2
    assert probe["text"].values.tolist() == text.tolist()
    assert committed_dataset(url, "attn_entropy").sizes["step"] == 7


def test_blocks_bound_the_number_of_files(tmp_path):
    path = tmp_path / "records.zarr"
    with StoreWriter(path, root_attrs=ATTRS, block_size=64) as w:
        for step, vals in _records(1000, every=1):
            w.append("attn_entropy", step, vals, ENT)
    files = [p for p in (path / "attn_entropy").rglob("*") if p.is_file()]
    # 3 arrays x (chunks of 1024 steps for these small records: 1, + zarr.json), 2 index coordinates
    # (layer, head_index: one chunk + zarr.json each) + the group's zarr.json;
    # one-record appends would have made 3 x 1000 chunk files
    assert len(files) == 3 * (1 + 1) + 2 * 2 + 1
    assert zarr.open_array(str(path / "attn_entropy" / "entropy")).chunks == (1024, 2, 3)
    ds = committed_dataset(path, "attn_entropy")
    assert ds.sizes["step"] == 1000 and float(ds["entropy"][-1, 1, 2]) == 999 + 5


def test_flush_writes_partial_block_and_steps_continue(tmp_path):
    path = tmp_path / "records.zarr"
    w = StoreWriter(path, root_attrs=ATTRS, block_size=64)
    recs = list(_records(100))
    for step, vals in recs[:10]:
        w.append("attn_entropy", step, vals, ENT)
    groups = store_summary(path)["groups"]  # the group may not even be created yet: that is queued too
    assert groups.get("attn_entropy", {"committed": 0})["committed"] == 0  # still buffered
    w.flush()
    assert committed_dataset(path, "attn_entropy").sizes["step"] == 10
    for step, vals in recs[10:]:
        w.append("attn_entropy", step, vals, ENT)
    w.close()
    w.close()  # twice is fine
    ds = committed_dataset(path, "attn_entropy")
    assert ds["step"].values.tolist() == [s for s, _ in recs]
    with pytest.raises(StoreError, match="closed"):
        w.append("attn_entropy", 10_000, recs[0][1], ENT)


def test_truncate_after_resume_keeps_each_step_once(tmp_path):
    path = tmp_path / "records.zarr"
    w = StoreWriter(path, root_attrs=ATTRS, block_size=8, background=False)
    for step, vals in _records(80, every=1):
        w.append("attn_entropy", step, vals, ENT)
        if step == 50:
            w.flush()  # the checkpoint of step 50
    # the run dies here: steps 51..79 were partly written (blocks of 8), the rest buffered and lost
    assert 50 < committed_dataset(path, "attn_entropy")["step"].values[-1] < 79
    w = StoreWriter(path, root_attrs=ATTRS, block_size=8)
    assert w.truncate_after(50) == {"attn_entropy": 51}
    with pytest.raises(StoreError, match="not after the group's last step 50"):
        w.append("attn_entropy", 50, dict(_records(1))[0], ENT)
    for step, vals in _records(50, start=51, every=1):
        w.append("attn_entropy", step, vals, ENT)
    w.close()
    ds = committed_dataset(path, "attn_entropy")
    assert ds["step"].values.tolist() == list(range(101))
    np.testing.assert_array_equal(ds["train_loss"].values, np.arange(101, dtype=np.float32) / 7)


def test_fresh_run_over_an_old_store_starts_over(tmp_path):
    path = tmp_path / "records.zarr"
    probe_meta = {"tokens": VarMeta(("batch", "pos"), "probe tokens", "token id", "none", dtype="int64")}
    with StoreWriter(path, root_attrs=ATTRS, block_size=4) as w:
        w.write_static("probe", {"tokens": np.zeros((2, 3))}, probe_meta)
        for step, vals in _records(6):
            w.append("attn_entropy", step, vals, ENT)
    wide = {"entropy": np.ones((4, 3), np.float32), "train_loss": np.float32(1)}  # a bigger model this time
    with StoreWriter(path, root_attrs=ATTRS, block_size=4) as w:
        assert w.truncate_after(-1) == {"attn_entropy": 0}
        w.write_static("probe", {"tokens": np.ones((2, 5))}, probe_meta)
        w.append("attn_entropy", 0, wide, ENT)
    ds = committed_dataset(path, "attn_entropy")
    assert ds["step"].values.tolist() == [0] and ds["entropy"].shape == (1, 4, 3)
    assert committed_dataset(path, "probe")["tokens"].shape == (2, 5)


def test_reader_of_groups_caught_half_created(tmp_path):
    """What a reader sees at the instants a writer is creating a group (the states a kill can also leave)."""
    path = tmp_path / "records.zarr"
    StoreWriter(path, root_attrs=ATTRS).close()
    root = zarr.open_group(str(path), mode="a")
    g = root.create_group("attn_entropy", attributes={"committed": 0})  # created, arrays not yet
    g.create_array("entropy", shape=(0, 2, 3), dtype="float32", dimension_names=["step", "layer", "head_index"])
    ds = committed_dataset(path, "attn_entropy")
    assert ds.sizes["step"] == 0 and ds["step"].dtype == np.int64 and "entropy" in ds
    root.create_group("probe")  # a static group whose arrays and 'static' marker are not written yet
    with pytest.raises(StoreError, match="'probe' is incomplete or damaged"):
        committed_dataset(path, "probe", attempts=1)
    with pytest.raises(StoreError, match="has no group 'loss'; it has: attn_entropy, probe"):
        committed_dataset(path, "loss")
    with StoreWriter(path, root_attrs=ATTRS) as w:  # resume removes both (nothing committed), then writes anew
        assert store_summary(path)["groups"] == {}
        w.append("attn_entropy", 0, dict(_records(1))[0], ENT)
    assert committed_dataset(path, "attn_entropy").sizes["step"] == 1


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "records.zarr"
    StoreWriter(path, root_attrs=ATTRS).close()
    zarr.open_group(str(path), mode="a").attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreSchemaError, match=f"schema_version {SCHEMA_VERSION + 1}, newer than {SCHEMA_VERSION}"):
        StoreWriter(path, root_attrs=ATTRS)
    with pytest.raises(StoreSchemaError, match="newer"):
        committed_dataset(path, "loss")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    with pytest.raises(StoreSchemaError, match="not a record store"):
        StoreWriter(tmp_path / "other", root_attrs=ATTRS)


def test_user_errors_are_clear(tmp_path):
    path = tmp_path / "records.zarr"
    with StoreWriter(path, root_attrs=ATTRS, block_size=4) as w:
        step, vals = next(_records(1))
        w.append("attn_entropy", 5, vals, ENT)
        with pytest.raises(StoreError, match=r"step 5 is not after the group's last step 5"):
            w.append("attn_entropy", 5, vals, ENT)
        with pytest.raises(StoreError, match=r"entropy has shape \(3, 3\) but the group stores \(2, 3\)"):
            w.append("attn_entropy", 6, {**vals, "entropy": np.zeros((3, 3))}, ENT)
        with pytest.raises(StoreError, match=r"missing \['train_loss'\]"):
            w.append("attn_entropy", 6, {"entropy": vals["entropy"]}, ENT)
        with pytest.raises(StoreError, match="no VarMeta"):
            w.append("other", 0, {"x": np.zeros(2)}, ENT)
        with pytest.raises(StoreError, match=r"dims \(.pos.,\) name 1"):
            w.append("other", 0, {"x": np.zeros((2, 2))}, {"x": VarMeta(("pos",), "x", "1", "none")})
        with pytest.raises(StoreError, match="dimension 'pos' has size 3 in b but 2 in a"):
            m = VarMeta(("pos",), "x", "1", "none")
            w.append("other", 0, {"a": np.zeros(2), "b": np.zeros(3)}, {"a": m, "b": m})
        w.append("attn_entropy", 6, vals, ENT)  # the writer still works after refused calls
    with pytest.raises(StoreError, match="unknown dimension name 'heads'; accepted: site, layer, head_index"):
        VarMeta(("heads",), "x", "1", "none")
    with pytest.raises(StoreError, match="leave out 'step'"):
        VarMeta(("step", "layer"), "x", "1", "none")
    with pytest.raises(StoreError, match="dtype 'float8'"):
        VarMeta((), "x", "1", "none", dtype="float8")
    with pytest.raises(StoreError, match="block_size=0"):
        StoreWriter(path, root_attrs=ATTRS, block_size=0)
    assert committed_dataset(path, "attn_entropy")["step"].values.tolist() == [5, 6]


def test_background_errors_surface_on_the_next_call(tmp_path, monkeypatch):
    path = tmp_path / "records.zarr"
    w = StoreWriter(path, root_attrs=ATTRS, block_size=2)
    recs = list(_records(6))
    w.append("attn_entropy", *recs[0], ENT)
    w.flush()

    async def disk_full(name, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w._disk, "_write_block", disk_full)  # the next block fails on the writer thread
    w.append("attn_entropy", *recs[1], ENT)
    w.append("attn_entropy", *recs[2], ENT)  # a block of 2 goes to the thread and fails there
    with pytest.raises(StoreWriteError, match="No space left on device"):
        w.flush()
    with pytest.raises(StoreWriteError):
        w.close()
    assert committed_dataset(path, "attn_entropy").sizes["step"] == 1  # nothing half-committed


def _run_appender(path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.store_appender", str(path), *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the appender has committed something (a checkpoint file exists)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "appender made no checkpoint"
        time.sleep(0.02)


def test_kill_9_at_random_moments_then_resume(tmp_path):
    path = tmp_path / "records.zarr"
    ckpt = Path(str(path) + ".ckpt")
    rng = random.Random(1234)
    start = 0
    for _trial in range(4):
        proc = _run_appender(path, "--start", str(start), "--block", str(rng.choice([4, 8, 16])))
        _wait_for(ckpt, proc)
        time.sleep(rng.uniform(0.05, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        # a reader can open the killed run's store as it is, before any resume
        for group in SHAPES:
            ds = committed_dataset(path, group).load()
            assert np.all(np.diff(ds["step"].values) > 0)
        # resume the way training does: from the last checkpoint S, cut back to steps <= S
        S = int(ckpt.read_text())
        ckpt.unlink()
        with StoreWriter(path, root_attrs=ATTRS) as w:
            w.truncate_after(S)
        for group, shapes in SHAPES.items():
            ds = _assert_consistent(path, group, shapes)
            want = [s for s in range(S + 1) if group != "act_sample" or s % 3 == 0]
            assert ds["step"].values.tolist() == want
        start = S + 1
        assert not list(path.rglob("*.partial"))


def test_reader_sees_only_complete_records_while_writer_appends(tmp_path):
    path = tmp_path / "records.zarr"
    proc = _run_appender(path, "--stop", "400", "--block", "4", "--checkpoint-every", "1000000")
    seen = set()
    while proc.poll() is None or not seen:
        if not (path / "act_sample" / "zarr.json").exists():
            time.sleep(0.01)
            continue
        for group, shapes in SHAPES.items():
            ds = committed_dataset(path, group).load()
            steps = ds["step"].values
            assert np.all(np.diff(steps) > 0)
            for var, shape in shapes.items():
                want = np.stack([expected(int(s), shape, META[var].dtype) for s in steps]) if len(steps) else ds[var].values
                np.testing.assert_array_equal(ds[var].values, want)
            seen.add(len(steps))
    _, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert len(seen) > 2  # the reader really did overlap with appends
    assert committed_dataset(path, "loss").sizes["step"] == 400


def test_import_needs_no_torch():
    code = ("import sys, recorders, recorders.store, workbench.store; recorders.StoreWriter; workbench.read_group; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
