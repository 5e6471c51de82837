"""Numerics: the same steps on the built-in corpus in fp32, fp16 + GradScaler and bf16 from one seed; an injected inf.

Each precision trains a fresh real Trainer of the measured model shape from seed 0 on the built-in
corpus (the same batches in the same order): 200 steps (--dry-run: 6) of `numerics_micro`
sequences (8) without accumulation, the seed's lr 1e-4 with a warm-up of a tenth of the steps and
cosine decay to 0, dropout off so that the arithmetic is the only difference. fp32 runs with TF32
off. A precision's budget share that runs out stops its curve early (the steps run are stated).

Agreement, over the last tenth of the steps both curves ran (w = 20 of 200):

    |mean_w(loss_p) - mean_w(loss_fp32)| <= TOLERANCE[p]        nats (fp16: 0.05, bf16: 0.10)

bf16 keeps 8 bits of mantissa to fp16's 11, hence its wider tolerance. The largest single-step
difference is reported beside it. fp16's first steps may be skipped by the scaler while it
calibrates its scale; they are counted.

Injected inf: after fp16's curve, one more step with +inf written into one element of the
embedding's gradient during backward (a tensor hook). The scaler must find it at unscale_, skip
the optimizer step (every weight unchanged), halve its scale; the guard must count a scaler skip,
not a bad step; and the next step must train normally.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.common import Row
from benchmarks.gpu.harness import Ctx, make_trainer, matmul_mode, release, unavailable

__all__ = ["TOLERANCE", "agreement", "inject_inf", "run"]

TOLERANCE = {"fp16": 0.05, "bf16": 0.10}  # nats, on the mean loss of the last tenth of the steps
ORDER = ("fp32", "fp16", "bf16")  # fp32 first: the reference curve


def agreement(curve: list[float], reference: list[float]) -> dict[str, float | int]:
    """Final-window mean difference and largest step difference of two loss curves (nats), over their common steps.

    >>> agreement([3.0, 2.0, 1.5], [3.0, 2.1, 1.4])["window"]
    1
    """
    n = min(len(curve), len(reference))
    w = max(1, n // 10)
    final = abs(sum(curve[n - w:n]) / w - sum(reference[n - w:n]) / w)
    return {"steps": n, "window": w, "final_diff": final,
            "max_step_diff": max(abs(a - b) for a, b in zip(curve[:n], reference[:n]))}


def inject_inf(trainer: Any) -> dict[str, Any]:
    """One step with +inf in the embedding's gradient; what the scaler, the weights and the guard did."""
    from seedling.train.metrics import read_metrics

    model = trainer.model
    before = [p.detach().clone() for p in model.parameters()]
    scale0, skips0, bad0 = trainer.scaler.get_scale(), trainer.guard.scaler_skips, trainer.guard.bad_steps

    def poison(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad.view(-1)[0] = float("inf")
        return grad

    handle = model.wte.weight.register_hook(poison)
    try:
        trainer.train_step()
    finally:
        handle.remove()
    out = {
        "step": trainer.state.step, "skipped": trainer.state.skipped,
        "scale_before": scale0, "scale_after": trainer.scaler.get_scale(),
        "weights_unchanged": all(torch.equal(b, p.detach()) for b, p in zip(before, model.parameters())),
        "scaler_skips_counted": trainer.guard.scaler_skips - skips0, "bad_steps_counted": trainer.guard.bad_steps - bad0,
        "scaler_skip_event": any(e["step"] == trainer.state.step
                                 for e in read_metrics(trainer.run_dir / "metrics.jsonl", "scaler_skip")),
    }
    trainer.train_step()
    out["next_step_trained"] = not trainer.state.skipped
    out["ok"] = bool(out["skipped"] and out["weights_unchanged"] and out["scale_after"] == out["scale_before"] / 2
                     and out["scaler_skips_counted"] == 1 and out["bad_steps_counted"] == 0
                     and out["scaler_skip_event"] and out["next_step_trained"])
    return out


def _curve(ctx: Ctx, precision: str, share_s: float) -> dict[str, Any]:
    steps = ctx.shape.numerics_steps
    trainer = make_trainer(ctx, precision, ctx.shape.numerics_micro, accum=1,
                           overrides={"train.max_steps": steps, "train.warmup_steps": max(1, steps // 10)})
    losses, stopped = [], None
    t0 = time.perf_counter()
    with matmul_mode(precision):
        for k in range(steps):
            trainer.train_step()
            losses.append(trainer.state.loss)
            spent = time.perf_counter() - t0
            if k + 1 < steps and spent * (k + 2) / (k + 1) > share_s:
                stopped = f"stopped after {k + 1} of {steps} steps: the next would pass its {share_s:.0f} s share"
                break
        seconds = time.perf_counter() - t0
        out = {"losses": losses, "seconds": seconds, "stopped": stopped, "scaler_skips": trainer.guard.scaler_skips,
               "bad_steps": trainer.guard.bad_steps,
               "final_scale": trainer.scaler.get_scale() if precision == "fp16" else None}  # before the injected inf
        out["injected_inf"] = inject_inf(trainer) if precision == "fp16" else None
    release(trainer)
    return out


def run(ctx: Ctx) -> tuple[list[Row], dict[str, Any]]:
    from benchmarks.gpu.budget import attempt

    curves: dict[str, dict[str, Any]] = {}
    rows: list[Row] = []
    for i, p in enumerate(ORDER):
        reason = unavailable(p, ctx.device) or ctx.budget.refuse("numerics", 1.0)
        if reason is None:
            share = ctx.budget.left("numerics") / (len(ORDER) - i)
            curves[p], reason = attempt(lambda p=p, share=share: _curve(ctx, p, share), ctx.device)
        if reason is not None:
            curves.pop(p, None)
            rows.append(Row(p, "loss curve", None, "nats", note=f"skipped: {reason}"))
    micro = ctx.shape.numerics_micro
    ref = curves.get("fp32")
    for p, c in curves.items():
        ls = c["losses"]
        w = max(1, len(ls) // 10)
        note = f"{len(ls)} steps of {micro} x {ctx.shape.cfg.model.n_ctx} tokens, loss {ls[0]:.3f} -> {sum(ls[-w:]) / w:.3f} " \
               f"(mean of the last {w}); {c['seconds']:.1f} s" + (f"; {c['stopped']}" if c["stopped"] else "")
        if p == "fp16":
            note += f"; scaler skips {c['scaler_skips']}, final scale {c['final_scale']:g} (before the injected inf)"
        rows.append(Row(p, "final loss", sum(ls[-w:]) / w, "nats", note=note))
        if p != "fp32" and ref is not None:
            a = agreement(ls, ref["losses"])
            c["agreement"] = a | {"tolerance": TOLERANCE[p], "within": a["final_diff"] <= TOLERANCE[p]}
            verdict = "within" if c["agreement"]["within"] else "OUTSIDE"
            rows.append(Row(f"{p} vs fp32", "final loss difference", a["final_diff"], "nats", ref=TOLERANCE[p],
                            note=f"{verdict} the tolerance (ref column) over the last {a['window']} of {a['steps']} "
                                 f"steps; largest single-step difference {a['max_step_diff']:.4f}"))
    inj = curves.get("fp16", {}).get("injected_inf")
    if inj is not None:
        rows.append(Row("fp16 injected inf", "scaler skipped the step and halved its scale", float(inj["ok"]), "1 = pass",
                        note=f"step skipped {inj['skipped']}, weights unchanged {inj['weights_unchanged']}, scale "
                             f"{inj['scale_before']:g} -> {inj['scale_after']:g}, guard: {inj['scaler_skips_counted']} "
                             f"scaler skip / {inj['bad_steps_counted']} bad steps, next step trained {inj['next_step_trained']}"))
    return rows, {"curves": curves, "tolerance": TOLERANCE}
