"""The seed's plan, projected from the measured tokens/s: hours and cost on this device, and on a T4 by peak ratio.

Projections, not measurements. For every throughput case of ours that ran:

    hours = plan tokens / tokens/s / 3600;   cost = hours x the hourly price given (--usd-per-hour)
    T4 tokens/s = tokens/s x T4 peak / this device's peak, for the same precision (same MFU assumed)

The seed's plan is 227,900 optimizer steps of 8 x 32 sequences of 1,024 tokens (59.7 billion
tokens). Under --dry-run the arithmetic runs on the tiny preset's plan and the CPU's tokens/s,
and there is no T4 line (the CPU has no entry in the peak table).
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Row
from benchmarks.gpu.harness import Ctx
from benchmarks.gpu.peaks import plan_cost, t4_tokens_per_s

__all__ = ["run"]


def run(ctx: Ctx, cases: list[dict[str, Any]], usd_per_hour: float, t4_usd_per_hour: float) -> tuple[list[Row], dict]:
    shape = ctx.shape
    plan = shape.plan_tokens
    plan_note = (f"{shape.name} plan: {shape.cfg.train.max_steps:,} steps x {shape.seqs_per_step} sequences x "
                 f"{shape.cfg.model.n_ctx:,} tokens = {plan / 1e9:.3g} billion tokens")
    rows: list[Row] = []
    out: list[dict[str, Any]] = []
    for c in cases:
        if "skipped" in c:
            continue
        label = f"{c['precision']} {'compiled' if c['compiled'] else 'eager'}"
        tps = c["tokens_per_s"]["ours"]
        hours, usd = plan_cost(plan, tps, usd_per_hour)
        rows.append(Row(f"{label}, this device", "projected hours", hours, "h",
                        note=f"projection from {tps:,.0f} tokens/s measured; {plan_note}"))
        rows.append(Row(f"{label}, this device", "projected cost", usd, "USD", note=f"at {usd_per_hour:g} USD/h"))
        t4, why = t4_tokens_per_s(tps, ctx.peak, c["precision"])
        entry = {"case": label, "tokens_per_s": tps, "hours": hours, "usd": usd, "t4_tokens_per_s": t4, "t4_note": why}
        if t4 is None and ctx.peak is not None:
            rows.append(Row(f"{label}, T4 by peak ratio", "projected hours", None, "h", note=f"no T4 projection: {why}"))
        elif t4 is not None:
            t4_hours, t4_usd = plan_cost(plan, t4, t4_usd_per_hour)
            entry |= {"t4_hours": t4_hours, "t4_usd": t4_usd}
            rows.append(Row(f"{label}, T4 by peak ratio", "projected hours", t4_hours, "h",
                            note=f"projection, not measured: {t4:,.0f} tokens/s = measured {why}"))
            rows.append(Row(f"{label}, T4 by peak ratio", "projected cost", t4_usd, "USD", note=f"at {t4_usd_per_hour:g} USD/h"))
        out.append(entry)
    if ctx.peak is None:
        rows.append(Row("every case, T4 by peak ratio", "projected hours", None, "h",
                        note=f"no T4 projection: {ctx.device_name} is not in the peak table"))
    return rows, {"plan_tokens": plan, "plan": plan_note, "usd_per_hour": usd_per_hour,
                  "t4_usd_per_hour": t4_usd_per_hour, "projections": out}
