"""The run's time budget and its memory guard: every case either fits, or is skipped with the reason.

The budget is split into consecutive parts by shares of the total (`SHARES`); a part may use what
an earlier part left over, never what a later one needs. Before each case the caller asks
`refuse(part, need_s)`: a reason string when the estimate does not fit, else None. `attempt` runs
a case and turns running out of device memory (or, for torch.compile, any failure) into a reason,
after freeing the memory so that the next case starts clean.

>>> b = Budget(100.0, {"a": 0.5, "b": 0.5})
>>> b.refuse("a", 10.0) is None, b.refuse("a", 80.0).startswith("out of time")
(True, True)
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["SHARES", "Budget", "attempt", "free_memory", "is_oom"]

# Cumulative deadlines: setup (imports, data) by 6%, throughput by 55%, recording by 70%, numerics by
# 94%; the rest is slack for the last case's overrun and for writing the results.
SHARES = {"setup": 0.06, "throughput": 0.49, "recording": 0.15, "numerics": 0.24}


class Budget:
    """Absolute deadlines for the parts of one run, from `total_s` seconds and each part's share."""

    def __init__(self, total_s: float, shares: dict[str, float] = SHARES) -> None:
        self.total_s = total_s
        self.t0 = time.perf_counter()
        self.deadline: dict[str, float] = {}
        cum = 0.0
        for part, share in shares.items():
            cum += share
            self.deadline[part] = self.t0 + cum * total_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self, part: str) -> float:
        """Seconds until `part`'s deadline (negative once past it)."""
        return self.deadline[part] - time.perf_counter()

    def refuse(self, part: str, need_s: float) -> str | None:
        """None when a case estimated at `need_s` seconds fits before `part`'s deadline; else the reason."""
        left = self.left(part)
        if need_s <= left:
            return None
        return f"out of time: needs about {need_s:.0f} s, {max(left, 0.0):.0f} s left of the {part} budget"


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def free_memory(device: torch.device) -> None:
    """Return cached device memory after a case (or a failed one), so the next case is measured alone."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def attempt(fn: Callable[[], Any], device: torch.device, any_error: bool = False) -> tuple[Any, str | None]:
    """(fn(), None); or (None, reason) when fn ran out of device memory (or failed at all, with any_error).

    The exception and its traceback (which hold the case's tensors) are dropped before memory is
    freed, so a case that ran out of memory does not keep the next one from fitting.
    """
    reason = None
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001  sorted out below: only OOM unless any_error
        if not (any_error or is_oom(e)):
            raise
        first = str(e).strip().splitlines()[0][:240] if str(e).strip() else ""
        reason = f"{'out of memory' if is_oom(e) else 'failed'}: {type(e).__name__}: {first}"
    free_memory(device)
    return None, reason
