"""One benchmark case in a fresh process, so that its peak memory is its own: `python -m benchmarks.case`.

Two kinds of case: `bench NAME` runs a whole benchmark module's `run(opts)`; `train-steps SIZE
MODEL` runs a few training steps of one model alone (the memory benchmark's unit). The result goes
to `--out` as JSON; the parent reads the child's peak RSS from the kernel when it exits.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import time

from benchmarks.common import Options, current_rss_mb


def bench(name: str, opts: Options) -> dict:
    from benchmarks.suite import REGISTRY

    try:
        mod = importlib.import_module(REGISTRY[name])
        reason = mod.unavailable() if hasattr(mod, "unavailable") else None
    except ModuleNotFoundError as e:  # the part it measures has not landed in this checkout
        reason = f"needs {e.name}, which this checkout does not have yet"
    if reason:
        return {"status": "skipped", "message": reason, "rows": []}
    rows = mod.run(opts)
    return {"status": "ok", "rows": [r.to_dict() for r in rows]}


def train_steps(size_name: str, kind: str, steps: int, quick: bool) -> dict:
    import torch

    from benchmarks.models import SIZES, build_ours, build_ref, make_step

    size = SIZES[size_name]
    cfg = size.config()
    batch = size.quick_batch if quick else size.batch
    import transformers  # noqa: F401  both cases import it, so the baselines match

    baseline = current_rss_mb()  # torch and transformers imported, no model yet
    model = build_ours(cfg) if kind in ("ours", "ours_fused") else build_ref(cfg)
    step = make_step(model, cfg, batch, "ref" if kind == "ref" else "ours", fused=True if kind == "ours_fused" else None)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return {"status": "ok", "baseline_rss_mb": baseline, "seconds": time.perf_counter() - t0,
            "batch": batch, "n_ctx": cfg.model.n_ctx, "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.case", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="path of the JSON result file to write")
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("bench", help="run one benchmark module")
    b.add_argument("name", help="benchmark name, as listed by `python -m benchmarks --list`")
    b.add_argument("--quick", action="store_true", help="smoke-test sizes and repetitions")
    b.add_argument("--repeat", type=int, default=None, help="repetitions per case (default: the benchmark's own)")
    b.add_argument("--compile", action="store_true", help="also time torch.compile variants")
    b.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's own)")
    t = sub.add_parser("train-steps", help="a few training steps of one model alone")
    t.add_argument("size", help="tiny, mid or seedling")
    t.add_argument("kind", choices=["ours", "ours_fused", "ref"], help="which model (and optimizer) to train")
    t.add_argument("--steps", type=int, default=2, help="training steps to run (default 2)")
    t.add_argument("--quick", action="store_true", help="use the size's smaller quick batch")
    t.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's own)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if a.threads is not None:
        import torch

        torch.set_num_threads(a.threads)
    if a.what == "bench":
        result = bench(a.name, Options(quick=a.quick, repeat=a.repeat, compile=a.compile, threads=a.threads))
    else:
        result = train_steps(a.size, a.kind, a.steps, a.quick)
    with open(a.out, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
