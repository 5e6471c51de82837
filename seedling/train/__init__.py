"""Training: the loop (`Trainer`), its events, checkpoints and the `python -m seedling.train` entry.

    from seedling.train import Trainer
    trainer = Trainer(cfg, run_dir, seedling.data.prepare(cfg, run_dir))
    trainer.subscribe(my_recorder)        # any object with some of the methods in EVENTS
    trainer.fit()

The names are imported on first use, so reading checkpoints (`seedling.load_run`, which uses
`seedling.train.checkpoint_io`) never imports the training loop.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["EVENTS", "CheckpointError", "TrainState", "Trainer", "TrainingDiverged", "plan_steps"]

_HOME = {"Trainer": "seedling.train.loop", "CheckpointError": "seedling.train.checkpoint_io",
         "EVENTS": "seedling.train.state", "TrainState": "seedling.train.state",
         "TrainingDiverged": "seedling.train.state", "plan_steps": "seedling.train.state"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'seedling.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
