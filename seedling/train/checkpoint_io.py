"""Checkpoint files: atomic writes, a JSON sidecar with a SHA-256, verification before every load.

(The run-level logic that decides when to save, what to resume from and how to roll back lives in
`seedling.train.checkpoint`; this module only knows files.)

A checkpoint `checkpoints/step_0000100.pt` is a plain dict of tensors, numbers and strings that
`torch.load(weights_only=True)` accepts; nothing here ever loads with weights_only=False. Beside it,
`step_0000100.json` says what it holds (step, tokens, val_loss, config, versions, time) and carries
the SHA-256 of the .pt file. `torch.load` silently accepts most bit-flipped files, so the hash is
checked before every load; a file without a valid sidecar is never used. A hash vouches for the
bytes, not for where they came from, so the sidecar and the payload must also agree on the step (and
the file name's step), the run's identity (`run_id`, written when the run directory was created)
and the SHA-256 of the config; a checkpoint copied over another one fails that check.

A checkpoint that fails verification is never deleted: `set_aside` moves it (with its sidecar)
into `checkpoints/rejected/` beside a note saying why, so a resumed run goes on from the newest
one that verifies and a person can still look at what was rejected.

Writes are atomic: the bytes go to a temporary file in the same directory, are fsync'ed, then
renamed over the target (POSIX rename is atomic), so a crash or a full disk leaves the previous
checkpoint intact. The .pt is written before its sidecar, so a sidecar never vouches for a file
that is not complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seedling.train.keep import is_log_step, keep_schedule  # is_log_step re-exported for the loop

__all__ = [
    "REQUIRED_KEYS",
    "CheckpointError",
    "capture_rng",
    "checkpoint_path",
    "is_log_step",
    "latest_good",
    "list_steps",
    "load_verified",
    "config_sha256",
    "prune",
    "read_run_id",
    "remove_temporaries",
    "restore_rng",
    "save",
    "set_aside",
    "sha256_file",
    "verify",
]

log = logging.getLogger(__name__)

FORMAT = 1
REQUIRED_KEYS = ("format", "model", "optimizer", "scaler", "schedule", "step", "tokens", "rng", "data", "guard", "config")
_STEP_RE = re.compile(r"^step_(\d{7,})\.pt$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
REJECTED = "rejected"  # checkpoints/rejected/: files that failed verification, kept with the reason


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written, verified or used; the message says which and why."""


def checkpoint_path(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:07d}.pt"


def sidecar_path(pt: Path) -> Path:
    return Path(pt).with_suffix(".json")


def list_steps(ckpt_dir: Path) -> list[int]:
    """Steps that have a step_*.pt file (verified or not), ascending."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for f in d.iterdir() if (m := _STEP_RE.match(f.name)))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


RUN_ID = "run_id"  # RUN_DIR/run_id: the run's identity, written when it first trains


def read_run_id(run_dir: Path) -> str | None:
    """The run's identity from RUN_DIR/run_id, or None for a run written before run ids existed."""
    try:
        text = (Path(run_dir) / RUN_ID).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def config_sha256(config: Any) -> str:
    """SHA-256 of a config dict in canonical JSON (sorted keys): what the sidecar vouches for."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, allow_nan=True).encode()).hexdigest()


# --- writing -------------------------------------------------------------------------------------

def _atomic_write(target: Path, write: Callable[[Any], None]) -> None:
    """Write through `write(fileobj)` into a temporary file, fsync, rename over `target`."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the permissions open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(pt: Path, payload: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Write `payload` to `pt` and its sidecar atomically; return the sidecar dict.

    Raises CheckpointError (naming the path and the OS error) when the directory is not writable
    or the disk is full; the previous file at `pt`, if any, is untouched.
    """
    pt = Path(pt)
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"refusing to write checkpoint {pt}: payload lacks {missing}")
    try:
        pt.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(pt, lambda f: torch.save(payload, f))
        side = {
            "file": pt.name,
            "sha256": sha256_file(pt),
            "bytes": pt.stat().st_size,
            "step": int(payload["step"]),
            "tokens": int(payload["tokens"]),
            "run_id": payload.get("run_id"),
            "config_sha256": config_sha256(payload["config"]),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
            **{k: _finite_or_none(v) for k, v in meta.items()},
        }
        text = json.dumps(side, indent=2, sort_keys=True, allow_nan=False).encode()
        _atomic_write(sidecar_path(pt), lambda f: f.write(text))
    except OSError as e:
        raise CheckpointError(f"could not write checkpoint {pt}: {e.strerror or e} (is the directory writable, "
                              "is the disk full?); the previous checkpoint is untouched") from e
    return side


def _finite_or_none(x: Any) -> Any:
    """JSON has no inf or NaN: an unknown or non-finite number is written as null."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


