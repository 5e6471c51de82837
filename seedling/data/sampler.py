"""Batches of training windows: a seeded permutation per epoch, split across ranks, resumable exactly.

A token array of N tokens holds W = N // (n_ctx + 1) non-overlapping windows; window i is
tokens[i*(n_ctx+1) : (i+1)*(n_ctx+1)], its input x = window[:-1] and its target y = window[1:].
Epoch e visits the windows in the permutation drawn by numpy's generator seeded with (seed, e);
rank r of W_r ranks takes positions r, r + W_r, r + 2 W_r, ... of it, cut to the same length on
every rank, so the shares are disjoint and the ranks step in lockstep. A batch that runs past the
end of an epoch continues with the next epoch's permutation.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from seedling.data.errors import DataError

__all__ = ["BatchSampler", "count_windows", "val_batches"]

log = logging.getLogger(__name__)


def count_windows(n_tokens: int, n_ctx: int) -> int:
    """Number of non-overlapping (n_ctx + 1)-token windows in `n_tokens` tokens."""
    return n_tokens // (n_ctx + 1)


def _windows(tokens: np.ndarray, starts: np.ndarray, n_ctx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) int64 tensors (batch, n_ctx) for windows with the given indices."""
    idx = starts[:, None] * (n_ctx + 1) + np.arange(n_ctx + 1)  # (batch, n_ctx + 1)
    w = torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))
    return w[:, :-1], w[:, 1:]


class BatchSampler:
    """Endless (x, y) batches of whole windows; `state_dict()` / `load_state_dict()` resume exactly.

    >>> s = BatchSampler(np.arange(100), n_ctx=4, batch_size=2, seed=0)
    >>> s.windows_per_epoch, s.windows_per_rank
    (20, 20)
    >>> x, y = s.next_batch()
    >>> bool((y[:, :-1] == x[:, 1:]).all()), tuple(x.shape)
    (True, (2, 4))
    """

    def __init__(self, tokens: np.ndarray, n_ctx: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise DataError(f"rank={rank} must be in [0, world_size={world_size})")
        if n_ctx < 1 or batch_size < 1:
            raise DataError(f"n_ctx={n_ctx} and batch_size={batch_size} must be positive")
        self.tokens = tokens
        self.n_ctx, self.batch_size, self.seed = n_ctx, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.windows_per_epoch = count_windows(len(tokens), n_ctx)
        self.windows_per_rank = self.windows_per_epoch // world_size
        if self.windows_per_rank < 1:
            raise DataError(
                f"{len(tokens):,} tokens make {self.windows_per_epoch} window(s) of n_ctx + 1 = {n_ctx + 1} tokens, "
                f"fewer than the {world_size} rank(s); need at least {world_size * (n_ctx + 1):,} tokens"
            )
        self._epoch, self._position = 0, 0
        self._share: np.ndarray | None = None  # this rank's windows for self._epoch, built lazily

    @property
    def epoch(self) -> int:
        """Completed passes over this rank's share (0 during the first)."""
        return self._epoch

    def share(self, epoch: int) -> np.ndarray:
        """Window indices this rank visits in `epoch`, in order."""
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.windows_per_epoch)
        return perm[self.rank::self.world_size][: self.windows_per_rank]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (x, y): int64 tensors of shape (batch_size, n_ctx); y is x shifted left by one."""
        picked = []
        need = self.batch_size
        while need:
            if self._share is None:
                self._share = self.share(self._epoch)
            take = self._share[self._position: self._position + need]
            picked.append(take)
            need -= len(take)
            self._position += len(take)
            if self._position == self.windows_per_rank:
                self._epoch, self._position, self._share = self._epoch + 1, 0, None
        return _windows(self.tokens, np.concatenate(picked), self.n_ctx)

    def state_dict(self) -> dict[str, int]:
        """Where the sampler stands, as plain ints (JSON- and torch.load(weights_only=True)-safe)."""
        return {"epoch": int(self._epoch), "position": int(self._position), "seed": int(self.seed),
                "world_size": int(self.world_size), "windows_per_epoch": int(self.windows_per_epoch)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from `state`: the next batches are those an uninterrupted sampler would give."""
        if state.get("windows_per_epoch", self.windows_per_epoch) != self.windows_per_epoch:
            raise DataError(f"sampler state is for {state['windows_per_epoch']} windows per epoch, but the data "
                            f"has {self.windows_per_epoch}; the training data changed since the checkpoint")
        if not 0 <= state["position"] < max(self.windows_per_rank, 1):
            raise DataError(f"sampler state position={state['position']} is outside [0, {self.windows_per_rank})")
        self._epoch, self._position, self._share = int(state["epoch"]), int(state["position"]), None


def val_batches(tokens: np.ndarray, n_ctx: int, batch_size: int, n_batches: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed validation set: `n_batches` batches of evenly spaced, distinct windows.

    When the array has fewer than batch_size * n_batches windows, fewer batches are returned
    (and one smaller batch when it has fewer than batch_size windows), never repeated windows.
    """
    total = count_windows(len(tokens), n_ctx)
    if total < 1:
        raise DataError(f"validation split has {len(tokens):,} tokens; need at least n_ctx + 1 = {n_ctx + 1}")
    n_batches = max(1, min(n_batches, total // batch_size))
    n = min(total, batch_size * n_batches)
    if n < batch_size * n_batches:
        log.info("validation set: %d windows of %d tokens (fewer than asked for)", n, n_ctx + 1)
    starts = np.linspace(0, total - 1, n).round().astype(np.int64)
    size = min(batch_size, n)
    return [_windows(tokens, starts[i:i + size], n_ctx) for i in range(0, n, size)]
