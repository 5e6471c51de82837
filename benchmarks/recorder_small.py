"""Recorder overhead at the small preset's shape: one record step against one optimizer step, timed directly.

A `small` optimizer step is 16 sequences x 4 accumulation steps x 512 tokens (32,768 tokens, 17.1M
parameters): tens of seconds on this CPU, too long to run many times within the suite's budget. So
the training side is measured on a micro-batch of `MICRO` sequences (forward + backward, the
preset's dropout on), and the optimizer step (fused AdamW, as the training loop builds it) once per
repetition; the preset's step is then

    t_step = (micro_batch_size x grad_accum / MICRO) x t_micro + t_optimizer        (seconds)

which assumes that forward + backward time grows in proportion to the number of sequences at a
fixed context (matmuls of 1,024 rows and more run near the same rate here; if anything, the larger
real micro-batch runs a little faster per token, so t_step is a slight overestimate and the
overhead a slight underestimate). The record step's extra work is measured as it runs in training:
each group's `after_backward` (gradient capture) plus `collect` (the probe forwards with every
group's hooks, and each group's measurement). All samples are CPU time of this process, so a
shared machine's waits for a core are left out; with one torch thread that is the step's own cost.

    cost in steps = t_record / t_step;  overhead at every=E = records(E) x t_record / (steps x t_step)

over the preset's own plan (`train.max_steps` = 5,000 optimizer steps, records at step 0 and every E).
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import Options, Row, median

__all__ = ["MICRO", "small_rows", "time_small"]

MICRO = 2  # sequences per timed micro-batch


def time_small(reps: int, micro: int = MICRO, preset_name: str = "small") -> dict[str, float]:
    """Median CPU seconds of a micro-batch's forward + backward, of the optimizer step and of a record step.

    `preset_name` picks another preset's shape and plan (the tests use "tiny", which runs in a second).
    """
    from recorders.capture import collect
    from recorders.groups import RecordContext, build_groups
    from recorders.probe import build_probe
    from recorders.spec import parse_spec
    from seedling.config import preset
    from seedling.model import GPT
    from seedling.train.optim import build_optimizer

    cfg = preset(preset_name)
    torch.manual_seed(0)
    model = GPT(cfg.model).train()
    opt = build_optimizer(model, cfg.train)
    spec = parse_spec("")
    probe = build_probe(spec.probe, cfg.model.n_ctx, cfg.model.d_vocab, spec.seed, spec.sample)
    groups = build_groups(spec.what, probe)
    g = torch.Generator().manual_seed(0)
    state = type("State", (), {"step": 1, "loss": 0.0, "lr": cfg.train.lr, "tokens": 0, "grad_norm": 1.0,
                               "grad_norm_clipped": 1.0, "loss_scale": 1.0})()
    t_micro, t_opt, t_record = [], [], []
    for r in range(reps + 1):  # the first round warms up (allocator, lazy initialisation) and is dropped
        x = torch.randint(0, cfg.model.d_vocab, (micro, cfg.model.n_ctx + 1), generator=g)
        c0 = time.process_time()
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        c1 = time.process_time()
        for rec in groups:
            rec.after_backward(model)
        before = ({n: p.detach().clone() for n, p in model.named_parameters()}
                  if any(rec.needs_before for rec in groups) else None)  # as recorders.Recorder does
        c2 = time.process_time()
        opt.step()
        opt.zero_grad(set_to_none=True)
        c3 = time.process_time()
        state.loss = float(loss.detach())
        collect(groups, RecordContext(model, probe, state, before))
        c4 = time.process_time()
        if r > 0:
            t_micro.append(c1 - c0)
            t_opt.append(c3 - c2)
            t_record.append((c2 - c1) + (c4 - c3))
    return {"micro": median(t_micro), "optimizer": median(t_opt), "record": median(t_record),
            "micro_batch": micro, "sequences_per_step": cfg.train.micro_batch_size * cfg.train.grad_accum,
            "max_steps": cfg.train.max_steps, "n_ctx": cfg.model.n_ctx}


def small_rows(opts: Options) -> list[Row]:
    from recorders.spec import parse_spec

    reps = opts.reps(1, quick=1)
    t = time_small(reps)
    scale = t["sequences_per_step"] / t["micro_batch"]
    step = scale * t["micro"] + t["optimizer"]
    threads = torch.get_num_threads()
    label = f"small, record step timed directly (all groups, probe 8 x {t['n_ctx']}), {reps} reps"
    rows = [Row(label, "record cost, in training steps (direct)", t["record"] / step, "steps",
                note=f"record {t['record']:.2f} s; step {step:.1f} s = {scale:.0f} x {t['micro']:.2f} s "
                     f"(fwd+bwd of {t['micro_batch']} x {t['n_ctx']} tokens) + {t['optimizer']:.2f} s AdamW; "
                     f"CPU time, {threads} thread{'s' if threads > 1 else ''}; target < 1% of wall at every=500")]
    for e in (500, 50):
        n = len(parse_spec(f"every={e}").record_steps(t["max_steps"]))
        rows.append(Row(label, f"overhead at every={e} (direct)", n * t["record"] / (t["max_steps"] * step),
                        "fraction of wall", note=f"{n:,} records over the preset's {t['max_steps']:,} steps; "
                                                 "target < 1% at 500"))
    return rows
