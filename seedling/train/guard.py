"""The explosion guard: skip non-finite steps, roll back after K in a row.

The original script compared the loss *after* dividing it by the accumulation count against its
threshold, so the check almost never fired. Here every optimizer step is checked on the quantities
that matter: the mean loss of the step and the global gradient norm (after unscaling).

A step is *bad* when its loss or its gradient norm is not finite. A bad step changes no weights
and no optimizer state. With fp16 and a GradScaler, an overflowing gradient while the loss is
finite and the scale is still above 1 is the scaler's normal calibration, not a bad step: the
scaler skips it and halves its scale. After `patience` consecutive bad steps the trainer rolls
the weights and optimizer back to the last good checkpoint and lowers the learning rate (the
practice of restarting before a loss spike and moving past the batches around it, Chowdhery et al.
2022, PaLM section 5.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["ExplosionGuard", "Verdict"]


class Verdict:
    OK = "ok"
    SCALER_SKIP = "scaler_skip"  # fp16 overflow: GradScaler skips the update and halves its scale
    SKIP = "skip"  # non-finite loss or gradient: no update
    ROLLBACK = "rollback"  # `patience` bad steps in a row: restore the last good checkpoint


@dataclass
class ExplosionGuard:
    patience: int
    consecutive: int = 0  # bad steps in a row so far
    bad_steps: int = 0  # totals over the run (scaler skips are not bad steps)
    scaler_skips: int = 0
    rollbacks: int = 0

    def check(self, loss: float, grad_norm: float, scaler_active: bool) -> str:
        """Verdict for one step. `scaler_active`: fp16 with a loss scale above 1."""
        if math.isfinite(loss) and math.isfinite(grad_norm):
            self.consecutive = 0
            return Verdict.OK
        if scaler_active and math.isfinite(loss):
            self.scaler_skips += 1
            return Verdict.SCALER_SKIP
        self.bad_steps += 1
        self.consecutive += 1
        if self.consecutive >= self.patience:
            self.consecutive = 0
            self.rollbacks += 1
            return Verdict.ROLLBACK
        return Verdict.SKIP

    def state_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "patience"}

    def load_state_dict(self, d: dict[str, int]) -> None:
        for k in ("consecutive", "bad_steps", "scaler_skips", "rollbacks"):
            setattr(self, k, int(d[k]))
