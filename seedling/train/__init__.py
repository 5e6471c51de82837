"""Training: the loop (`Trainer`), its events, checkpoints and the `python -m seedling.train` entry.

    from seedling.train import Trainer
    trainer = Trainer(cfg, run_dir, seedling.data.prepare(cfg, run_dir))
    trainer.subscribe(my_recorder)        # any object with some of the methods in EVENTS
    trainer.fit()
"""

from seedling.train.checkpoint import CheckpointError
from seedling.train.loop import Trainer
from seedling.train.state import EVENTS, TrainingDiverged, TrainState, plan_steps

__all__ = ["EVENTS", "CheckpointError", "TrainState", "Trainer", "TrainingDiverged", "plan_steps"]
