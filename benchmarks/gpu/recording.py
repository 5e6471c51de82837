"""Recording cost on the device: a record step in training steps, the overhead at every=500 and every=50, and its syncs.

The real recorder (`recorders.Recorder` with the default `--record` groups, writing a real store)
subscribes to a real fp16 Trainer at the throughput's micro-batch and the plan's accumulation.
Plain steps run first without it (A); then with `every=2`, so record steps and plain steps
alternate (B). The first step of each kind in B is dropped (hooks and the explicit attention
path warm up there).

    cost of one record = median(B record steps) - median(B plain steps)                   seconds
    in training steps  = cost / median(A steps)
    overhead at every=E = records(E) x cost / (plan steps x median(A steps))              fraction of wall
    between records    = median(B plain steps) / median(A steps)        1.0: nothing is paid off record steps

A GPU step is about 100x faster than a CPU step, so host work and device syncs that vanish on a CPU
dominate here. To find them, each group then runs alone in its own Recorder, sent the two events of
a record step on the last real step's gradients (from a synchronised device to a synchronised
device), and on CUDA every operation that makes the host wait for the device is counted by the
project line that called it (`torch.cuda.set_sync_debug_mode("warn")`); one plain training step is
counted the same way. Only the recorders' public entry points are used (`Recorder`, `parse_spec`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import Row, median
from benchmarks.gpu.harness import Ctx, make_trainer, release, stepper, sync

__all__ = ["run", "sync_watch"]

ROOT = Path(__file__).resolve().parents[2]
PLAIN_STEPS = 3  # A steps, and record/plain pairs in B (plus one warm-up pair)


def _site(stack: list[traceback.FrameSummary]) -> str:
    """'file:line (function) <- caller file:line' of the innermost project frames (not this benchmark's own)."""
    own = str(Path(__file__).parent)
    frames = [f for f in stack if f.filename.startswith(str(ROOT)) and not f.filename.startswith(own)
              and "site-packages" not in f.filename]  # a virtual environment inside the checkout is not project code
    if not frames:
        return "outside the project"
    where = [f"{Path(f.filename).relative_to(ROOT)}:{f.lineno}" for f in frames[-2:]]
    return f"{where[-1]} ({frames[-1].name})" + (f" <- {where[0]}" if len(where) > 1 else "")


@contextlib.contextmanager
def sync_watch(device: torch.device) -> Iterator[Counter]:
    """Count the operations that make the host wait for the GPU, by calling site; empty on a CPU."""
    sites: Counter = Counter()
    if device.type != "cuda":
        yield sites
        return

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if "synchroniz" in str(message).lower():
            sites[_site(traceback.extract_stack()[:-1])] += 1

    with warnings.catch_warnings():  # restores the filters and showwarning on exit
        warnings.simplefilter("always")
        warnings.showwarning = show
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield sites
        finally:
            torch.cuda.set_sync_debug_mode("default")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _ab(ctx: Ctx, trainer: Any, rec: Any) -> dict[str, Any]:
    step = stepper(trainer, ctx.device)
    step()  # warm-up
    a = [_timed(step) for _ in range(PLAIN_STEPS)]
    with sync_watch(ctx.device) as loop_sites:
        step()
    trainer.subscribe(rec)
    t0 = time.perf_counter()
    rec.on_train_start(trainer.state)  # probe, store, static arrays (no record: the step is not 0)
    sync(ctx.device)
    setup_s = time.perf_counter() - t0
    record_s, plain_s = [], []
    for _ in range(PLAIN_STEPS + 1):
        for _ in range(2):
            if len(record_s) > 1 and ctx.budget.refuse("recording", 2 * median(record_s)):
                break
            s = _timed(step)
            (record_s if trainer.state.step % 2 == 0 else plain_s).append(s)
    t0 = time.perf_counter()
    rec.on_train_end(trainer.state)  # flush and close the store
    close_s = time.perf_counter() - t0
    return {"a_s": a, "record_s": record_s[1:] or record_s, "plain_s": plain_s[1:] or plain_s, "setup_s": setup_s,
            "close_s": close_s, "loop_syncs": dict(loop_sites)}


def _per_group(ctx: Ctx, trainer: Any, what: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each group alone: a real Recorder of that group driven through the events a record step sends
    (`on_after_backward`, then `on_step_end`) on the gradients of the last real step, timed from a
    synchronised device to a synchronised device; then once more under the sync watch."""
    from recorders import Recorder

    out = []
    for name in what:
        reason = ctx.budget.refuse("recording", 1.0)
        if reason:
            out.append({"group": name, "skipped": reason})
            continue
        rec = Recorder(f"every=1 what={name}", tempfile.mkdtemp(dir=ctx.work, prefix=f"rec-{name}-"), data=ctx.data)
        state = dataclasses.replace(trainer.state)  # its own step counter; the model, optimizer and gradients are shared
        rec.on_train_start(state)  # not step 0: nothing is recorded here

        def once(rec=rec, state=state) -> None:
            rec.on_after_backward(state)  # the Trainer's order: before the step counter moves, then after
            state.step += 1
            rec.on_step_end(state)
            sync(ctx.device)

        sync(ctx.device)
        once()  # warm-up: hooks, the explicit attention path
        seconds = _timed(once)
        with sync_watch(ctx.device) as sites:  # a separate record: the watch's stack walks would inflate the time
            once()
        rec.on_train_end(state)
        out.append({"group": name, "seconds": seconds, "syncs": sum(sites.values()), "sites": dict(sites.most_common())})
    return out


def run(ctx: Ctx) -> tuple[list[Row], dict[str, Any]]:
    from recorders import Recorder, parse_spec

    what = parse_spec("").what  # the default --record groups
    trainer = make_trainer(ctx, "fp16", ctx.micro or ctx.shape.first_micro)
    rec = Recorder(f"every=2 what={','.join(what)}", trainer.run_dir, data=ctx.data)
    ab = _ab(ctx, trainer, rec)
    groups = _per_group(ctx, trainer, what)
    release(trainer)
    a, rs, ps = median(ab["a_s"]), median(ab["record_s"]), median(ab["plain_s"])
    cost = rs - ps
    plan = int(ctx.shape.cfg.train.max_steps)
    cfg = trainer.config.train
    label = f"fp16 eager, micro {cfg.micro_batch_size} x {cfg.grad_accum}, {len(what)} groups"
    rows = [Row(label, "record step cost, in training steps", cost / a, "steps",
                note=f"{cost:.3f} s per record = {rs:.3f} s record step - {ps:.3f} s plain step "
                     f"({len(ab['record_s'])} and {len(ab['plain_s'])} steps); step without recorder {a:.3f} s")]
    for every in (500, 50):
        n = len(parse_spec(f"every={every}").record_steps(plan))
        rows.append(Row(label, f"overhead at every={every}", n * cost / (plan * a), "fraction of wall",
                        note=f"{n:,} records over the plan's {plan:,} steps"))
    rows.append(Row(label, "step time between records", ps, "s", ref=a, ratio=ps / a,
                    note="ours = plain steps with the recorder subscribed, ref = without; 1.0 = free off record steps"))
    rows.append(Row(label, "recorder start and close", ab["setup_s"] + ab["close_s"], "s",
                    note=f"probe and store set-up {ab['setup_s']:.2f} s, final flush and close {ab['close_s']:.2f} s"))
    loop_n = sum(ab["loop_syncs"].values())
    cuda = ctx.device.type == "cuda"
    rows.append(Row(label, "device syncs in one plain training step", loop_n if cuda else None, "syncs",
                    note="; ".join(f"{k} x{v}" for k, v in ab["loop_syncs"].items()) if cuda else "counted on CUDA only"))
    for g in groups:
        if "skipped" in g:
            rows.append(Row(f"group {g['group']} alone", "record time", None, "s", note=f"skipped: {g['skipped']}"))
            continue
        top = "; ".join(f"{k} x{v}" for k, v in list(g["sites"].items())[:3])
        rows.append(Row(f"group {g['group']} alone", "record time", g["seconds"], "s", ref=a, ratio=g["seconds"] / a,
                        note=(f"{g['syncs']} device syncs" + (f": {top}" if top else "")) if cuda else
                        "ref = one training step; syncs counted on CUDA only"))
    return rows, {"ab": ab, "groups": groups, "cost_s": cost, "plan_steps": plan}
