"""Corruptions of checkpoints, sidecars, the record store and the run directory: each detected or repaired, none used."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path

from benchmarks.torture.harness import (
    STEPS,
    Harness,
    Result,
    final_weights,
    holes_and_duplicates,
    one_line,
    rewind,
    same_weights,
    step_lines,
    tree_hash,
)

RESUME_FROM = 10  # the damaged cases rewind the finished base run to this checkpoint, so resuming trains 11..20


def _resumes_exactly(h: Harness, run: Path, r: Result, what: str) -> bool:
    """Run the same command again: it must finish, bit-identical to the base run, each step once."""
    p = h.run("seedling.train", h.train_args(run))
    steps = [s["step"] for s in step_lines(run)]
    holes, dups = holes_and_duplicates(steps, list(range(1, STEPS + 1)))
    ok = p.rc == 0 and same_weights(final_weights(run), final_weights(h.base())) and holes == dups == 0
    return r.check(ok, f"{what}: rc {p.rc}, holes {holes}, duplicates {dups}, {p.err.strip()[-300:]}")


def _flip_bit(path: Path, rng: random.Random) -> None:
    raw = bytearray(path.read_bytes())
    at = rng.randrange(len(raw) // 4, len(raw) - 64)
    raw[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(raw))


def _ckpt(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step_{step:07d}.pt"


def checkpoints(h: Harness, seed: int = 0) -> Result:
    """Bit flips, truncation, missing / null / garbage sidecars, another step's and another run's files."""
    r = Result("corrupt checkpoints and sidecars")
    rng = random.Random(seed)
    damage = {
        "bit flip": lambda pt: _flip_bit(pt, rng),
        "truncated": lambda pt: pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2]),
        "sidecar missing": lambda pt: pt.with_suffix(".json").unlink(),
        "sidecar sha256 null": lambda pt: pt.with_suffix(".json").write_text(
            json.dumps({**json.loads(pt.with_suffix(".json").read_text()), "sha256": None})),
        "sidecar garbage": lambda pt: pt.with_suffix(".json").write_bytes(os.urandom(200)),
        "step 10's files over step 15's": lambda pt: [shutil.copyfile(_ckpt(pt.parents[1], RESUME_FROM).with_suffix(s),
                                                                     pt.with_suffix(s)) for s in (".pt", ".json")],
        "another run's checkpoint": lambda pt: [shutil.copyfile(_ckpt(h.base("other"), 15).with_suffix(s),
                                                                pt.with_suffix(s)) for s in (".pt", ".json")],
    }
    for i, (what, hurt) in enumerate(damage.items()):
        run = h.copy(f"ckpt{i}")
        rewind(run, 15)
        hurt(_ckpt(run, 15))
        if what.startswith("step 10"):
            from seedling import load_run
            from seedling.train.checkpoint_io import CheckpointError

            try:
                load_run(run, step=15)
                r.check(False, "load_run(step=15) returned step 10's weights")
            except CheckpointError:
                r.check(True)
        if _resumes_exactly(h, run, r, what):
            r.check(any((run / "checkpoints" / "rejected").glob("step_0000015*.reason.txt")),
                    f"{what}: the rejected checkpoint was not set aside with its reason")
    return r


class _Payload:
    """Unpickling this runs code: what a malicious checkpoint carries."""

    def __init__(self, marker: Path, how: str) -> None:
        self.marker, self.how = marker, how

    def __reduce__(self):
        if self.how == "os.system":
            return (os.system, (f"touch {self.marker}",))
        if self.how == "exec":
            return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))
        return (Path.touch, (self.marker,))


def malicious(h: Harness) -> Result:
    """Checkpoints whose unpickling would run code, with sidecars that vouch for their bytes: never run."""
    import torch

    from seedling.train import checkpoint_io as ckpt

    r = Result("malicious checkpoints")
    for how in ("os.system", "exec", "Path.touch"):
        run = h.copy(f"evil-{how}")
        rewind(run, 15)
        marker = h.work / f"pwned-{how}"
        marker.unlink(missing_ok=True)
        pt = _ckpt(run, 15)
        good = torch.load(pt, weights_only=True)
        torch.save({**good, "model": _Payload(marker, how)}, pt, pickle_protocol=pickle.DEFAULT_PROTOCOL)
        side = json.loads(pt.with_suffix(".json").read_text())
        pt.with_suffix(".json").write_text(json.dumps({**side, "sha256": ckpt.sha256_file(pt), "bytes": pt.stat().st_size}))
        _resumes_exactly(h, run, r, f"malicious ({how})")
        from workbench.spectral import UnverifiedCheckpointError, load_weights

        try:
            load_weights(run / "checkpoints" / "rejected" / "step_0000015.pt")
            r.check(False, f"workbench read the malicious checkpoint ({how})")
        except UnverifiedCheckpointError:
            r.check(True)
        r.check(not marker.exists(), f"the payload ran ({how})")
    return r


def report_skips_unverified(h: Harness) -> Result:
    """`workbench report`'s spectra: a flipped exponent bit is skipped with a warning, never a sigma_max of 1e36."""
    import numpy as np
    import torch

    from workbench import open_run, spectra_over_checkpoints

    r = Result("workbench spectra skip unverified checkpoints")
    run = h.copy("flipped")
    pt = _ckpt(run, STEPS)
    raw = bytearray(pt.read_bytes())
    w = torch.load(pt, weights_only=True)["model"]["blocks.0.attn.qkv.weight"]
    at = raw.index(w.numpy().tobytes()[:64])
    raw[at + 3] ^= 0x40  # the exponent's top bit of the first weight: about 1e38 times larger
    pt.write_bytes(bytes(raw))
    df = spectra_over_checkpoints(open_run(run).checkpoints)
    r.check(len(df.attrs["skipped"]) == 1, f"skipped {df.attrs['skipped']}")
    r.check(bool(np.all(df["sigma_max"] < 1e6)), f"sigma_max up to {df['sigma_max'].max():.3g}")
    return r


