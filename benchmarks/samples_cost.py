"""Benchmark: the cost of the checkpoint samples (seedling.train.samples) per checkpoint, against a training step.

Builds the preset's model on its data, then times, interleaved: `CheckpointSamples.on_checkpoint` (2 prompts x
greedy and top-p 0.9, 24 new tokens each, with the KV cache), writing the checkpoint itself, and one
training step as the reference from the same session. Reported as medians and as a ratio to the step, so a
busy machine's numbers can still be read.

    python -m benchmarks.samples_cost --preset tiny --repeats 7
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="model and data preset: tiny (default), small or seedling")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of samples, checkpoint and step (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="write the timings as JSON to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        print(f"error: --repeats {args.repeats}: need at least 1", file=sys.stderr)
        return 2
    import torch

    from seedling.config import ConfigError, preset
    from seedling.data import prepare
    from seedling.train.loop import Trainer
    from seedling.train.samples import CheckpointSamples

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("seedling").setLevel(logging.WARNING)
    try:
        cfg = preset(args.preset, [f"train.max_steps={10 * args.repeats + 10}"])
    except ConfigError as e:
        print(f"error: --preset {args.preset!r}: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        data = prepare(cfg, run)
        trainer = Trainer(cfg, run, data)
        samples = CheckpointSamples(run, data)
        trainer._wall0 = time.perf_counter()  # what fit() sets before the first step
        trainer.train_step()  # warm-up: allocator, kernels
        samples.on_checkpoint(trainer.state)
        times: dict[str, list[float]] = {"samples": [], "checkpoint": [], "step": []}
        for _ in range(args.repeats):
            for name, fn in (("samples", lambda: samples.on_checkpoint(trainer.state)),
                             ("checkpoint", trainer.checkpoints.save), ("step", trainer.train_step)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"preset": args.preset, "threads": torch.get_num_threads(), "repeats": args.repeats,
              "median_s": med, "samples_per_step": med["samples"] / med["step"], "all_s": times}
    print(f"{args.preset}: samples {med['samples'] * 1e3:.0f} ms per checkpoint, checkpoint write "
          f"{med['checkpoint'] * 1e3:.0f} ms, one training step {med['step'] * 1e3:.0f} ms "
          f"(samples = {result['samples_per_step']:.2f} x a step; medians of {args.repeats})")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
