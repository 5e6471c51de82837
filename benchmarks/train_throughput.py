"""Training throughput and model FLOPs utilisation: our GPT against Hugging Face GPT-2, side by side.

For each size, one process builds both models and times training steps in alternating order
(ours, ref, ref, ours, ...). Throughput is tokens per second of forward + backward + clipping +
AdamW step, fp32 on the CPU. The ratio is the median over repetitions of ref_seconds / ours_seconds
(higher is better for us). MFU is achieved FLOP/s (see `models.flops_per_token`) divided by this
machine's fp32 matmul rate, measured in the same interleaved loop as a square `torch.mm`, so that
both stand under the same load.
"""

from __future__ import annotations

import logging

import torch

from benchmarks.common import Options, Row, interleaved, median
from benchmarks.models import SIZES, build_ours, build_ref, flops_per_token, make_step, ref_attention

NAME = "train"
SUMMARY = "training tokens/s and MFU, ours vs transformers GPT2LMHeadModel (tiny, mid, seedling; fp32 CPU)"

log = logging.getLogger(__name__)

# (repetitions, timed steps per repetition, untimed settling steps before each) per size; quick mode
# runs the tiny size only. The seedling size skips settling: one step takes seconds on a CPU.
PLAN = {"tiny": (7, 4, 1), "mid": (5, 1, 1), "seedling": (3, 1, 0)}
MATMUL_N = 1024


def matmul_case(n: int = MATMUL_N):
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    return lambda: torch.mm(a, b, out=out), 2.0 * n**3


def run(opts: Options) -> list[Row]:
    rows: list[Row] = []
    sizes = ["tiny"] if opts.quick else list(PLAN)
    for name in sizes:
        rows += run_size(name, opts)
    return rows


def run_size(name: str, opts: Options) -> list[Row]:
    size = SIZES[name]
    cfg = size.config()
    batch = size.quick_batch if opts.quick else size.batch
    reps, inner, settle = PLAN[name]
    reps = opts.reps(reps)
    inner = 1 if opts.quick else inner
    tokens = batch * cfg.model.n_ctx
    ours, ref = build_ours(cfg), build_ref(cfg)
    cases = {
        "ours": make_step(ours, cfg, batch, "ours"),
        "ref": make_step(ref, cfg, batch, "ref"),
        "ours_fused": make_step(ours, cfg, batch, "ours", fused=True),
    }
    if opts.compile:
        compiled = torch.compile(ours)
        cases["ours_compiled"] = make_step(compiled, cfg, batch, "ours", fused=True)
    mm_n = 512 if opts.quick else MATMUL_N
    mm, mm_flop = matmul_case(mm_n)
    cases["matmul"] = lambda: [mm() for _ in range(3)]
    log.info("train %s: batch %d x %d tokens, %d reps x %d steps", name, batch, cfg.model.n_ctx, reps, inner)
    t = interleaved(cases, repeat=reps, warmup=1, inner=inner, settle=0 if opts.quick else settle)
    peak = 3 * mm_flop / median(t["matmul"])
    fpt = flops_per_token(cfg)
    label = f"{name} (B={batch}, T={cfg.model.n_ctx}, {sum(p.numel() for p in ours.parameters()) / 1e6:.2f}M params)"
    attn = ref_attention(ref)
    rows = []
    for case, note in [
        ("ours", f"same optimizer (AdamW, torch's CPU default for-loop); ref attention={attn}"),
        ("ours_fused", "ours with fused AdamW (fused=True); ref keeps the default for-loop AdamW"),
        ("ours_compiled", "torch.compile(ours) + fused AdamW; ref eager, default AdamW"),
    ]:
        if case not in t:
            continue
        paired = [r / o for r, o in zip(t["ref"], t[case])]
        rows.append(Row(
            case=label, metric=f"train tokens/s [{case}]", ours=tokens / median(t[case]), ref=tokens / median(t["ref"]),
            ratio=median(paired), unit="tokens/s", note=f"{note}; paired ratios {min(paired):.2f}-{max(paired):.2f}", samples={case: t[case], "ref": t["ref"]},
        ))
    mfu_ours, mfu_ref = tokens * fpt / median(t["ours"]) / peak, tokens * fpt / median(t["ref"]) / peak
    rows.append(Row(
        case=label, metric="MFU [ours]", ours=mfu_ours, ref=mfu_ref, ratio=mfu_ours / mfu_ref, unit="fraction",
        note=f"{fpt / 1e6:.1f} MFLOP/token (6N+12LTD); peak = fp32 {mm_n}^3 mm at {peak / 1e9:.1f} GFLOP/s",
        samples={"matmul": t["matmul"]},
    ))
    rows.append(Row(case=label, metric="fp32 matmul rate", ours=peak / 1e9, unit="GFLOP/s",
                    note=f"torch.mm {mm_n}x{mm_n}, median of interleaved samples; best {3 * mm_flop / min(t['matmul']) / 1e9:.1f}"))
    return rows
