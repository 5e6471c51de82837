"""Test helper: append records to a store in a loop, checkpointing now and then, until killed or done.

Run as `python -m tests.store_appender STORE --start S --stop N --block B --checkpoint-every C`.
Every value is a known function of its step (`expected`), so a test can check each stored row.
After each checkpoint flush it writes the checkpoint step to STORE.ckpt (atomically), as a
training run writes a checkpoint only after the store holds every record up to its step.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from recorders.store import StoreWriter, VarMeta

SHAPES = {"loss": {"train_loss": ()}, "attn_entropy": {"entropy": (2, 3), "entropy_by_item": (4, 2, 3)},
          "act_sample": {"blocks.0.hook_resid_post": (4, 5, 6)}}
META = {
    "train_loss": VarMeta((), "training loss", "nats", "mean over tokens"),
    "entropy": VarMeta(("layer", "head_index"), "attention entropy", "nats", "mean over batch and queries"),
    "entropy_by_item": VarMeta(("batch", "layer", "head_index"), "attention entropy", "nats", "mean over queries"),
    "blocks.0.hook_resid_post": VarMeta(("batch", "pos", "d_model"), "residual stream", "1", "none", dtype="float16"),
}


def records_at(step: int) -> list[str]:
    """Groups recorded at `step`: loss and attn_entropy every step, act_sample every third."""
    return ["loss", "attn_entropy"] + (["act_sample"] if step % 3 == 0 else [])


def expected(step: int, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    """The value stored for `step`: exact in float32; float16 variables wrap at 997 to stay exact."""
    base = step % 997 if dtype == "float16" else step * 1000
    return (base + np.arange(int(np.prod(shape))).reshape(shape) % 7).astype(dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="store path")
    parser.add_argument("--start", type=int, default=0, help="first step")
    parser.add_argument("--stop", type=int, default=10**9, help="stop before this step")
    parser.add_argument("--block", type=int, default=8, help="writer block size")
    parser.add_argument("--checkpoint-every", type=int, default=25, help="flush and note a checkpoint this often")
    args = parser.parse_args()
    ckpt = Path(args.store + ".ckpt")
    with StoreWriter(args.store, root_attrs={"package_version": "test"}, block_size=args.block) as w:
        if args.start:
            w.truncate_after(args.start - 1)
        for step in range(args.start, args.stop):
            for group in records_at(step):
                vals = {v: expected(step, s, META[v].dtype) for v, s in SHAPES[group].items()}
                w.append(group, step, vals, META)
            if step % args.checkpoint_every == 0:
                w.flush()
                tmp = ckpt.with_suffix(f".{os.getpid()}")
                tmp.write_text(str(step))
                os.replace(tmp, ckpt)


if __name__ == "__main__":
    main()
