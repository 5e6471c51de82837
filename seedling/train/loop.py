"""The training loop: `Trainer.fit()` reads top to bottom; extensions subscribe to named events.

One optimizer step: draw `grad_accum` micro-batches, run forward under autocast, backward the
token-weighted loss (sum of token losses / tokens in the step, so micro-batches of different sizes
weigh by their tokens), unscale, measure the global gradient norm, tell subscribers
(`on_after_backward`), let the explosion guard judge the step, clip, set the planned learning
rate, step the optimizer, write one line of metrics.jsonl, tell subscribers (`on_step_end`).
Every `eval_every` steps a fixed validation set is scored (`on_eval`); every `checkpoint_every`
steps, and at steps 0, 1, 2, 4, ... early on, a checkpoint is written (`on_checkpoint` first).

Events and `TrainState` fields are the contract in docs/architecture.md. `state.model` is always
the raw module (never the DDP or torch.compile wrapper), so parameter names stay clean.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import clip_grads_with_norm_, get_total_norm

from seedling.config import ConfigError, RunConfig, config_diff
from seedling.data import BatchSampler, val_batches
from seedling.model import GPT
from seedling.train import checkpoint as ckpt
from seedling.train import distributed as ddp
from seedling.train.guard import ExplosionGuard, Verdict
from seedling.train.metrics import MetricsFile
from seedling.train.optim import Schedule, build_optimizer, lr_at
from seedling.train.precision import autocast, make_scaler, resolve_precision
from seedling.train.state import (
    EVENTS,
    MAX_ROLLBACKS,
    RESUME_FREE_FIELDS,
    TrainingDiverged,
    TrainState,
    peak_memory_mb,
    plan_steps,
    seed_everything,
    stop_on_signals,
)

__all__ = ["EVENTS", "RESUME_FREE_FIELDS", "TrainState", "Trainer", "TrainingDiverged", "plan_steps"]

log = logging.getLogger("seedling.train")

class Trainer:
    """Builds model, optimizer, scaler and sampler for `config` and trains them into `run_dir`."""

    def __init__(self, config: RunConfig, run_dir: Path, data: Any, *, dist: ddp.DistInfo | None = None,
                 device: torch.device | None = None) -> None:

        self.config, self.run_dir, self.data = config, Path(run_dir), data
        self.dist = dist or ddp.DistInfo()
        t = config.train
        self.device = device or torch.device("cpu")
        self.precision = resolve_precision(t.precision, self.device)
        seed_everything(t.seed)
        self.model = GPT(config.model).to(self.device)
        if self.dist.enabled:  # different dropout masks per rank; same initial weights (seeded above)
            torch.manual_seed(t.seed + self.dist.rank)
        self.optimizer = build_optimizer(self.model, t)
        self.scaler = make_scaler(self.precision, self.device)
        self.sampler = BatchSampler(data.train, config.model.n_ctx, t.micro_batch_size, t.seed,
                                    rank=self.dist.rank, world_size=self.dist.world_size)
        self.total_steps = plan_steps(config, data.n_sequences(config.model.n_ctx), self.dist.world_size)
        self.schedule = Schedule.from_config(t, self.total_steps)
        self.guard = ExplosionGuard(t.bad_step_patience)
        self.best_val = math.inf
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.metrics = MetricsFile(self.run_dir / "metrics.jsonl") if self.dist.is_main else None
        self.forward = self._wrap(self.model)
        self.state = TrainState(model=self.model, optimizer=self.optimizer, config=config, run_dir=self.run_dir,
                                tokenizer=getattr(data, "tokenizer", None), device=self.device,
                                is_main=self.dist.is_main, lr=lr_at(1, self.schedule))
        self._subscribers: list[Any] = []
        self._stop_requested = False
        self._last_saved = self._last_eval = -1

    def subscribe(self, obj: Any) -> Any:
        """Call `obj`'s event methods (any of EVENTS) from now on; returns obj."""
        if not any(callable(getattr(obj, e, None)) for e in EVENTS):
            raise TypeError(f"{type(obj).__name__} has none of the training events {', '.join(EVENTS)}")
        self._subscribers.append(obj)
        return obj

    # --- the loop --------------------------------------------------------------------------------

    def fit(self) -> TrainState:
        st = self.state
        self._wall0 = time.perf_counter() - st.elapsed
        if self.dist.is_main:  # the resolved config, so the run can always be rebuilt
            tmp = self.run_dir / ".config.json.tmp"
            tmp.write_text(self.config.to_json() + "\n")
            os.replace(tmp, self.run_dir / "config.json")
        self._emit("on_train_start")
        log.info("training %s for %d steps (%s, %s precision, %d rank(s), %s parameters)", self.config.preset,
                 self.total_steps, self.device, self.precision, self.dist.world_size, f"{self.model.num_params():,}")
        try:
            with stop_on_signals(self):
                if st.step == 0 and not st.resumed:
                    self.evaluate()
                    self.save_checkpoint()
                while st.step < self.total_steps and not self._should_stop():
                    self.train_step()
                    if st.step % self.config.train.eval_every == 0:
                        self.evaluate()
                    if self._checkpoint_due(st.step):
                        self.save_checkpoint()
                if self._stop_requested:
                    self.save_checkpoint()
                    self._event("interrupt", message="stopped by a signal; checkpoint saved")
                    log.warning("interrupted at step %d: checkpoint saved; run the same command to resume", st.step)
                elif st.resumed and self._last_eval == self._last_saved == st.step == self.total_steps:
                    log.info("the plan's %d steps were already done; nothing to train", self.total_steps)
                else:
                    if self._last_eval != st.step:
                        self.evaluate()
                    if self._last_saved != st.step:
                        self.save_checkpoint()
                    self._finish()
        finally:
            self._emit("on_train_end")
            if self.metrics is not None:
                self.metrics.close()
        return st

    def train_step(self) -> None:
        """One optimizer step over `grad_accum` micro-batches."""
        st, t, opt = self.state, self.config.train, self.optimizer
        opt.zero_grad(set_to_none=True)
        batches = [self.sampler.next_batch() for _ in range(t.grad_accum)]
        n_tokens = sum(int((y != -1).sum()) for _, y in batches)
        loss_sum = torch.zeros((), device=self.device)
        for i, (x, y) in enumerate(batches):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            # DDP all-reduces gradients on the last micro-batch only.
            sync = self.forward.no_sync() if self.dist.enabled and i < len(batches) - 1 else contextlib.nullcontext()
            with sync:
                with autocast(self.precision, self.device):
                    _, loss = self.forward(x, y, reduction="sum")
                loss = loss / n_tokens  # token-weighted mean over the whole step
                self.scaler.scale(loss).backward()
            loss_sum += loss.detach()
        self.scaler.unscale_(opt)  # a no-op without fp16: gradients are now in true units
        params = [p for p in self.model.parameters() if p.grad is not None]
        grad_norm = get_total_norm([p.grad for p in params])
        st.loss = float(ddp.all_mean(loss_sum, self.dist))
        st.grad_norm = float(grad_norm)
        st.loss_scale = float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0
        self._emit("on_after_backward")

        verdict = self.guard.check(st.loss, st.grad_norm, self.scaler.is_enabled() and st.loss_scale > 1.0)
        st.lr = lr_at(st.step + 1, self.schedule)
        st.grad_norm_clipped = st.grad_norm
        if verdict in (Verdict.OK, Verdict.SCALER_SKIP):
            if t.grad_clip > 0 and verdict == Verdict.OK:
                clip_grads_with_norm_(params, t.grad_clip, grad_norm)
                st.grad_norm_clipped = min(st.grad_norm, t.grad_clip)
            for group in opt.param_groups:
                group["lr"] = st.lr
            self.scaler.step(opt)  # skips the update by itself when it found inf/NaN gradients
        if self.scaler.is_enabled():
            self.scaler.update()
        st.skipped = verdict != Verdict.OK
        st.step += 1
        st.tokens += n_tokens * self.dist.world_size
        st.elapsed = time.perf_counter() - self._wall0
        self._record_step(verdict)
        self._emit("on_step_end")
        if verdict == Verdict.ROLLBACK:
            self.rollback()

    def evaluate(self) -> dict[str, float]:
        """Mean next-token loss (nats) on the fixed validation batches, and perplexity exp(loss)."""
        t, model = self.config.train, self.model
        was_training = model.training
        model.eval()
        total, n = torch.zeros((), dtype=torch.float64), 0
        with torch.no_grad(), autocast(self.precision, self.device):
            for x, y in val_batches(self.data.val, self.config.model.n_ctx, t.micro_batch_size, t.eval_batches):
                _, loss = model(x.to(self.device), y.to(self.device), reduction="sum")
                total += loss.double().cpu()
                n += int((y != -1).sum())
        model.train(was_training)
        val_loss = float(total / max(n, 1))
        metrics = {"val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 700.0))}
        self._last_eval = self.state.step
        self._event("eval", **metrics)
        log.info("step %d: validation loss %.4f nats (perplexity %.1f)", self.state.step, val_loss, metrics["val_ppl"])
        self._emit("on_eval", metrics)
        if math.isfinite(val_loss) and val_loss < self.best_val:
            self.best_val = val_loss
            if self.state.step > 0:
                self.save_checkpoint(best=True)
        return metrics

    # --- checkpoints -----------------------------------------------------------------------------

    def save_checkpoint(self, best: bool = False) -> Path | None:
        """Write checkpoints/step_NNNNNNN.pt (or best.pt) from rank 0; other ranks wait."""
        st = self.state
        if not best:
            self._emit("on_checkpoint")
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            log.warning("step %d: weights are not finite; not saving a checkpoint of them", st.step)
            return None
        payload = self._payload()
        fingerprints = ddp.all_gather_objects(ddp.fingerprint(self.model), self.dist)
        if any(f != fingerprints[0] for f in fingerprints):
            raise RuntimeError(f"ranks disagree on the weights at step {st.step}: {fingerprints}")
        path = self.ckpt_dir / "best.pt" if best else ckpt.checkpoint_path(self.ckpt_dir, st.step)
        if self.dist.is_main:
            meta = {"val_loss": self.best_val if best else None, "best_val_loss": self.best_val,
                    "config": self.config.to_dict(), "world_size": self.dist.world_size,
                    "rank_fingerprints": fingerprints, "precision": self.precision}
            ckpt.save(path, payload, meta)
            if not best:
                t = self.config.train
                ckpt.prune(self.ckpt_dir, t.keep_last, t.checkpoint_every if t.log_checkpoints else None,
                           self.total_steps, t.keep_grid)
                self._event("checkpoint", file=path.name)
            log.debug("saved %s", path)
        ddp.barrier(self.dist)
        if not best:
            self._last_saved = st.step
        return path

    def resume(self) -> bool:
        """Restore everything from the newest good checkpoint in run_dir; False if there is none.

        Corrupt or truncated checkpoints are reported and skipped. A checkpoint whose config
        differs in a field that changes the computation is refused (ConfigError listing fields).
        """
        found = ckpt.latest_good(self.ckpt_dir, on_bad=lambda p, why: self._event("checkpoint_corrupt",
                                                                                  file=p.name, reason=why))
        if found is None:
            return False
        path, payload, _ = found
        saved = RunConfig.from_dict(payload["config"])
        diff = config_diff(saved, self.config, ignore=RESUME_FREE_FIELDS)
        if diff:
            raise ConfigError(f"cannot resume {path}: the config differs in {'; '.join(diff)}")
        self._restore(payload)
        self.state.resumed = True
        if self.metrics is not None:
            self.metrics.truncate_after(self.state.step)
        self._last_saved = self._last_eval = self.state.step
        self._event("resume", file=path.name)
        log.info("resumed from %s at step %d (%s tokens)", path.name, self.state.step, f"{self.state.tokens:,}")
        return True

    def init_from(self, source: Path) -> Path:
        """Start from another run's weights (continued pre-training or fine-tuning): the model
        only; optimizer, schedule, data and step start fresh under this run's config."""
        source = Path(source)
        if source.is_dir():
            found = ckpt.latest_good(source / "checkpoints" if (source / "checkpoints").is_dir() else source)
            if found is None:
                raise ConfigError(f"--init-from {source}: no verified checkpoint there")
            path, payload, _ = found
        else:
            path = source
            payload, _ = ckpt.load_verified(source)
        diff = [d for d in config_diff(RunConfig.from_dict(payload["config"]), self.config) if d.startswith("model.")]
        if diff:
            raise ConfigError(f"--init-from {path}: the model shape differs in {'; '.join(diff)}")
        self.model.load_state_dict(payload["model"])
        self._event("init_from", file=str(path), source_step=int(payload["step"]))
        log.info("initialised weights from %s (step %d of that run)", path, int(payload["step"]))
        return path

    def rollback(self) -> None:
        """After `patience` bad steps: restore weights, optimizer and scaler from the last good
        checkpoint and multiply the learning rate by `rollback_lr_factor`. The step counter, the
        data stream and the schedule keep going forward, so the batches around the blow-up are not
        replayed and step numbers stay strictly increasing in metrics.jsonl and the store."""
        st, t = self.state, self.config.train
        if self.guard.rollbacks > MAX_ROLLBACKS:
            raise TrainingDiverged(f"gave up after {MAX_ROLLBACKS} rollbacks; lower train.lr or check the data")
        found = ckpt.latest_good(self.ckpt_dir, max_step=st.step)
        if found is None:
            raise TrainingDiverged(f"{t.bad_step_patience} non-finite steps in a row and no good checkpoint to return to")
        path, payload, _ = found
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scaler.is_enabled() and payload["scaler"]:
            self.scaler.load_state_dict(payload["scaler"])
        old = self.schedule.scale
        self.schedule = Schedule.from_config(t, self.total_steps, scale=old * t.rollback_lr_factor)
        self._event("rollback", file=path.name, to_step=int(payload["step"]), lr_scale=self.schedule.scale)
        log.warning("step %d: %d non-finite steps in a row; rolled back to %s and scaled the learning rate by %g "
                    "(now x%g of plan)", st.step, t.bad_step_patience, path.name, t.rollback_lr_factor,
                    self.schedule.scale)

    # --- internals -------------------------------------------------------------------------------

    def _payload(self) -> dict[str, Any]:
        st = self.state
        per_rank = ddp.all_gather_objects({"rng": ckpt.capture_rng(), "data": self.sampler.state_dict()}, self.dist)
        return {
            "format": ckpt.FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "schedule": {"total_steps": self.total_steps, "scale": self.schedule.scale},
            "step": st.step, "tokens": st.tokens, "elapsed": st.elapsed, "best_val_loss": self.best_val,
            "rng": [r["rng"] for r in per_rank],  # indexed by rank
            "data": [r["data"] for r in per_rank],
            "guard": self.guard.state_dict(),
            "config": self.config.to_dict(),
        }

    def _restore(self, p: dict[str, Any]) -> None:
        if len(p["data"]) != self.dist.world_size:
            raise ConfigError(f"the checkpoint was written by {len(p['data'])} rank(s); resume with the same number "
                              f"of processes, not {self.dist.world_size}")
        self.model.load_state_dict(p["model"])
        self.optimizer.load_state_dict(p["optimizer"])
        if self.scaler.is_enabled():
            if not p["scaler"]:
                raise ckpt.CheckpointError("the checkpoint has no GradScaler state but this run uses fp16")
            self.scaler.load_state_dict(p["scaler"])
        self.total_steps = int(p["schedule"]["total_steps"])
        self.schedule = Schedule.from_config(self.config.train, self.total_steps, scale=float(p["schedule"]["scale"]))
        self.guard.load_state_dict(p["guard"])
        st = self.state
        st.step, st.tokens, st.elapsed = int(p["step"]), int(p["tokens"]), float(p["elapsed"])
        st.lr = lr_at(st.step + 1, self.schedule)
        self.best_val = float(p["best_val_loss"])
        self.sampler.load_state_dict(p["data"][self.dist.rank])
        ckpt.restore_rng(p["rng"][self.dist.rank])

    def _wrap(self, model: nn.Module) -> nn.Module:
        fwd: nn.Module = model
        if self.config.train.compile:
            fwd = torch.compile(fwd)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            fwd = nn.parallel.DistributedDataParallel(fwd, device_ids=ids)
        return fwd

    def _checkpoint_due(self, step: int) -> bool:
        t = self.config.train
        return step % t.checkpoint_every == 0 or (t.log_checkpoints and ckpt.is_log_step(step, t.checkpoint_every))

    def _record_step(self, verdict: str) -> None:
        st = self.state
        self._event("step", loss=st.loss, lr=st.lr, grad_norm=st.grad_norm, grad_norm_clipped=st.grad_norm_clipped,
                    loss_scale=st.loss_scale, tokens=st.tokens, elapsed=round(st.elapsed, 3), skipped=st.skipped)
        if verdict == Verdict.SCALER_SKIP:
            self._event("scaler_skip", loss_scale_next=float(self.scaler.get_scale()), total=self.guard.scaler_skips)
            log.info("step %d: fp16 gradients overflowed; GradScaler skipped the update and lowered its scale to %g",
                     st.step, self.scaler.get_scale())
        elif verdict in (Verdict.SKIP, Verdict.ROLLBACK):
            self._event("skip", reason=f"non-finite loss ({st.loss}) or gradient norm ({st.grad_norm})",
                        consecutive=self.guard.consecutive or self.config.train.bad_step_patience)
            log.warning("step %d skipped: loss %s, gradient norm %s are not both finite; weights unchanged",
                        st.step, st.loss, st.grad_norm)
        interval = max(1, self.total_steps // 10)
        if st.step % interval == 0 or st.step <= 2:
            rate = st.tokens / max(st.elapsed, 1e-9)
            log.info("step %d/%d: loss %.4f, lr %.3g, gradient norm %.3g, %s tokens/s", st.step, self.total_steps,
                     st.loss, st.lr, st.grad_norm, f"{rate:,.0f}")

    def _finish(self) -> None:
        st = self.state
        peak = peak_memory_mb(self.device)
        rate = st.tokens / max(st.elapsed, 1e-9)
        self._event("end", tokens_per_s=rate, peak_memory_mb=peak, best_val_loss=self.best_val,
                    bad_steps=self.guard.bad_steps, scaler_skips=self.guard.scaler_skips, rollbacks=self.guard.rollbacks)
        log.info("finished %d steps: %s tokens in %.0f s (%s tokens/s), peak memory %.0f MB, best validation loss %.4f",
                 st.step, f"{st.tokens:,}", st.elapsed, f"{rate:,.0f}", peak, self.best_val)

    def _event(self, name: str, **fields: Any) -> None:
        if self.metrics is not None:
            self.metrics.append({"event": name, "step": self.state.step, **fields})

    def _emit(self, event: str, *args: Any) -> None:
        for sub in self._subscribers:
            fn = getattr(sub, event, None)
            if fn is not None:
                fn(self.state, *args)

    def _should_stop(self) -> bool:
        self._stop_requested = ddp.any_true(self._stop_requested, self.device, self.dist)
        return self._stop_requested
