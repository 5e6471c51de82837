"""A run's checkpoints: save, resume, `--init-from` and rollback (`Checkpoints`), beside the loop.

The loop (`seedling.train.loop.Trainer`) says *when*: at step 0, every `checkpoint_every` steps, at
the log-spaced early steps, when a validation loss is the best so far, and when it stops. This
class says *what* and *from where*: the payload that makes resume exact (model, optimizer, scaler,
schedule, step, tokens, every RNG, the data position, the guard), the newest checkpoint that
verifies, and what to do with one that does not (set aside under checkpoints/rejected/, reported
as a `checkpoint_corrupt` event, never deleted). Files are written and verified by
`seedling.train.checkpoint_io`.

The run's identity: `RUN_DIR/run_id` holds a random id written when the run first trains; every
checkpoint carries it, so a checkpoint copied in from another run is refused at load.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any

import torch

from seedling.config import ConfigError, RunConfig, config_diff
from seedling.train import checkpoint_io as ckpt
from seedling.train import distributed as ddp
from seedling.train.checkpoint_io import RUN_ID, read_run_id
from seedling.train.optim import Schedule, lr_at
from seedling.train.state import MAX_ROLLBACKS, RESUME_FREE_FIELDS, TrainingDiverged

__all__ = ["Checkpoints"]

log = logging.getLogger("seedling.train")

class Checkpoints:
    """Checkpoint bookkeeping of one `Trainer`: it reads and restores the trainer's parts."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.dir = trainer.run_dir / "checkpoints"
        self.best_val = math.inf
        self.last_saved = -1
        self.run_id = read_run_id(trainer.run_dir)

    # --- the run's identity ------------------------------------------------------------------------

    def claim_run_id(self) -> str:
        """Write RUN_DIR/run_id if the run has none yet (a new run, or one from before run ids)."""
        if self.run_id is None:
            self.run_id = uuid.uuid4().hex
        path = self.trainer.run_dir / RUN_ID
        if read_run_id(self.trainer.run_dir) != self.run_id:
            tmp = path.with_name(f".{RUN_ID}.tmp")
            tmp.write_text(self.run_id + "\n", encoding="utf-8")
            os.replace(tmp, path)
        return self.run_id

    # --- saving ------------------------------------------------------------------------------------

    def save(self, best: bool = False) -> Path | None:
        """Write checkpoints/step_NNNNNNN.pt (or best.pt) from rank 0; other ranks wait."""
        tr = self.trainer
        st = tr.state
        if not best:
            tr.emit("on_checkpoint")
        if not all(bool(torch.isfinite(p).all()) for p in tr.model.parameters()):
            log.warning("step %d: weights are not finite; not saving a checkpoint of them", st.step)
            return None
        payload = self.payload()
        fingerprints = ddp.all_gather_objects(ddp.fingerprint(tr.model), tr.dist)
        if any(f != fingerprints[0] for f in fingerprints):
            raise RuntimeError(f"ranks disagree on the weights at step {st.step}: {fingerprints}")
        path = self.dir / "best.pt" if best else ckpt.checkpoint_path(self.dir, st.step)
        if tr.dist.is_main:
            meta = {"val_loss": self.best_val if best else None, "best_val_loss": self.best_val,
                    "config": tr.config.to_dict(), "world_size": tr.dist.world_size,
                    "rank_fingerprints": fingerprints, "precision": tr.precision}
            ckpt.save(path, payload, meta)
            if not best:
                t = tr.config.train
                ckpt.prune(self.dir, t.keep_last, t.checkpoint_every if t.log_checkpoints else None,
                           tr.total_steps, t.keep_grid)
                tr.event("checkpoint", file=path.name)
            log.debug("saved %s", path)
        ddp.barrier(tr.dist)
        if not best:
            self.last_saved = st.step
        return path

    def note_val_loss(self, val_loss: float) -> None:
        """Keep best.pt at the lowest validation loss so far (never at step 0: nothing was learned)."""
        if math.isfinite(val_loss) and val_loss < self.best_val:
            self.best_val = val_loss
            if self.trainer.state.step > 0:
                self.save(best=True)

    def payload(self) -> dict[str, Any]:
        tr = self.trainer
        st = tr.state
        per_rank = ddp.all_gather_objects({"rng": ckpt.capture_rng(), "data": tr.sampler.state_dict()}, tr.dist)
        return {
            "format": ckpt.FORMAT,
            "model": tr.model.state_dict(),
            "optimizer": tr.optimizer.state_dict(),
            "scaler": tr.scaler.state_dict() if tr.scaler.is_enabled() else {},
            "schedule": {"total_steps": tr.total_steps, "scale": tr.schedule.scale},
            "step": st.step, "tokens": st.tokens, "elapsed": st.elapsed, "best_val_loss": self.best_val,
            "rng": [r["rng"] for r in per_rank],  # indexed by rank
            "data": [r["data"] for r in per_rank],
            "guard": tr.guard.state_dict(),
            "config": tr.config.to_dict(),
            "run_id": self.run_id,
        }

    # --- resuming ----------------------------------------------------------------------------------

    def resume(self) -> bool:
        """Restore everything from the newest checkpoint that verifies; False if there is none.

        Checkpoints that fail verification (truncated, bit-flipped, no sidecar, another step's or
        another run's files) are set aside under checkpoints/rejected/ and reported. A checkpoint
        whose config differs in a field that changes the computation is refused (ConfigError).
        """
        tr = self.trainer
        found = ckpt.latest_good(self.dir, on_bad=self._reject, run_id=self.run_id)
        if found is None:
            return False
        path, payload, _ = found
        saved = RunConfig.from_dict(payload["config"])
        diff = config_diff(saved, tr.config, ignore=RESUME_FREE_FIELDS)
        if diff:
            raise ConfigError(f"cannot resume {path}: the config differs in {'; '.join(diff)}")
        self._restore(payload)
        self.run_id = self.run_id or payload.get("run_id")
        tr.state.resumed = True
        if tr.metrics is not None:
            tr.metrics.truncate_after(tr.state.step)
        self.last_saved = tr.last_eval = tr.state.step
        tr.event("resume", file=path.name)
        log.info("resumed from %s at step %d (%s tokens)", path.name, tr.state.step, f"{tr.state.tokens:,}")
        return True

    def _reject(self, pt: Path, why: str) -> None:
        tr = self.trainer
        tr.event("checkpoint_corrupt", file=pt.name, reason=why)
        if tr.dist.is_main:
            ckpt.set_aside(pt, why)
        ddp.barrier(tr.dist)

    def _restore(self, p: dict[str, Any]) -> None:
        tr = self.trainer
        if len(p["data"]) != tr.dist.world_size:
            raise ConfigError(f"the checkpoint was written by {len(p['data'])} rank(s); resume with the same number "
                              f"of processes, not {tr.dist.world_size}")
        tr.model.load_state_dict(p["model"])
        tr.optimizer.load_state_dict(p["optimizer"])
        if tr.scaler.is_enabled():
            if not p["scaler"]:
                raise ckpt.CheckpointError("the checkpoint has no GradScaler state but this run uses fp16")
            tr.scaler.load_state_dict(p["scaler"])
        tr.total_steps = int(p["schedule"]["total_steps"])
        tr.schedule = Schedule.from_config(tr.config.train, tr.total_steps, scale=float(p["schedule"]["scale"]))
        tr.guard.load_state_dict(p["guard"])
        st = tr.state
        st.step, st.tokens, st.elapsed = int(p["step"]), int(p["tokens"]), float(p["elapsed"])
        st.lr = lr_at(st.step + 1, tr.schedule)
        self.best_val = float(p["best_val_loss"])
        tr.sampler.load_state_dict(p["data"][tr.dist.rank])
        ckpt.restore_rng(p["rng"][tr.dist.rank])

    # --- other runs' weights, and going back -------------------------------------------------------

    def init_from(self, source: Path) -> Path:
        """Start from another run's weights (continued pre-training or fine-tuning): the model
        only; optimizer, schedule, data and step start fresh under this run's config."""
        tr = self.trainer
        source = Path(source)
        if source.is_dir():
            found = ckpt.latest_good(source / "checkpoints" if (source / "checkpoints").is_dir() else source)
            if found is None:
                raise ConfigError(f"--init-from {source}: no verified checkpoint there")
            path, payload, _ = found
        else:
            path = source
            payload, _ = ckpt.load_verified(source)
        diff = [d for d in config_diff(RunConfig.from_dict(payload["config"]), tr.config) if d.startswith("model.")]
        if diff:
            raise ConfigError(f"--init-from {path}: the model shape differs in {'; '.join(diff)}")
        tr.model.load_state_dict(payload["model"])
        tr.event("init_from", file=str(path), source_step=int(payload["step"]))
        log.info("initialised weights from %s (step %d of that run)", path, int(payload["step"]))
        return path

    def rollback(self) -> None:
        """After `patience` bad steps: restore weights, optimizer and scaler from the last good
        checkpoint and multiply the learning rate by `rollback_lr_factor`. The step counter, the
        data stream and the schedule keep going forward, so the batches around the blow-up are not
        replayed and step numbers stay strictly increasing in metrics.jsonl and the store."""
        tr = self.trainer
        st, t = tr.state, tr.config.train
        if tr.guard.rollbacks > MAX_ROLLBACKS:
            raise TrainingDiverged(f"gave up after {MAX_ROLLBACKS} rollbacks; lower train.lr or check the data")
        found = ckpt.latest_good(self.dir, max_step=st.step, run_id=self.run_id)
        if found is None:
            raise TrainingDiverged(f"{t.bad_step_patience} non-finite steps in a row and no good checkpoint to return to")
        path, payload, _ = found
        tr.model.load_state_dict(payload["model"])
        tr.optimizer.load_state_dict(payload["optimizer"])
        if tr.scaler.is_enabled() and payload["scaler"]:
            tr.scaler.load_state_dict(payload["scaler"])
        old = tr.schedule.scale
        tr.schedule = Schedule.from_config(t, tr.total_steps, scale=old * t.rollback_lr_factor)
        tr.event("rollback", file=path.name, to_step=int(payload["step"]), lr_scale=tr.schedule.scale)
        log.warning("step %d: %d non-finite steps in a row; rolled back to %s and scaled the learning rate by %g "
                    "(now x%g of plan)", st.step, t.bad_step_patience, path.name, t.rollback_lr_factor,
                    tr.schedule.scale)
