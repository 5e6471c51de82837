"""Circuit groups with planted trajectories, written through the real StoreWriter with the real recorders' metadata.

Added to a run laid out by tests/dashboard_run.py (its induction head is layer 1 head 3, fed by the
previous-token head layer 0 head 2): the planted head's ablation effect, K-composition from the
feeder and the layer-1 logit-lens drop all rise around 40 % of training.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from recorders.groups.circuits import AblationRecorder, CompositionRecorder, DlaRecorder, LogitLensRecorder
from recorders.store import StoreWriter

HEAD, FEEDER = (1, 3), (0, 2)  # the synthetic run's planted induction and previous-token heads


def add_circuit_groups(run_dir: Path, steps: np.ndarray, n_layers: int = 2, n_heads: int = 4, n_items: int = 8,
                       seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    recorders = [AblationRecorder(), CompositionRecorder(), LogitLensRecorder(), DlaRecorder()]
    metas = {r.group: r.variables(None, None) for r in recorders}
    coords = {r.group: r.coords(None, None) for r in recorders}
    probe = SimpleNamespace(span=4)
    rise = 1 / (1 + np.exp(-(steps / steps[-1] - 0.4) * 25))
    L, H, B = n_layers, n_heads, n_items
    later = np.arange(L)[:, None, None, None] < np.arange(L)[None, None, :, None]
    with StoreWriter(run_dir / "records.zarr", root_attrs={}, background=False, only=[r.group for r in recorders]) as w:
        for r, step in enumerate(steps):
            def items(scale, planted=0.0):
                x = scale * rng.standard_normal((B, L, H))
                x[:, HEAD[0], HEAD[1]] += planted
                return x.astype(np.float32)

            ab = {}
            for prefix, planted in (("", 0.3 * rise[r]), ("repeat_", 1.5 * rise[r])):
                change, null = items(0.01, planted), np.abs(items(0.02))
                ab |= {f"{prefix}clean_loss": np.float32(3 - rise[r]), f"{prefix}loss_change": change.mean(0),
                       f"{prefix}loss_change_by_item": change, f"{prefix}null_loss_change": null.mean(0),
                       f"{prefix}null_loss_change_by_item": null}
            score = np.where(later, 0.085 + 0.001 * rng.standard_normal((L, H, L, H)), np.nan)  # inside the null band
            score[FEEDER[0], FEEDER[1], HEAD[0], HEAD[1]] = 0.09 + 0.1 * rise[r]
            comp = {"score": np.stack([score, score * 0.98, score * 0.97]).astype(np.float32),
                    "null_score": np.tile([[0.088, 0.092]], (3, 1)).astype(np.float32)}
            lens = {}
            for prefix in ("", "repeat_"):
                loss = np.tile([[4.2, 4.2 - 3 * rise[r]]], (B, 1)).astype(np.float32)
                lens |= {f"{prefix}loss": loss.mean(0), f"{prefix}loss_by_item": loss,
                         f"{prefix}kl": (loss - loss[:, -1:]).mean(0), f"{prefix}kl_by_item": loss - loss[:, -1:]}
            dla = {}
            for prefix in ("", "repeat_"):
                d = items(0.05, 2 * rise[r])
                dla |= {f"{prefix}direct_logit": d.mean(0), f"{prefix}direct_logit_by_item": d}
            for rec, values in zip(recorders, (ab, comp, lens, dla), strict=True):
                w.append(rec.group, int(step), values, metas[rec.group], attrs=rec.group_attrs(probe),
                         coords=coords[rec.group])
