"""`python -m benchmarks gpu [--out DIR] [--dry-run]`: the CUDA training path measured in one process, in minutes.

Throughput (fp16 + GradScaler, bf16, TF32, fp32; eager and torch.compile; ours and transformers'
GPT2LMHeadModel side by side), the recorders' cost next to a fast step, the loss curves of the
three precisions from one seed and an injected inf, and the seed's plan projected to hours and
cost. Writes gpu.json and gpu.md to --out and prints the table. Each case is budgeted and skipped
with its reason when out of time or memory. Exit status: 0 done, 2 usage error or no GPU (one line).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

log = logging.getLogger("benchmarks.gpu")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks gpu", description=__doc__.split("\n\n")[0],
                                epilog="What each figure means: benchmarks/RESULTS.md, section GPU.")
    p.add_argument("--out", metavar="DIR", help="folder for gpu.json and gpu.md (default: "
                   "benchmarks/results/gpu-<timestamp>/, which git ignores)")
    p.add_argument("--dry-run", action="store_true", help="run the same code on the CPU at the tiny shape in "
                   "about 20 s of CPU time (what CI tests); its figures say nothing about a GPU")
    p.add_argument("--budget", type=float, default=480.0, metavar="SECONDS",
                   help="time budget of the whole run (default 480 = 8 minutes); cases that would pass it are skipped")
    p.add_argument("--usd-per-hour", type=float, default=2.50, metavar="USD",
                   help="hourly price of this machine for the projected cost (default 2.50, a round on-demand figure)")
    p.add_argument("--t4-usd-per-hour", type=float, default=0.35, metavar="USD",
                   help="hourly price of a T4 for the projected T4 cost (default 0.35)")
    p.add_argument("--verbose", action="store_true", help="log each case as it starts")
    return p


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _section(name: str, fn, doc: dict[str, Any]) -> None:
    """Run one part; an unexpected failure is recorded as that part's status, and the next part still runs."""
    t0 = time.perf_counter()
    rows, extra, status, message = [], {}, "ok", ""
    try:
        rows, extra = fn()
    except Exception as e:  # noqa: BLE001  one part failing must not lose the others' figures
        log.exception("%s failed", name)
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        status, message = "error", f"{type(e).__name__}: {first}"
    skipped = sum(1 for r in rows if r.note.startswith("skipped"))
    if skipped and status == "ok":
        message = f"{skipped} case(s) skipped, reasons in the notes"
    doc["sections"][name] = {"status": status, "message": message, "rows": [r.to_dict() for r in rows],
                             "wall_s": time.perf_counter() - t0}
    doc["details"][name] = extra


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.budget <= 0:
        return _error(f"--budget={a.budget:g} must be a positive number of seconds")
    if a.usd_per_hour < 0 or a.t4_usd_per_hour < 0:
        return _error("--usd-per-hour and --t4-usd-per-hour must not be negative")
    import torch

    if not a.dry_run and not torch.cuda.is_available():
        return _error("no CUDA GPU is available to this process; run it on a GPU machine, or pass --dry-run to run "
                      "the same code on the CPU at the tiny shape")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(a.out) if a.out else Path("benchmarks/results") / f"gpu-{stamp}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _error(f"--out {out} is not a folder that can be written ({e.strerror or e})")
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(a, out)


def run(a: argparse.Namespace, out: Path) -> int:
    import torch

    from benchmarks.common import machine_info
    from benchmarks.gpu import numerics, projection, recording, report, throughput
    from benchmarks.gpu.budget import Budget
    from benchmarks.gpu.harness import Ctx, device_facts, dry_run_shape, seedling_shape
    from benchmarks.suite import table
    from seedling.data import prepare

    budget = Budget(a.budget)
    device = torch.device("cpu" if a.dry_run else "cuda")
    shape = dry_run_shape() if a.dry_run else seedling_shape()
    facts, peak = device_facts(device)
    m = shape.cfg.model
    doc: dict[str, Any] = {
        "benchmark": "gpu", "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:], "dry_run": a.dry_run, "budget_s": a.budget, "machine": machine_info(), "device": facts,
        "shape": {"name": shape.name, "n_layers": m.n_layers, "d_model": m.d_model, "n_ctx": m.n_ctx,
                  "d_vocab": m.d_vocab_padded, "seqs_per_step": shape.seqs_per_step, "first_micro": shape.first_micro,
                  "plan_tokens": shape.plan_tokens},
        "sections": {}, "details": {},
    }
    print(f"GPU benchmark on {facts['name']} ({shape.name}), budget {a.budget:.0f} s; writing to {out}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        data = prepare(shape.cfg, work / "data")  # the built-in corpus: no network
        ctx = Ctx(shape, device, budget, data, work, a.dry_run, peak=peak,
                  compile_backend="eager" if a.dry_run else "inductor",
                  models=("ours", "ref") if importlib.util.find_spec("transformers") else ("ours",))
        parts = [
            ("throughput", lambda: throughput.run(ctx)),
            ("recording", lambda: recording.run(ctx)),
            ("numerics", lambda: numerics.run(ctx)),
            ("projection", lambda: projection.run(ctx, doc["details"].get("throughput", {}).get("cases", []),
                                                  a.usd_per_hour, a.t4_usd_per_hour)),
        ]
        for name, fn in parts:
            print(f"[{budget.elapsed():6.1f} s] {name} ...", flush=True)
            _section(name, fn, doc)
            doc["wall_s"] = budget.elapsed()
            report.write(out, doc)
            print(f"[{budget.elapsed():6.1f} s] {name}: {doc['sections'][name]['status']}", flush=True)
    json_path, md_path = report.write(out, doc)
    print()
    print(table(doc["sections"]))
    print(f"\ntotal {doc['wall_s']:.0f} s of a {a.budget:.0f} s budget; {json_path} and {md_path} written")
    return 0
