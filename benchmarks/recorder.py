"""Recorder overhead as issue 4 defines it, measured with the real training loop, A/B in one process.

Runs of the tiny preset on `synthetic:induction`, with no recorder (A) and with
`recorders.Recorder("every=E")` subscribed (B), alternate A B B A ...; every run is the same seeded
run. From them:
- cost of one record = (wall_B - wall_A) / records in B, paired by repetition; in training steps, that
  divided by A's median step time (target: < 3 steps on tiny);
- overhead at every=500 and every=50 = records(E) x cost / (steps x step time) for a 227,900-step plan
  shape, plus the directly measured (wall_B - wall_A) / wall_A of the B runs (target: < 1% at 500);
- between records: median step time of B's non-record steps / A's (from metrics.jsonl; target ~1.0).
The record step is also timed directly at the small preset's shape (`benchmarks.recorder_small`).
Bytes per record per group and the projected store of a full seedling run come from the recorders
engineer's `benchmarks.recorder_overhead.declared_bytes` (uncompressed, from declared shapes), beside
the measured on-disk bytes per record of the B runs (compressed).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import Options, Row, median

NAME = "recorder"
SUMMARY = "recorder overhead (every=500, every=50) with the real training loop, bytes per record, store projection"

SEEDLING_STEPS = 227_900


def _fit(cfg, root: Path, spec: str | None) -> tuple[float, list[float], int, int]:
    """One run; (wall seconds of fit, per-step seconds, records written, store bytes on disk)."""
    from seedling.data import prepare
    from seedling.train.loop import Trainer

    run_dir = Path(tempfile.mkdtemp(dir=root))
    data = prepare(cfg, run_dir)
    trainer = Trainer(cfg, run_dir, data)
    rec = None
    if spec:
        from recorders import Recorder

        rec = Recorder(spec, run_dir, data=data)
        trainer.subscribe(rec)
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    lines = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    el = [0.0] + [ln["elapsed"] for ln in lines if "elapsed" in ln]  # step lines only
    steps = [b - a for a, b in zip(el, el[1:])]
    n_rec, nbytes = 0, 0
    if rec is not None:
        store = run_dir / "records.zarr"
        n_rec = len(rec.spec.record_steps(cfg.train.max_steps))
        nbytes = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    shutil.rmtree(run_dir, ignore_errors=True)
    return wall, steps, n_rec, nbytes


def run(opts: Options) -> list[Row]:
    from benchmarks.recorder_overhead import declared_bytes
    from recorders.groups import build_groups
    from recorders.probe import build_probe
    from recorders.spec import parse_spec
    from seedling.config import preset
    from seedling.model import GPT

    n_steps, every = (10, 5) if opts.quick else (40, 20)
    cfg = preset("tiny", ["data.source=synthetic:induction", f"train.max_steps={n_steps}", "train.eval_every=100000",
                          "train.checkpoint_every=100000", "train.log_checkpoints=false", "train.warmup_steps=5"])
    spec = f"every={every}"
    root = Path(tempfile.mkdtemp(prefix="bench-rec-"))
    a_runs, b_runs = [], []
    try:
        _fit(cfg, root, None)  # warm-up: imports, allocator
        for r in range(opts.reps(1)):
            for arm in ("A", "B") if r % 2 == 0 else ("B", "A"):
                (a_runs if arm == "A" else b_runs).append(_fit(cfg, root, None if arm == "A" else spec))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n_rec = b_runs[0][2]
    step_a = median([s for run in a_runs for s in run[1]])
    record_steps = set(parse_spec(spec).record_steps(n_steps))
    # Step k's duration includes the record taken after it (and step 1's, the step-0 record).
    between_b = median([s for run in b_runs for k, s in enumerate(run[1], start=1) if k not in record_steps and k != 1])
    cost = median([(b[0] - a[0]) / n_rec for a, b in zip(a_runs, b_runs)])
    direct = median([(b[0] - a[0]) / a[0] for a, b in zip(a_runs, b_runs)])
    disk_per_record = median([b[3] / n_rec for b in b_runs])
    label = f"tiny, {n_steps} steps, every={every} ({n_rec} records), {len(a_runs)} A/B pairs"
    rows = [
        Row(label, "record cost, in training steps (A/B)", cost / step_a, "steps", note=f"{cost * 1e3:.0f} ms per record; "
            f"step {step_a * 1e3:.0f} ms; target < 3" + ("; negative: the A/B difference is below the noise" if cost < 0 else "")),
        Row(label, "measured overhead of the B runs", direct, "fraction of wall",
            note=f"(wall_B - wall_A) / wall_A at every={every}", samples={"A": [a[0] for a in a_runs], "B": [b[0] for b in b_runs]}),
        Row(label, "step time between records", between_b, "s", ref=step_a, ratio=between_b / step_a,
            note="ours = with recorder (non-record steps), ref = without; target 1.0 within noise"),
    ]
    for e in (500, 50):
        n = len(parse_spec(f"every={e}").record_steps(SEEDLING_STEPS))
        rows.append(Row("tiny, projected to a 227,900-step plan", f"overhead at every={e}",
                        n * cost / (SEEDLING_STEPS * step_a), "fraction of wall",
                        note=f"{n:,} records x {cost * 1e3:.0f} ms / (227,900 x {step_a * 1e3:.0f} ms); target < 1% at 500"))
    rows += direct_rows(opts)
    if not opts.quick:  # a small-preset record takes seconds of probe forwards; whole processes take minutes
        from benchmarks.recorder_process import process_rows
        from benchmarks.recorder_small import small_rows

        rows += small_rows(opts)
        rows += process_rows(opts)
    rows.append(Row(label, "store bytes on disk per record", disk_per_record, "bytes",
                    note="all groups, compressed; includes the fixed probe batch and metadata, spread over few records"))
    spec0 = parse_spec("")
    import torch

    for name in ("tiny", "seedling"):
        m = preset(name).model
        with torch.device("meta"):  # shapes only
            model = GPT(m)
        probe = build_probe(spec0.probe, m.n_ctx, m.d_vocab, 0, spec0.sample)
        per_group = declared_bytes(build_groups(spec0.what, probe), model, probe)
        total = sum(per_group.values())
        rows.append(Row(f"{name} shape", "bytes per record (uncompressed)", total, "bytes",
                        note="; ".join(f"{g} {b:,}" for g, b in per_group.items())))
        if name == "seedling":
            for e in (500, 50):
                n = len(parse_spec(f"every={e}").record_steps(SEEDLING_STEPS))
                rows.append(Row("seedling, 227,900 steps", f"projected store at every={e}", n * total / 2**30, "GiB",
                                note=f"{n:,} records, uncompressed"))
    return rows


def direct_rows(opts: Options) -> list[Row]:
    """The record step's extra work timed directly beside training steps (recorder_overhead.time_steps).

    Less exposed to load swings than whole-run A/B: each record is timed right after a training step.
    """
    from benchmarks.recorder_overhead import time_steps, tiny_setup
    from recorders.spec import parse_spec

    rows = []
    # The tiny preset's shape, and the induction tour's (context 32, 65 symbols, micro-batch 32).
    for shape, overrides, batch in (("tiny", (), 16),
                                    ("induction tour", ("model.n_ctx=32", "model.d_vocab=65"), 32)):
        model, opt, groups, probe = tiny_setup(overrides)
        t_train, t_record = time_steps(model, opt, groups, probe, opts.reps(5), batch=batch)
        label = f"{shape} shape, record step timed directly (all groups)"
        rows.append(Row(label, "record cost, in training steps (direct)", t_record / t_train, "steps",
                        note=f"{t_record * 1e3:.0f} ms per record, step {t_train * 1e3:.0f} ms; target <= 1.0"))
        for e in (500, 50):
            n = len(parse_spec(f"every={e}").record_steps(SEEDLING_STEPS))
            rows.append(Row(label, f"overhead at every={e} (direct)", n * t_record / (SEEDLING_STEPS * t_train),
                            "fraction of wall", note=f"{n:,} records over 227,900 steps; target < 1% at 500"))
    return rows
