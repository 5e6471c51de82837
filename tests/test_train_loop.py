"""The training loop in-process on tiny shapes: events, metrics, the guard, fp16 scaling, init-from, load_run."""

import math

import pytest
import torch

from seedling import load_run
from seedling.config import ConfigError
from seedling.data import prepare
from seedling.train import EVENTS, Trainer
from seedling.train import checkpoint_io as ckpt
from seedling.train.metrics import read_metrics
from tests.train_util import one_thread, tiny_config


@pytest.fixture(autouse=True)
def _cache_and_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDLING_CACHE", str(tmp_path / "cache"))
    with one_thread():
        yield


def _trainer(run_dir, extra=()):
    cfg = tiny_config(list(extra))
    return Trainer(cfg, run_dir, prepare(cfg, run_dir))


class EventLog:
    """Records which events fire, in order, and what the state looked like."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if name not in EVENTS:
            raise AttributeError(name)
        return lambda state, *a: self.calls.append((name, state.step, state.model))


def test_events_metrics_and_falling_loss(tmp_path):
    tr = _trainer(tmp_path, ["train.max_steps=30"])
    log = tr.subscribe(EventLog())
    with pytest.raises(TypeError):
        tr.subscribe(object())
    state = tr.fit()
    names = [c[0] for c in log.calls]
    assert names[0] == "on_train_start" and names[-1] == "on_train_end"
    assert names.count("on_step_end") == names.count("on_after_backward") == 30
    assert names.count("on_eval") == 7  # steps 0, 5, ..., 30
    assert all(c[2] is tr.model for c in log.calls)  # the raw module, never a wrapper
    after_backward = [s for n, s, _ in log.calls if n == "on_after_backward"]
    assert after_backward == list(range(30))  # fires before the step counter moves
    steps = read_metrics(tmp_path / "metrics.jsonl", "step")
    assert [r["step"] for r in steps] == list(range(1, 31))
    assert {"step", "loss", "lr", "grad_norm", "tokens", "elapsed"} <= set(steps[0])
    assert steps[-1]["tokens"] == 30 * 4 * 2 * 32 == state.tokens
    evals = read_metrics(tmp_path / "metrics.jsonl", "eval")
    assert evals[-1]["val_loss"] < evals[0]["val_loss"] - 0.05
    assert evals[-1]["val_ppl"] == pytest.approx(math.exp(evals[-1]["val_loss"]))
    assert ckpt.list_steps(tmp_path / "checkpoints") == [0, 1, 2, 4, 5, 10, 15, 20, 25, 30]  # log series + grid + last 3
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


class CorruptWeights:
    """A fault injector: puts inf into the embedding after step `at`, then watches the optimizer."""

    def __init__(self, at):
        self.at, self.exp_avg_before, self.unchanged = at, None, []

    def on_step_end(self, state):
        if state.step == self.at:
            with torch.no_grad():
                state.model.wte.weight[3, 0] = float("inf")
        if self.exp_avg_before is not None:
            after = state.optimizer.state[state.model.wte.weight]["exp_avg"]
            self.unchanged.append(torch.equal(after, self.exp_avg_before))
            self.exp_avg_before = None

    def on_after_backward(self, state):
        if not math.isfinite(state.loss):
            self.exp_avg_before = state.optimizer.state[state.model.wte.weight]["exp_avg"].clone()


def test_guard_skips_then_rolls_back_and_training_recovers(tmp_path):
    tr = _trainer(tmp_path, ["train.max_steps=20", "train.bad_step_patience=3", "train.rollback_lr_factor=0.5"])
    inj = tr.subscribe(CorruptWeights(at=7))
    tr.fit()
    m = read_metrics(tmp_path / "metrics.jsonl")
    skips = [r for r in m if r["event"] == "skip"]
    assert [r["step"] for r in skips] == [8, 9, 10]
    assert inj.unchanged == [True, True, True]  # skipped steps leave optimizer state alone
    (rb,) = [r for r in m if r["event"] == "rollback"]
    assert rb["step"] == 10 and rb["to_step"] == 5 and rb["lr_scale"] == 0.5
    steps = {r["step"]: r for r in m if r["event"] == "step"}
    assert [s for s in steps if steps[s]["skipped"]] == [8, 9, 10]
    assert all(math.isfinite(steps[s]["loss"]) for s in range(11, 21))
    planned = tiny_config(["train.max_steps=20"])
    from seedling.train.optim import Schedule, lr_at
    assert steps[15]["lr"] == pytest.approx(0.5 * lr_at(15, Schedule.from_config(planned.train, 20)))
    assert ckpt.verify(ckpt.checkpoint_path(tmp_path / "checkpoints", 20))
    assert all(bool(torch.isfinite(p).all()) for p in tr.model.parameters())


class WatchScaler:
    """Per step: was it skipped, the loss scale it used, and whether the weights stayed the same."""

    def __init__(self):
        self.before, self.seen = None, []

    def on_after_backward(self, state):
        self.before = state.model.wte.weight.detach().clone()

    def on_step_end(self, state):
        self.seen.append((state.skipped, state.loss_scale, torch.equal(state.model.wte.weight, self.before)))


def test_fp16_grad_scaler_skips_overflow_and_unscales_before_clipping(tmp_path):
    tr = _trainer(tmp_path, ["train.max_steps=8", "train.precision=fp16", "train.grad_clip=0.5"])
    tr.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24)  # large enough to overflow fp16 gradients
    seen = tr.subscribe(WatchScaler()).seen
    tr.fit()
    m = read_metrics(tmp_path / "metrics.jsonl")
    skips = [r["step"] for r in m if r["event"] == "scaler_skip"]
    assert skips and skips == [i + 1 for i, (skipped, _, _) in enumerate(seen) if skipped]
    assert all(unchanged == skipped for skipped, _, unchanged in seen)  # a skipped step changes nothing
    for (skipped, scale, _), (_, next_scale, _) in zip(seen, seen[1:]):
        assert next_scale == (scale / 2 if skipped else scale)  # the scale halves on each overflow
    good = [r for r in m if r["event"] == "step" and not r["skipped"]]
    # unscaled before clipping: the norm is in true units (not ~2^20 times larger), clipped to 0.5
    assert good and all(r["grad_norm"] < 10 and r["grad_norm_clipped"] <= 0.5 + 1e-6 for r in good)
    assert tr.guard.bad_steps == 0 and tr.guard.scaler_skips == len(skips)
    payload, _ = ckpt.load_verified(ckpt.checkpoint_path(tmp_path / "checkpoints", 8))
    assert payload["scaler"]["scale"] == tr.scaler.get_scale()


def test_resume_refuses_changed_config_and_init_from_starts_fresh(tmp_path):
    a = tmp_path / "a"
    tr = _trainer(a, ["train.max_steps=5"])
    tr.fit()
    changed = _trainer(a, ["train.max_steps=5", "train.lr=1e-2"])
    with pytest.raises(ConfigError, match=r"train.lr: 0.003 -> 0.01"):
        changed.checkpoints.resume()
    b = tmp_path / "b"
    ft = _trainer(b, ["train.max_steps=3", "train.lr=1e-4", "train.min_lr=1e-5", "data.source=synthetic:induction"])
    ft.checkpoints.init_from(a)
    assert torch.equal(ft.model.wte.weight, tr.model.wte.weight) and ft.state.step == 0 and not ft.optimizer.state
    ft.fit()
    assert read_metrics(b / "metrics.jsonl", "step")[-1]["step"] == 3
    wide = _trainer(tmp_path / "c", ["model.d_model=64"])
    with pytest.raises(ConfigError, match="model.d_model"):
        wide.checkpoints.init_from(a)


def test_load_run(tmp_path):
    _trainer(tmp_path, ["train.max_steps=6"]).fit()
    model, tok, cfg = load_run(tmp_path)
    payload, _ = ckpt.load_verified(ckpt.checkpoint_path(tmp_path / "checkpoints", 6))
    assert not model.training and cfg.model.d_model == 32 and tok.get_vocab_size() == 257
    assert all(torch.equal(v, payload["model"][k]) for k, v in model.state_dict().items())
    assert load_run(tmp_path, step=2)[0].wte.weight.shape == model.wte.weight.shape
    with pytest.raises(ConfigError, match=r"available steps: 0, 1, 2, 4, 5, 6"):
        load_run(tmp_path, step=3)
    with pytest.raises(ConfigError, match="not a run directory"):
        load_run(tmp_path / "checkpoints")


def test_resume_skips_a_corrupt_latest_checkpoint(tmp_path):
    _trainer(tmp_path, ["train.max_steps=7"]).fit()
    latest = ckpt.checkpoint_path(tmp_path / "checkpoints", 7)
    latest.write_bytes(latest.read_bytes()[:-100])  # truncated, as by a full disk outside our control
    tr = _trainer(tmp_path, ["train.max_steps=7"])
    assert tr.checkpoints.resume() and tr.state.step == 5
    (bad,) = read_metrics(tmp_path / "metrics.jsonl", "checkpoint_corrupt")
    assert bad["file"] == "step_0000007.pt" and "SHA-256" in bad["reason"]
    assert max(r["step"] for r in read_metrics(tmp_path / "metrics.jsonl", "step")) == 5  # cut back to the resume
    tr.fit()
    assert ckpt.verify(latest)["step"] == 7


def test_bf16_autocast_trains_without_a_scaler(tmp_path):
    tr = _trainer(tmp_path, ["train.max_steps=3", "train.precision=bf16"])
    assert not tr.scaler.is_enabled()
    tr.fit()
    steps = read_metrics(tmp_path / "metrics.jsonl", "step")
    assert [r["loss_scale"] for r in steps] == [1.0, 1.0, 1.0] and not any(r["skipped"] for r in steps)
    assert tr.model.wte.weight.dtype == torch.float32  # autocast computes in bf16; the weights stay fp32
