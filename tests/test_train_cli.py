"""`python -m seedling.train` as a user runs it: kill -9 and resume bit for bit, Ctrl-C, clear errors, DDP."""

import json
import signal
import subprocess
import sys
import time

import pytest

from seedling.train import checkpoint_io as ckpt
from seedling.train.__main__ import build_parser, main
from seedling.train.metrics import read_metrics
from tests.train_util import REPO, TINY, cli_args, env, one_thread, run_cli

STEPS = 60  # long enough that a run cannot finish between reaching step 11 and the kill


def _losses(run_dir):
    return [(r["step"], r["loss"], r["grad_norm"], r["lr"], r["tokens"]) for r in read_metrics(run_dir / "metrics.jsonl", "step")]


def _start(args, cache):
    return subprocess.Popen(args, cwd=REPO, env=env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_step(run_dir, step, proc, timeout=90):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        path = run_dir / "metrics.jsonl"
        if path.exists() and any(r["step"] >= step for r in read_metrics(path, "step")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"step {step} never reached")


def test_killed_and_interrupted_runs_resume_bit_for_bit(tmp_path):
    cache = tmp_path / "cache"
    ref, killed, interrupted = tmp_path / "ref", tmp_path / "killed", tmp_path / "ctrl_c"
    procs = {ref: _start(cli_args(ref, STEPS), cache)}
    procs[killed] = _start(cli_args(killed, STEPS), cache)
    _wait_for_step(killed, 11, procs[killed])
    procs[killed].send_signal(signal.SIGKILL)  # no chance to save anything
    procs[interrupted] = _start(cli_args(interrupted, STEPS), cache)
    _wait_for_step(interrupted, 7, procs[interrupted])
    procs[interrupted].send_signal(signal.SIGINT)  # Ctrl-C: finish the step, save, exit 130
    _, err = procs[interrupted].communicate(timeout=60)
    assert procs[interrupted].returncode == 130 and "Traceback" not in err, err
    stopped_at = read_metrics(interrupted / "metrics.jsonl", "interrupt")[0]["step"]
    assert ckpt.verify(ckpt.checkpoint_path(interrupted / "checkpoints", stopped_at))  # Ctrl-C saved
    procs[killed].wait(timeout=30)
    assert procs[ref].wait(timeout=120) == 0, procs[ref].communicate()
    killed_at = max(r["step"] for r in read_metrics(killed / "metrics.jsonl", "step"))
    assert killed_at < STEPS
    last_ckpt = max(s for s in ckpt.list_steps(killed / "checkpoints") if s <= killed_at)

    resumed = [_start(cli_args(d, STEPS), cache) for d in (killed, interrupted)]  # same command again
    for p in resumed:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    expected = _losses(ref)
    assert len(expected) == STEPS
    for d, resume_step in ((killed, last_ckpt), (interrupted, stopped_at)):
        assert [r["step"] for r in read_metrics(d / "metrics.jsonl", "resume")] == [resume_step]
        assert _losses(d) == expected  # loss, gradient norm, lr, tokens: equal at every step, bit for bit
    evals = [(r["step"], r["val_loss"]) for r in read_metrics(ref / "metrics.jsonl", "eval")]
    assert [(r["step"], r["val_loss"]) for r in read_metrics(killed / "metrics.jsonl", "eval")] == evals


def _fake_run(tmp_path, cache, monkeypatch):
    """A run directory with a config and one checkpoint file name (enough for the config checks)."""
    monkeypatch.setenv("SEEDLING_CACHE", str(cache))
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    from tests.train_util import tiny_config
    (run / "config.json").write_text(tiny_config().to_json())
    (run / "checkpoints" / "step_0000005.pt").write_bytes(b"")
    return run


def test_clear_errors_exit_2(tmp_path, monkeypatch, capsys):
    run = _fake_run(tmp_path, tmp_path / "cache", monkeypatch)
    sets = [a for s in TINY for a in ("--set", s)]

    def fails(*argv):
        code = main(list(argv))
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0 and err.startswith("error: "), err
        return err

    err = fails("--out", str(run), *sets, "--set", "model.n_layers=3", "--set", "train.lr=0.1")
    assert "model.n_layers: 1 -> 3" in err and "train.lr: 0.003 -> 0.1" in err and "new --out" in err
    assert "unknown config key 'train.lrr'" in fails("--out", str(tmp_path / "x"), "--set", "train.lrr=1")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert "not a writable directory" in fails("--out", str(blocker / "run"))
    assert "no checkpoints to resume" in fails("--out", str(tmp_path / "empty"), "--resume", *sets)
    assert "not one of" in fails("--out", str(tmp_path / "y"), "--set", "train.precision=fp8")
    assert (run / "checkpoints" / "step_0000005.pt").exists()  # nothing already written is lost


def test_seeds_train_one_run_per_seed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEEDLING_CACHE", str(tmp_path / "cache"))
    sets = [a for s in TINY for a in ("--set", s)]
    with one_thread():
        assert main(["--out", str(tmp_path / "rel"), "--seeds", "2", "--seed", "7", "--max-steps", "2", "--quiet", *sets]) == 0
    seeds = [json.loads((tmp_path / "rel" / f"seed{i}" / "config.json").read_text())["train"]["seed"] for i in (0, 1)]
    assert seeds == [7, 8]
    losses = [read_metrics(tmp_path / "rel" / f"seed{i}" / "metrics.jsonl", "step")[0]["loss"] for i in (0, 1)]
    assert losses[0] != losses[1]
    # fine-tuning from one of them: its model and tokenizer, a new data source and learning rate
    with one_thread():
        assert main(["--out", str(tmp_path / "ft"), "--init-from", str(tmp_path / "rel" / "seed0"), "--quiet",
                     "--data", "synthetic:induction?vocab=256", "--set", "train.lr=5e-4", "--max-steps", "2"]) == 0
    (init,) = read_metrics(tmp_path / "ft" / "metrics.jsonl", "init_from")
    assert init["source_step"] == 2
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert (cfg["train"]["lr"], cfg["data"]["source"], cfg["model"]["d_model"]) == (5e-4, "synthetic:induction?vocab=256", 32)


def test_record_wires_the_recorder_and_rejects_a_bad_spec(tmp_path, monkeypatch, capsys):
    import xarray as xr

    monkeypatch.setenv("SEEDLING_CACHE", str(tmp_path / "cache"))
    sets = [a for s in TINY for a in ("--set", s)]
    run = tmp_path / "rec"
    with one_thread():
        assert main(["--out", str(run), "--max-steps", "4", "--record", "every=2 what=loss", "--quiet", *sets]) == 0
    ds = xr.open_zarr(run / "records.zarr", group="loss", consolidated=False)
    assert list(ds["step"].values) == [0, 2, 4]
    assert main(["--out", str(tmp_path / "bad"), "--record", "every=sometimes", "--quiet", *sets]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --record") and err.count("\n") == 1


def test_help_describes_every_flag():
    out = build_parser().format_help()
    for flag in ("--preset", "--config", "--set", "--data", "--out", "--max-steps", "--max-tokens", "--epochs",
                 "--resume", "--init-from", "--device", "--compile", "--seed", "--seeds", "--record", "--quiet"):
        assert flag in out


@pytest.mark.timeout(180)
def test_ddp_two_gloo_ranks_stay_identical(tmp_path):
    run = tmp_path / "ddp"
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "seedling.train"] + cli_args(run, 6)[3:]
    proc = run_cli(args, tmp_path / "cache", timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    side = json.loads((run / "checkpoints" / "step_0000006.json").read_text())
    fp = side["rank_fingerprints"]
    assert side["world_size"] == 2 and len(fp) == 2 and fp[0] == fp[1]  # weights identical on both ranks
    steps = read_metrics(run / "metrics.jsonl", "step")
    assert [r["step"] for r in steps] == list(range(1, 7))  # rank 0 alone writes the log
    assert steps[0]["tokens"] == 2 * 4 * 2 * 32  # each rank contributed its own micro-batches
    payload, _ = ckpt.load_verified(ckpt.checkpoint_path(run / "checkpoints", 6))
    assert len(payload["data"]) == len(payload["rng"]) == 2  # every rank's data position and RNG are saved


def test_synthetic_source_sizes_d_vocab_unless_set(tmp_path):
    assert main(["--out", str(tmp_path / "a"), "--data", "synthetic:induction?vocab=30&n=64", "--max-steps", "1",
                 "--quiet", "--device", "cpu"]) == 0
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["model"]["d_vocab"] == 31 and cfg["model"]["n_ctx"] == 32  # the source's plan...
    assert cfg["train"]["max_steps"] == 1  # ...except what a flag set
    assert main(["--out", str(tmp_path / "b"), "--data", "synthetic:induction?vocab=30&n=64", "--max-steps", "1",
                 "--set", "model.d_vocab=100", "--quiet", "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["d_vocab"] == 100


def test_a_synthetic_plan_never_overrides_the_length_the_user_chose(tmp_path):
    from seedling.train.__main__ import build_parser, resolve_config

    def resolved(*extra):
        args = build_parser().parse_args(["--out", str(tmp_path / "r"), "--data", "synthetic:induction", *extra])
        return resolve_config(args, tmp_path / "r")[0].train

    assert resolved().max_steps == 1500  # the source's plan
    # ...unless the user set the length: by --set the source's 1,500 steps is not applied (the preset's
    # max_steps stays and, as always, wins over max_tokens unless set to none)
    assert resolved("--set", "train.max_tokens=5000").max_steps == 300
    assert resolved("--set", "train.max_tokens=5000", "--set", "train.max_steps=none").max_tokens == 5000
    assert resolved("--epochs", "2").epochs == 2 and resolved("--epochs", "2").max_steps is None