# --- reading -------------------------------------------------------------------------------------

def verify(pt: Path) -> dict[str, Any]:
    """The sidecar of `pt` if the file exists, the sidecar is readable and the SHA-256 matches;
    else CheckpointError saying what is wrong."""
    pt, side_p = Path(pt), sidecar_path(pt)
    if not pt.is_file():
        raise CheckpointError(f"checkpoint {pt} does not exist")
    try:
        side = json.loads(side_p.read_text())
        expected = side["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"checkpoint {pt} has no readable sidecar {side_p.name} (write interrupted?)") from None
    if not isinstance(expected, str) or not _SHA_RE.match(expected):
        raise CheckpointError(f"checkpoint {pt}: its sidecar's sha256 is {expected!r}, not a SHA-256 hex digest")
    actual = sha256_file(pt)
    if actual != expected:
        size = pt.stat().st_size
        raise CheckpointError(f"checkpoint {pt} is corrupt: SHA-256 {actual[:12]}... does not match the sidecar's "
                              f"{expected[:12]}... ({size} bytes on disk, {side.get('bytes')} written)")
    return side


def load_verified(pt: Path, run_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, sidecar) after verification; loaded on CPU with weights_only=True.

    Beyond the hash: the payload, the sidecar and the file name agree on the step, the payload's
    config has the sidecar's `config_sha256`, and payload and sidecar name the same run (and
    `run_id`, when given, is that run). Any disagreement is a CheckpointError.
    """
    pt = Path(pt)
    side = verify(pt)
    try:
        payload = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "unusable"
        raise CheckpointError(f"checkpoint {pt} passed its hash check but cannot be loaded safely: {e}") from e
    missing = [k for k in REQUIRED_KEYS if k not in payload] if isinstance(payload, dict) else list(REQUIRED_KEYS)
    if missing:
        raise CheckpointError(f"checkpoint {pt} lacks required state {missing}; it cannot resume a run exactly")
    _check_identity(pt, payload, side, run_id)
    return payload, side


def _check_identity(pt: Path, payload: dict[str, Any], side: dict[str, Any], run_id: str | None) -> None:
    """Payload, sidecar and file name must describe the same step of the same run with the same config."""
    m = _STEP_RE.match(pt.name)
    steps = {"payload": payload["step"], "sidecar": side.get("step"), **({"file name": int(m.group(1))} if m else {})}
    if len({repr(v) for v in steps.values()}) != 1:
        raise CheckpointError(f"checkpoint {pt} disagrees about its step ({', '.join(f'{k} {v}' for k, v in steps.items())}); "
                              "it was copied or renamed from another checkpoint")
    if "config_sha256" in side and side["config_sha256"] != config_sha256(payload["config"]):
        raise CheckpointError(f"checkpoint {pt}: its config does not match the sidecar's config_sha256")
    ids = {payload.get("run_id"), side.get("run_id")}
    if len(ids) != 1:
        raise CheckpointError(f"checkpoint {pt}: payload and sidecar name different runs {sorted(map(str, ids))}")
    found = ids.pop()
    if run_id is not None and found is not None and found != run_id:
        raise CheckpointError(f"checkpoint {pt} belongs to run {found}, not to this run directory's run {run_id}")


def latest_good(ckpt_dir: Path, on_bad: Callable[[Path, str], None] | None = None,
                max_step: int | None = None, run_id: str | None = None) -> tuple[Path, dict[str, Any], dict[str, Any]] | None:
    """The newest checkpoint that verifies and loads: (path, payload, sidecar), or None.

    Bad ones (truncated, bit-flipped, sidecar missing) are reported through `on_bad(path, reason)`
    and the previous one is tried.
    """
    for step in reversed(list_steps(ckpt_dir)):
        if max_step is not None and step > max_step:
            continue
        pt = checkpoint_path(ckpt_dir, step)
        try:
            payload, side = load_verified(pt, run_id)
        except CheckpointError as e:
            log.warning("skipping checkpoint %s: %s", pt.name, e)
            if on_bad is not None:
                on_bad(pt, str(e))
            continue
        return pt, payload, side
    return None


def set_aside(pt: Path, reason: str) -> Path:
    """Move `pt` and its sidecar into checkpoints/rejected/ (never deleting), with a note of `reason`.

    Returns the new path of the .pt; names get a `-N` suffix when the same step was rejected before.
    """
    pt = Path(pt)
    dest_dir = pt.parent / REJECTED
    dest_dir.mkdir(exist_ok=True)
    n = 0
    while (dest := dest_dir / (pt.stem + (f"-{n}" if n else "") + ".pt")).exists() or dest.with_suffix(".json").exists():
        n += 1
    note = dest.with_suffix(".reason.txt")
    note.write_text(reason + "\n", encoding="utf-8")
    side = sidecar_path(pt)
    if side.exists():
        os.replace(side, dest.with_suffix(".json"))  # the sidecar first: a .pt without one is never trusted
    if pt.exists():
        os.replace(pt, dest)
    log.warning("set aside checkpoint %s as %s: %s", pt.name, dest, reason)
    return dest


def remove_temporaries(ckpt_dir: Path) -> int:
    """Delete the `.step_*.tmp` files that writes killed before their rename left behind; returns how many.

    Only this module's own temporaries (prefix `.`, suffix `.tmp`) are touched, never a checkpoint."""
    d = Path(ckpt_dir)
    stale = [f for f in d.glob(".step_*.tmp") if f.is_file()] if d.is_dir() else []
    for f in stale:
        with contextlib.suppress(OSError):
            f.unlink()
    return len(stale)


