"""Open a finished (or running) training run: `load_run(run_dir, step=None)` -> (model, tokenizer, config).

The run directory layout is in docs/run_dir.md. Checkpoints are verified against their SHA-256
sidecar (and must agree with it on the step, the config and the run's identity) before loading and loaded with `torch.load(weights_only=True)`; the model comes back on
the CPU in eval mode.

    model, tokenizer, cfg = load_run("runs/demo")            # newest verified checkpoint
    model, tokenizer, cfg = load_run("runs/demo", step=1000)  # a particular step
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tokenizers import Tokenizer

from seedling.config import ConfigError, RunConfig
from seedling.model import GPT
from seedling.train import checkpoint_io as ckpt

__all__ = ["list_checkpoints", "load_run"]

log = logging.getLogger(__name__)


def list_checkpoints(run_dir: str | Path) -> list[int]:
    """Steps with a checkpoint file in RUN_DIR/checkpoints, ascending (not yet verified)."""
    return ckpt.list_steps(Path(run_dir) / "checkpoints")


def load_run(run_dir: str | Path, step: int | None = None) -> tuple[GPT, Tokenizer, RunConfig]:
    """The model at `step` (newest verified checkpoint when None), its tokenizer and config.

    Raises ConfigError when `run_dir` is not a run directory or `step` has no checkpoint (the
    message lists the steps that do), and CheckpointError when the requested file is corrupt.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.json); train one with "
                          "`python -m seedling.train --out DIR`")
    steps = list_checkpoints(run_dir)
    if not steps:
        raise ConfigError(f"{run_dir} holds no checkpoints yet")
    ckpt_dir = run_dir / "checkpoints"
    run_id = ckpt.read_run_id(run_dir)  # a checkpoint copied in from another run is refused
    if step is None:
        found = ckpt.latest_good(ckpt_dir, run_id=run_id)
        if found is None:
            raise ckpt.CheckpointError(f"none of the checkpoints in {ckpt_dir} verifies (steps {_fmt(steps)})")
        path, payload, _ = found
    else:
        if step not in steps:
            raise ConfigError(f"{run_dir} has no checkpoint for step {step}; available steps: {_fmt(steps)}")
        path = ckpt.checkpoint_path(ckpt_dir, step)
        payload, _ = ckpt.load_verified(path, run_id)
    cfg = RunConfig.from_dict(payload.get("config") or json.loads(cfg_path.read_text()))
    model = GPT(cfg.model)
    model.load_state_dict(payload["model"])
    model.eval()
    tok_path = run_dir / "tokenizer.json"
    if not tok_path.is_file():
        raise ConfigError(f"{run_dir} has no tokenizer.json; the run directory is incomplete")
    tokenizer = Tokenizer.from_file(str(tok_path))
    log.info("loaded %s (step %d)", path, int(payload["step"]))
    return model, tokenizer, cfg


def _fmt(steps: list[int]) -> str:
    return ", ".join(map(str, steps)) if len(steps) <= 30 else ", ".join(map(str, steps[:10] + ["..."] + steps[-10:]))
