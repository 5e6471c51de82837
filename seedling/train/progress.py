"""What a person watching the terminal sees: a tqdm progress bar and plain-words log lines.

`ProgressBar` is a subscriber (wired in by the entry module): loss, learning rate, gradient norm,
tokens per second and the time left. `setup_logging` sends the loop's log messages to the console
(through tqdm, so the bar is not torn) and to `RUN_DIR/train.log`.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = ["ProgressBar", "setup_logging"]


class ProgressBar:
    """tqdm bar over optimizer steps; postfix: loss, lr, gradient norm, tokens/s."""

    def __init__(self, total_steps: int) -> None:
        self.total = total_steps
        self.bar: tqdm | None = None
        self._t0 = 0.0
        self._tokens0 = 0

    def on_train_start(self, state: Any) -> None:
        self.bar = tqdm(total=self.total, initial=state.step, unit="step", dynamic_ncols=True, file=sys.stderr,
                        desc="training")
        self._t0, self._tokens0 = time.perf_counter(), state.tokens

    def on_step_end(self, state: Any) -> None:
        if self.bar is None:
            return
        rate = (state.tokens - self._tokens0) / max(time.perf_counter() - self._t0, 1e-9)
        self.bar.set_postfix_str(f"loss {state.loss:.4f}  lr {state.lr:.2e}  gnorm {state.grad_norm:.3f}  "
                                 f"{rate:,.0f} tok/s" + ("  SKIPPED" if state.skipped else ""), refresh=False)
        self.bar.update(1)

    def on_train_end(self, state: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never crash training
            self.handleError(record)


def setup_logging(run_dir: Path | None, quiet: bool, rank: int = 0) -> list[logging.Handler]:
    """Console (INFO, or WARNING when quiet; rank > 0 only warnings) and RUN_DIR/train.log (all INFO)."""
    logger = logging.getLogger("seedling")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handlers: list[logging.Handler] = []
    console = _TqdmHandler()
    console.setLevel(logging.WARNING if (quiet or rank > 0) else logging.INFO)
    console.setFormatter(logging.Formatter(f"[rank {rank}] %(message)s" if rank > 0 else "%(message)s"))
    handlers.append(console)
    if run_dir is not None and rank == 0:
        fh = logging.FileHandler(Path(run_dir) / "train.log", encoding="utf-8")
        fh.setLevel(logging.INFO)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        handlers.append(fh)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    for h in handlers:
        logger.addHandler(h)
    return handlers
