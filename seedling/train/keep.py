"""Which checkpoints a run keeps: log-spaced early, a uniform grid over the plan, and the newest few.

Pure arithmetic on step numbers (no files, no torch), so `checkpoint.prune` and anything else that
manages checkpoints can call it. Why a grid: keeping only the newest three deleted steps 250, 500 and 750
of the 1,500-step induction tour, exactly the transition, so "Generate at every checkpoint" jumped from
step 128 to 1000 and spectra over checkpoints drew straight lines across the gap.

Disk cost at the seedling size (51.3M parameters): a checkpoint holds fp32 weights (0.21 GB) and AdamW's
two moment buffers (0.41 GB), about 0.62 GB. The published plan (227,900 steps, a checkpoint every 1,000)
keeps at most 11 log-spaced (0, 1, 2, ..., 512) + 17 grid + 3 newest = 31 checkpoints, about 19 GB (vs
about 8.6 GB for the log series and the newest three alone); `train.keep_grid` sets the grid's size (0: none).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["is_log_step", "keep_schedule"]


def is_log_step(step: int, limit: int) -> bool:
    """Steps 0, 1, 2, 4, 8, ... up to `limit`: the dense early series kept for training dynamics."""
    return step == 0 or (step <= limit and step & (step - 1) == 0)


def keep_schedule(steps: Iterable[int], total_steps: int | None = None, keep_last: int = 3, grid: int = 16,
                  log_limit: int | None = None) -> set[int]:
    """The saved `steps` to keep: the union of

    - the log-spaced series 0, 1, 2, 4, ... up to `log_limit` (when given);
    - a uniform grid: for each of the `grid + 1` targets `k * total_steps / grid`, the saved step nearest to it
      (the earlier one on a tie), so that trajectories over checkpoints have no gap wider than about
      `2 * total_steps / grid` (no grid without `total_steps`);
    - the newest `keep_last` steps (what resuming needs).

    Called after every save, it never deletes a step it will want later: a target's nearest saved step can
    only be replaced by a nearer one, and a step that is nobody's nearest now never becomes one.

    >>> sorted(keep_schedule(range(0, 1501, 250), total_steps=1500, keep_last=1, grid=3))
    [0, 500, 1000, 1500]
    >>> sorted(keep_schedule([0, 1, 2, 4, 100, 200, 300], keep_last=2, grid=0, log_limit=100))
    [0, 1, 2, 4, 200, 300]
    """
    saved = sorted(set(int(s) for s in steps))
    keep = set(saved[-keep_last:]) if keep_last > 0 else set()
    if log_limit is not None:
        keep |= {s for s in saved if is_log_step(s, log_limit)}
    if grid > 0 and total_steps and saved:
        arr = np.asarray(saved)
        for target in np.linspace(0, total_steps, grid + 1):
            keep.add(int(arr[int(np.argmin(np.abs(arr - target)))]))  # argmin: the first (earlier) on a tie
    return keep
