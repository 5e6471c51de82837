"""kill -9 and Ctrl-C at random moments (many inside checkpoint writes), then the same command until done.

The promise: the finished run is bit-identical to one never interrupted (weights, every step's
loss), metrics.jsonl holds each step once, and the store's records equal the uninterrupted run's,
with 0 holes and 0 duplicates. A kill counts as "during a checkpoint write" when it left the
evidence of one: a `.step_*.tmp` temporary, or a checkpoint without its sidecar.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

from benchmarks.torture.harness import (
    STEPS,
    Harness,
    Result,
    final_weights,
    holes_and_duplicates,
    same_records,
    same_weights,
    step_lines,
)

# Checkpoints at every step (most of a step's time is then spent writing one, so random kills land
# in writes often), and every 5 (kills land in training, evaluation and recording).
PLANS = {"every step": ["train.checkpoint_every=1", "train.keep_last=2"], "every 5": []}


def _mid_write(run: Path) -> bool:
    d = run / "checkpoints"
    return any(d.glob(".step_*.tmp")) or any(not p.with_suffix(".json").exists() for p in d.glob("step_*.pt"))


def _wait_for_training(run: Path, proc, timeout: float = 120) -> bool:
    """Until the loop runs (metrics.jsonl grew: a resume, eval or step line) or the process ended."""
    metrics = run / "metrics.jsonl"
    size = metrics.stat().st_size if metrics.exists() else 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if metrics.exists() and metrics.stat().st_size != size:
            return True
        time.sleep(0.005)
    return False


def _interrupt_once(h: Harness, run: Path, rng: random.Random, sig: int, window: float) -> tuple[bool, bool]:
    """Start the run, wait a random time after training starts, send `sig`. (signalled?, landed mid-write?)"""
    proc = h.popen("seedling.train", h.train_args(run, extra=_plan(run)))
    if not _wait_for_training(run, proc):
        proc.wait()
        return False, False
    deadline = time.monotonic() + rng.uniform(0, window)
    mid = False
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.0005)
    if proc.poll() is None:
        if sig == signal.SIGKILL and rng.random() < 0.5:
            mid = _kill_in_write(run, proc, deadline + window)  # aim for a checkpoint write
        else:
            proc.send_signal(sig)
    proc.wait()
    landed = proc.returncode in (-signal.SIGKILL, 130)
    return landed, landed and (mid or _mid_write(run))


def _kill_in_write(run: Path, proc, until: float) -> bool:
    """SIGKILL as soon as a checkpoint temporary appears (polling), or at `until`."""
    d = run / "checkpoints"
    while time.monotonic() < until and proc.poll() is None:
        if any(d.glob(".step_*.tmp")):
            proc.kill()
            return True
        time.sleep(0.0002)
    if proc.poll() is None:
        proc.kill()
    return False


def _plan(run: Path) -> list[str]:
    return PLANS[run.name.split("-")[0].replace("_", " ")]


def interruptions(h: Harness, kills: int = 50, ctrl_c: int = 6, seed: int = 0, window: float = 2.5) -> Result:
    """`kills` SIGKILLs and `ctrl_c` SIGINTs over several runs; each run then finishes and is compared."""
    r = Result("kill -9 and Ctrl-C")
    rng = random.Random(seed)
    refs = {name: h.base(f"ref-{name.replace(' ', '_')}", extra) for name, extra in PLANS.items()}
    r.extra.update(kills=0, kills_mid_checkpoint=0, ctrl_c=0, runs=0, holes=0, duplicates=0, identical=0)
    trial = 0
    while r.extra["kills"] < kills or r.extra["ctrl_c"] < ctrl_c:
        plan = list(PLANS)[trial % len(PLANS)]
        run = h.work / f"{plan.replace(' ', '_')}-{trial}"
        shutil.rmtree(run, ignore_errors=True)
        trial += 1
        for _ in range(rng.randint(2, 4)):
            want_int = r.extra["ctrl_c"] < ctrl_c and (r.extra["kills"] >= kills or rng.random() < 0.15)
            sig = signal.SIGINT if want_int else signal.SIGKILL
            landed, mid = _interrupt_once(h, run, rng, sig, window)
            if landed:
                r.extra["ctrl_c" if want_int else "kills"] += 1
                r.extra["kills_mid_checkpoint"] += int(mid and not want_int)
        p = h.run("seedling.train", h.train_args(run, extra=_plan(run)))
        ref = refs[plan]
        steps = [s["step"] for s in step_lines(run)]
        holes, dups = holes_and_duplicates(steps, list(range(1, STEPS + 1)))
        same_losses = [s["loss"] for s in step_lines(run)] == [s["loss"] for s in step_lines(ref)]
        same_store, s_holes, s_dups = same_records(run, ref) if p.rc == 0 else (False, -1, -1)
        identical = same_weights(final_weights(run), final_weights(ref)) and same_losses
        r.extra["runs"] += 1
        r.extra["holes"] += holes + max(s_holes, 0)
        r.extra["duplicates"] += dups + max(s_dups, 0)
        r.extra["identical"] += int(identical and same_store)
        r.check(p.rc == 0 and identical and same_store and holes == dups == s_holes == s_dups == 0,
                f"{run.name}: rc {p.rc}, identical {identical}, store {same_store}, holes {holes}+{s_holes}, "
                f"duplicates {dups}+{s_dups}; {p.err.strip()[-300:]}")
    return r


def second_writer(h: Harness) -> Result:
    """Two trainings on one --out: the second gets one line naming the first's pid and exits 2; the first is intact."""
    r = Result("one writer per run directory")
    run = h.work / "locked"
    shutil.rmtree(run, ignore_errors=True)
    first = h.popen("seedling.train", h.train_args(run, steps=60, extra=PLANS["every step"]))
    started = _wait_for_training(run, first)
    p = h.run("seedling.train", h.train_args(run, steps=60, extra=PLANS["every step"]))
    r.check(started and p.rc == 2 and f"pid {first.pid}" in p.err and len(p.err.strip().splitlines()) == 1,
            f"second writer: rc {p.rc}, {p.err.strip()[-300:]}")
    first.wait()
    steps = [s["step"] for s in step_lines(run)]
    r.check(first.returncode == 0 and steps == list(range(1, 61)), f"first writer: rc {first.returncode}")
    r.check(not (run / ".lock").exists(), "the lock file outlived its owner's clean exit")
    return r


def startup_interrupt(h: Harness) -> Result:
    """Ctrl-C while the command starts up (before training): no 'second Ctrl-C' message, nothing trained."""
    r = Result("Ctrl-C during start-up")
    run = h.work / "startup"
    shutil.rmtree(run, ignore_errors=True)
    proc = h.popen("seedling.train", h.train_args(run))
    t0 = time.monotonic()
    while not (run / ".lock").exists() and proc.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    r.check(proc.returncode == 130 and "second Ctrl-C" not in err and "Traceback" not in err,
            f"rc {proc.returncode}: {err.strip()[-300:]}")
    return r
