"""Seedling: a small GPT-2-style language model, built to be watched while it learns.

Public API (other packages and users build on these names):

    from seedling import GPT, preset, load_run
    cfg = preset("tiny")                # RunConfig with .model, .train, .data
    model = GPT(cfg.model)              # model(tokens) -> logits [batch, pos, vocab]
    model, tokenizer, cfg = load_run("runs/demo")   # latest checkpoint, eval mode, CPU
"""

from seedling.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, preset
from seedling.model import GPT
from seedling.run import list_checkpoints, load_run

__version__ = "0.1.0"

__all__ = [
    "GPT", "ConfigError", "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "list_checkpoints", "load_run",
    "preset", "__version__",
]
