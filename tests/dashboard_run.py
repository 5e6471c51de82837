"""A small recorded run laid out on disk for the dashboard's tests and benchmark: the project's one synthetic run."""

from __future__ import annotations

from pathlib import Path

from recorders.synthetic_run import make_synthetic_run


def write_run(run_dir: Path, n_records: int = 12, n_layers: int = 2, n_heads: int = 4, n_ctx: int = 8,
              every: int = 10, seed: int = 0) -> Path:
    """RUN_DIR with config.json, metrics.jsonl and records.zarr (recorders.synthetic_run); returns it.

    `n_ctx` is the length of the attention-pattern sequence (the probe items are 4 x as long)."""
    make_synthetic_run(run_dir, n_records, every, n_layers, n_heads, seed, pattern_len=n_ctx, probe_len=4 * n_ctx)
    return Path(run_dir)
