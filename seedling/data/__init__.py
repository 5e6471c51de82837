"""The data pipeline: corpus sources, document split, tokenization to cached token files, batches.

    from seedling.data import prepare, BatchSampler, val_batches
    data = prepare(cfg, run_dir)                      # PreparedData: tokenizer, train, val, counts
    sampler = BatchSampler(data.train, cfg.model.n_ctx, cfg.train.micro_batch_size, seed=cfg.train.seed)
    x, y = sampler.next_batch()                       # int64 (batch, n_ctx); y = x shifted by one
    val = val_batches(data.val, cfg.model.n_ctx, cfg.train.micro_batch_size, cfg.train.eval_batches)

`cfg.data.source`: `builtin` | a .txt/.md/.jsonl file or folder | `hf:NAME[:CONFIG]` |
`synthetic:induction` | `synthetic:bigram` | `synthetic:constructs` (options as `synthetic:induction?span=32`). See docs/data.md.
"""

from seedling.data.errors import DataError
from seedling.data.prepare import PreparedData, prepare
from seedling.data.sampler import BatchSampler, count_windows, val_batches
from seedling.data.shards import default_cache_dir
from seedling.data.sources import ACCEPTED_SOURCES
from seedling.data.synthetic import generate_synthetic, symbol_tokenizer

__all__ = [
    "ACCEPTED_SOURCES",
    "BatchSampler",
    "DataError",
    "PreparedData",
    "count_windows",
    "default_cache_dir",
    "generate_synthetic",
    "prepare",
    "symbol_tokenizer",
    "val_batches",
]