# -- the record store -----------------------------------------------------------------------------

def _chunk(run: Path, group: str, var: str) -> Path:
    return next(p for p in sorted((run / "records.zarr" / group / var / "c").rglob("*")) if p.is_file())


def store(h: Harness) -> Result:
    """A lost commit marker (kept and set aside, training goes on), torn and garbage chunks and a lost step chunk
    (refused before training, one line), and `workbench summary` on each (one line naming the group, exit 2)."""
    r = Result("damaged record store")
    run = h.copy("store-marker")
    rewind(run, RESUME_FROM)
    meta = run / "records.zarr" / "loss" / "zarr.json"
    doc = json.loads(meta.read_text())
    committed = doc["attributes"].pop("committed")
    meta.write_text(json.dumps(doc))
    p = h.run("seedling.train", h.train_args(run))
    kept = run / "records.zarr.damaged" / "loss-1"
    r.check(p.rc == 0 and kept.is_dir(), f"marker missing: rc {p.rc}, set aside: {kept.is_dir()} {p.err[-300:]}")
    if kept.is_dir():
        import zarr

        steps = zarr.open_group(str(kept), mode="r")["step"][:committed].tolist()
        r.check(steps == list(range(0, STEPS + 1, 2))[: committed], f"set-aside steps {steps}")
    for what, hurt, name in (
        ("torn chunk", lambda run: _chunk(run, "loss", "train_loss").write_bytes(
            _chunk(run, "loss", "train_loss").read_bytes()[:5]), "train_loss"),
        ("garbage chunk", lambda run: _chunk(run, "loss", "train_loss").write_bytes(os.urandom(64)), "train_loss"),
        ("lost step chunk", lambda run: _chunk(run, "loss", "step").unlink(), "steps"),
    ):
        run = h.copy(f"store-{what.replace(' ', '-')}")
        rewind(run, RESUME_FROM)
        hurt(run)
        before = len(step_lines(run))
        p = h.run("seedling.train", h.train_args(run))
        r.check(p.rc == 2 and one_line(p.err) and "'loss'" in p.err and name in p.err,
                f"{what}: train rc {p.rc}: {p.err.strip()[-300:]}")
        r.check(len(step_lines(run)) <= before and not (run / "checkpoints" / f"step_{STEPS:07d}.pt").exists(),
                f"{what}: it trained on a damaged store")
        s = h.run("workbench", ["summary", str(run), "--fast"])
        r.check(s.rc == 2 and one_line(s.err) and "'loss'" in s.err, f"{what}: summary rc {s.rc}: {s.err.strip()[-300:]}")
    return r


# -- the run directory ----------------------------------------------------------------------------

def run_directory(h: Harness) -> Result:
    """config.json lost (resumed, not restarted), stale temporaries (removed), export into a run (refused)."""
    r = Result("run directory")
    run = h.copy("no-config")
    rewind(run, RESUME_FROM)
    (run / "config.json").unlink()
    _resumes_exactly(h, run, r, "config.json deleted")
    run = h.copy("stale-tmp")
    rewind(run, RESUME_FROM)
    for i in range(18):
        (run / "checkpoints" / f".step_{i:07d}.pt.x{i}.tmp").write_bytes(os.urandom(100))
    _resumes_exactly(h, run, r, "stale temporaries")
    r.check(not list((run / "checkpoints").glob(".*.tmp")), "stale .tmp files were left")
    run = h.copy("export-into")
    before = tree_hash(run)
    for target in (run, run.parent):
        p = h.run("seedling.export", [str(run), str(target), "--to", "hf", "--force"])
        r.check(p.rc == 2 and one_line(p.err) and tree_hash(run) == before, f"export into {target}: rc {p.rc} {p.err[-200:]}")
    return r