# --- retention -----------------------------------------------------------------------------------

def prune(ckpt_dir: Path, keep_last: int, log_limit: int | None, total_steps: int | None = None,
          grid: int = 0) -> list[int]:
    """Delete the regular checkpoints that `keep.keep_schedule` does not keep (the newest `keep_last`, the
    log-spaced series when `log_limit` is set, and a `grid`-point uniform grid over `total_steps`).
    Returns the deleted steps."""
    steps = list_steps(ckpt_dir)
    kept = keep_schedule(steps, total_steps, keep_last, grid, log_limit)
    doomed = [s for s in steps if s not in kept]
    for s in doomed:
        pt = checkpoint_path(ckpt_dir, s)
        for f in (sidecar_path(pt), pt):  # sidecar first: a .pt without one is never trusted
            with contextlib.suppress(OSError):
                f.unlink()
    return doomed


# --- random number generators --------------------------------------------------------------------

def capture_rng() -> dict[str, Any]:
    """Every RNG state, as types the weights_only loader accepts (numpy's as plain ints)."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {"bit_generator": np_state["bit_generator"], "key": [int(k) for k in np_state["state"]["key"]],
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    missing = [k for k in ("python", "numpy", "torch", "cuda") if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint RNG state lacks {missing}; exact resume is impossible")
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"], "has_gauss": n["has_gauss"], "gauss": n["gauss"],
                         "state": {"key": np.asarray(n["key"], dtype=np.uint32), "pos": n["pos"]}})
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
