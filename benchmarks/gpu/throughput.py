"""Training throughput at the seed's shape: tokens/s, MFU and peak memory, ours against GPT2LMHeadModel.

First the micro-batch: doubling from the seed's 8 while one fp16 step of both models fits, up to
the seed's whole step of 8 x 32 sequences; the plan's 256 sequences per optimizer step are then
reached by accumulation. Then, in order of value while the budget lasts, one case per precision
(fp16 + GradScaler, bf16, TF32, fp32) and mode (eager, torch.compile): both models' real Trainers
are built, each takes two untimed steps (the first compiles and allocates; the second sizes the
repetitions), then optimizer steps alternate ours, ref, ref, ours, ... (`benchmarks.common.interleaved`),
each step timed from a synchronised device to a synchronised device. A case that runs out of
memory is retried at half the micro-batch.

    tokens/s = sequences per step x n_ctx / median step seconds;   ratio = median of paired ref_s / ours_s
    MFU = tokens/s x (6N + 12 L T d_model) / peak of the precision  (benchmarks.gpu.peaks)

Peak memory is torch.cuda.max_memory_allocated over each model's warm-up steps; both models are
resident, so each figure includes the other model's weights and optimizer state (about 16 bytes
per parameter). On the CPU (--dry-run) it is the process's peak RSS, not a per-case figure.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from benchmarks.common import Row, interleaved, median, paired_ratio
from benchmarks.gpu.budget import attempt, free_memory
from benchmarks.gpu.harness import Ctx, make_trainer, matmul_mode, release, stepper, unavailable
from benchmarks.gpu.peaks import mfu
from benchmarks.models import flops_per_token
from seedling.train.state import peak_memory_mb

__all__ = ["CASES", "run", "search_micro"]

log = logging.getLogger(__name__)

# (precision, compiled) in order of value: the seed's recipe first, then what a user would switch to.
CASES = (("fp16", False), ("bf16", False), ("fp16", True), ("tf32", False), ("fp32", False), ("bf16", True),
         ("tf32", True), ("fp32", True))
SLOWER = {"fp16": 1.0, "bf16": 1.0, "tf32": 2.0, "fp32": 5.0}  # step time vs fp16, for estimates only
COMPILE_GUESS_S = 90.0  # both models' first compiled step, until one has been measured


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _probe(ctx: Ctx, micro: int) -> float:
    """One fp16 step of each model at this micro-batch (no accumulation); the larger peak memory, MiB."""
    peaks = []
    for name in ctx.models:
        reset_peak(ctx.device)
        tr = make_trainer(ctx, "fp16", micro, name, accum=1)
        stepper(tr, ctx.device)()
        peaks.append(peak_memory_mb(ctx.device))
        release(tr)
        del tr
        free_memory(ctx.device)
    return max(peaks)


def search_micro(ctx: Ctx) -> tuple[int, list[dict[str, Any]]]:
    """The largest micro-batch (doubling from the shape's first, up to its sequences per step) that fits."""
    tried: list[dict[str, Any]] = []
    best, m, last_s = None, ctx.shape.first_micro, 0.0
    while m <= ctx.shape.seqs_per_step:
        reason = ctx.budget.refuse("throughput", 2.5 * last_s) if best is not None else None
        if reason:
            tried.append({"micro": m, "fits": None, "reason": reason})
            break
        t0 = time.perf_counter()
        peak, reason = attempt(lambda m=m: _probe(ctx, m), ctx.device)
        last_s = time.perf_counter() - t0
        tried.append({"micro": m, "fits": peak is not None, "peak_memory_mb": peak, "seconds": last_s, "reason": reason})
        if peak is None:
            break
        best, m = m, 2 * m
    m = ctx.shape.first_micro // 2
    while best is None and m >= 1:  # even the first size did not fit: halve until one does
        peak, reason = attempt(lambda m=m: _probe(ctx, m), ctx.device)
        tried.append({"micro": m, "fits": peak is not None, "peak_memory_mb": peak, "reason": reason})
        best = m if peak is not None else None
        m //= 2
    return best or 1, tried


def _time_case(ctx: Ctx, precision: str, compiled: bool, micro: int, share_s: float) -> dict[str, Any]:
    t_start = time.perf_counter()
    if compiled:  # every compiled case compiles from scratch, under dynamo's recompile limit
        torch._dynamo.reset()
    trainers = {name: make_trainer(ctx, precision, micro, name, compiled) for name in ctx.models}
    steps = {name: stepper(tr, ctx.device) for name, tr in trainers.items()}
    first, second, peak = {}, {}, {}
    with matmul_mode(precision):
        for name, step in steps.items():
            reset_peak(ctx.device)
            first[name] = timed(step)  # compiles (compiled cases) and allocates
            second[name] = timed(step)
            peak[name] = peak_memory_mb(ctx.device)
        left = share_s - (time.perf_counter() - t_start)
        reps = max(2, min(ctx.shape.max_reps, int(left / sum(second.values()))))
        wall = interleaved(steps, repeat=reps, warmup=0)
    out = {"first_step_s": first, "second_step_s": second, "peak_memory_mb": peak, "reps": reps, "samples": wall,
           "scaler_skips": {n: tr.guard.scaler_skips for n, tr in trainers.items()},
           "final_loss": {n: tr.state.loss for n, tr in trainers.items()},
           "accum": trainers["ours"].config.train.grad_accum}
    for tr in trainers.values():
        release(tr)
    return out


def run_case(ctx: Ctx, precision: str, compiled: bool, share_s: float) -> tuple[dict[str, Any] | None, int, str | None]:
    """(result, micro-batch used, reason it has no result); halves the micro-batch on running out of memory."""
    micro = ctx.micro
    while True:
        res, reason = attempt(lambda micro=micro: _time_case(ctx, precision, compiled, micro, share_s), ctx.device, any_error=compiled)
        free_memory(ctx.device)
        if res is not None or not reason or not reason.startswith("out of memory") or micro == 1:
            return res, micro, reason
        log.info("%s %s: out of memory at micro-batch %d; halving", precision, "compiled" if compiled else "eager", micro)
        micro //= 2


def _rows(ctx: Ctx, precision: str, compiled: bool, micro: int, res: dict[str, Any]) -> tuple[list[Row], dict]:
    """One measured case as the table's rows (tokens/s, MFU, memory, compile time) and as the JSON's dict."""
    t, fpt = res["samples"], flops_per_token(ctx.shape.cfg)
    tokens_per_step = ctx.shape.seqs_per_step * ctx.shape.cfg.model.n_ctx
    med, q1, q3 = paired_ratio(t["ref"], t["ours"]) if "ref" in t else (None, None, None)
    tps = {n: tokens_per_step / median(t[n]) for n in t}
    ref = {k: res[k].get("ref") for k in ("peak_memory_mb", "first_step_s")}
    label = f"{precision} {'compiled' if compiled else 'eager'}, micro {micro} x {res['accum']}"
    skips = ", ".join(f"{n} {k}" for n, k in res["scaler_skips"].items())
    rows = [Row(label, "train tokens/s", tps["ours"], "tokens/s", ref=tps.get("ref"), ratio=med, ratio_q1=q1,
                ratio_q3=q3, samples=t, note=f"median of {res['reps']} paired optimizer steps of {tokens_per_step:,} "
                                             f"tokens; scaler skips during the case: {skips}")]
    case = {"precision": precision, "compiled": compiled, "micro": micro, "accum": res["accum"], "tokens_per_s": tps,
            "ratio": med, "ratio_iqr": [q1, q3], **{k: res[k] for k in (
                "first_step_s", "second_step_s", "peak_memory_mb", "reps", "scaler_skips", "final_loss")}}
    peak_tf = ctx.peak.peak(precision) if ctx.peak else None
    if peak_tf:
        m = case["mfu"] = {n: mfu(tps[n], fpt, peak_tf) for n in tps}
        rows.append(Row(label, "MFU", m["ours"], "fraction", ref=m.get("ref"),
                        ratio=m["ours"] / m["ref"] if "ref" in m else None,
                        note=f"{fpt / 1e6:.0f} MFLOP/token (6N+12LTd) over {ctx.peak.name} {precision} peak "
                             f"{peak_tf:g} TFLOP/s ({ctx.peak.source})"))
    where = "max_memory_allocated, both models resident" if ctx.device.type == "cuda" else \
        "process peak RSS (CPU: not per case)"
    rows.append(Row(label, "peak memory", res["peak_memory_mb"]["ours"], "MiB", ref=ref["peak_memory_mb"], note=where))
    if compiled:
        rows.append(Row(label, "first step (trace + compile)", res["first_step_s"]["ours"], "s",
                        ref=ref["first_step_s"], note=f"backend {ctx.compile_backend}"))
    return rows, case


def run(ctx: Ctx) -> tuple[list[Row], dict[str, Any]]:
    """The micro-batch search, then every case of CASES the device and the budget allow: rows and details."""
    ctx.micro, tried = search_micro(ctx)
    rows: list[Row] = []
    cases: list[dict[str, Any]] = []
    step_fp16, compile_s = None, None
    for i, (precision, compiled) in enumerate(CASES):
        label = f"{precision} {'compiled' if compiled else 'eager'}"
        est = 8 * (step_fp16 or 1.0) * SLOWER[precision] + ((compile_s or COMPILE_GUESS_S) if compiled else 0.0)
        reason = unavailable(precision, ctx.device) or ctx.budget.refuse("throughput", est if step_fp16 else 0.0)
        res, micro = None, ctx.micro
        if reason is None:
            share = max(ctx.budget.left("throughput") / (len(CASES) - i), 0.0)
            res, micro, reason = run_case(ctx, precision, compiled, share)
        if res is None:
            rows.append(Row(label, "train tokens/s", None, "tokens/s", note=f"skipped: {reason}"))
            cases.append({"precision": precision, "compiled": compiled, "skipped": reason})
            continue
        if precision == "fp16" and not compiled:
            step_fp16 = median(res["samples"]["ours"])
        if compiled:
            compile_s = sum(res["first_step_s"].values())
        case_rows, case = _rows(ctx, precision, compiled, micro, res)
        rows += case_rows
        cases.append(case)
    if "ref" not in ctx.models:
        rows.append(Row("every case", "reference GPT2LMHeadModel", None, "tokens/s",
                        note="skipped: transformers is not installed (pip install -e '.[dev]'); ours alone was timed"))
    if ctx.peak is None:
        rows.append(Row("every case", "MFU", None, "fraction", note=f"{ctx.device_name}: not in the peak table, "
                                                                    "tokens/s only"))
    return rows, {"micro_search": tried, "micro": ctx.micro, "cases": cases,
                  "flops_per_token": flops_per_token(ctx.shape.cfg)}
