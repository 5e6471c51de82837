"""Planted trajectories for the synthetic record store: known curves the analyses and dashboards must recover.

Pure numpy: every function takes steps (and the shape of the imagined model) and returns arrays.
With `s` the optimizer step, `S` the last recorded step and sigma(x) = 1 / (1 + exp(-x)):

- induction score of the induction head (layer min(1, L-1), head 3 mod H):
  `0.04 + 0.86 * sigma((s - m_ind) / w_ind)`, m_ind = 0.30 S, w_ind = 0.02 S; other heads ~0.04.
- previous-token score of the previous-token head (layer 0, head 2 mod H): `0.10 + 0.80 *
  sigma((s - m_prev) / w_prev)`, m_prev = 0.25 S (before the induction head: it composes with it),
  w_prev = 0.02 S; other heads ~0.05. First-token (sink) score grows with depth and time.
- probe loss: `1.8 + (10.33 - 1.8) * (1 + s / tau)^-0.5 + 0.10 * exp(-((s - m_ind) / w_ind)^2 / 2)`,
  tau = 0.005 S: a power law with offset and a bump of 0.1 nats at the induction onset. Training
  loss: probe loss + 0.05 + N(0, 0.03^2) noise (NaN at step 0, as the recorders write it).
- in-context learning: loss by position tilts by `0.1 + 0.6 * sigma_ind` across the context, so
  `icl_score` (late minus early position) falls from about -0.08 to about -0.56 nats.
- attention entropy: each head falls exponentially from the uniform-attention level to its own
  floor; the two planted heads drop further (x 0.3) at their midpoints.
- weights grow like sqrt(s / S); stable ranks fall; gradient norms fall as a power law.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Planted", "sigmoid"]

def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), elementwise."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class Planted:
    """The known truth of a synthetic store with `n_records` records every `every` steps."""

    n_records: int
    every: int
    n_layers: int
    n_heads: int
    probe_len: int

    @property
    def last_step(self) -> int:
        return (self.n_records - 1) * self.every

    @property
    def steps(self) -> np.ndarray:
        return np.arange(self.n_records, dtype=np.int64) * self.every

    @property
    def induction_head(self) -> tuple[int, int]:
        return min(1, self.n_layers - 1), 3 % self.n_heads

    @property
    def previous_token_head(self) -> tuple[int, int]:
        return 0, 2 % self.n_heads

    @property
    def induction_midpoint(self) -> float:
        return 0.30 * self.last_step

    @property
    def induction_width(self) -> float:
        return max(0.02 * self.last_step, 1e-9)

    @property
    def previous_token_midpoint(self) -> float:
        return 0.25 * self.last_step

    def truth(self) -> dict:
        """The planted parameters, JSON-ready (stored as the root attribute `synthetic`)."""
        return {
            "induction_head": {"layer": self.induction_head[0], "head_index": self.induction_head[1],
                               "curve": "0.04 + 0.86 * sigmoid((step - midpoint) / width)",
                               "midpoint_step": self.induction_midpoint, "width_steps": self.induction_width},
            "previous_token_head": {"layer": self.previous_token_head[0], "head_index": self.previous_token_head[1],
                                    "curve": "0.10 + 0.80 * sigmoid((step - midpoint) / width)",
                                    "midpoint_step": self.previous_token_midpoint, "width_steps": self.induction_width},
            "probe_loss": {"curve": "1.8 + 8.53 * (1 + step / tau) ** -0.5 + 0.10 * exp(-((step - m) / w) ** 2 / 2)",
                           "tau_steps": self.tau, "bump_nats": 0.10, "bump_step": self.induction_midpoint},
        }

    @property
    def tau(self) -> float:
        return max(0.005 * self.last_step, 1.0)

    # -- trajectories (arrays over records, float64) ----------------------------------------------------

    def induction_curve(self, s: np.ndarray) -> np.ndarray:
        return 0.04 + 0.86 * sigmoid((s - self.induction_midpoint) / self.induction_width)

    def previous_token_curve(self, s: np.ndarray) -> np.ndarray:
        return 0.10 + 0.80 * sigmoid((s - self.previous_token_midpoint) / self.induction_width)

    def probe_loss(self, s: np.ndarray) -> np.ndarray:
        bump = 0.10 * np.exp(-0.5 * ((s - self.induction_midpoint) / self.induction_width) ** 2)
        return 1.8 + (10.33 - 1.8) * (1.0 + s / self.tau) ** -0.5 + bump

    def icl_tilt(self, s: np.ndarray) -> np.ndarray:
        """How much lower the loss is at the last position than at the first, in nats."""
        return 0.1 + 0.6 * sigmoid((s - self.induction_midpoint) / self.induction_width)

    def head_scores(self, s: np.ndarray) -> dict[str, np.ndarray]:
        """previous_token, first_token, induction: (records, layer, head_index), before item noise."""
        n, L, H = len(s), self.n_layers, self.n_heads
        u = (s / max(self.last_step, 1))[:, None, None]
        depth = ((np.arange(L) + 1) / L)[None, :, None]
        first = np.broadcast_to(0.05 + 0.5 * (1 - np.exp(-u / 0.3)) * depth, (n, L, H)).copy()
        prev = np.full((n, L, H), 0.05)
        ind = np.broadcast_to(0.04 + 0.02 * depth, (n, L, H)).copy()
        (pl, ph), (il, ih) = self.previous_token_head, self.induction_head
        prev[:, pl, ph] = self.previous_token_curve(s)
        ind[:, il, ih] = self.induction_curve(s)
        for lyr, h in ((pl, ph), (il, ih)):
            first[:, lyr, h] = 0.03
        return {"previous_token": prev, "first_token": first, "induction": ind}

    def uniform_entropy(self) -> float:
        """Entropy of uniform causal attention, mean over queries 1..T-1: mean of ln(i + 1), nats."""
        return float(np.mean(np.log(np.arange(2, self.probe_len + 1))))

    def entropy(self, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mean attention entropy (records, layer, head_index) in nats."""
        L, H = self.n_layers, self.n_heads
        u = (s / max(self.last_step, 1))[:, None, None]
        top = self.uniform_entropy()
        floor = rng.uniform(0.3, 0.8, size=(1, L, H)) * top
        speed = rng.uniform(0.05, 0.4, size=(1, L, H))
        ent = floor + (top - floor) * np.exp(-u / speed)
        for (lyr, h), mid in ((self.previous_token_head, self.previous_token_midpoint),
                              (self.induction_head, self.induction_midpoint)):
            ent[:, lyr, h] *= 1 - 0.7 * sigmoid((s - mid) / self.induction_width)
        return ent

    def lr(self, s: np.ndarray, peak: float = 1e-4) -> np.ndarray:
        """Linear warmup over 5% of the run, then cosine decay to zero."""
        warm = max(0.05 * self.last_step, 1.0)
        cos = 0.5 * peak * (1 + np.cos(np.pi * np.clip((s - warm) / max(self.last_step - warm, 1.0), 0, 1)))
        return np.where(s < warm, peak * s / warm, cos)
