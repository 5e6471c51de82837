"""What every torture case shares: the tiny run's flags, running the real commands, hashing, comparing runs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

# One layer, 32 wide, context 32, on the synthetic bigram corpus; dropout on, so resume must restore the RNG.
TINY = ["model.n_layers=1", "model.n_heads=2", "model.d_model=32", "model.n_ctx=32", "model.d_vocab=260",
        "model.dropout=0.1", "train.micro_batch_size=4", "train.grad_accum=2", "train.warmup_steps=4",
        "train.lr=3e-3", "train.min_lr=3e-4", "train.eval_every=5", "train.eval_batches=2",
        "train.checkpoint_every=5", "data.source=synthetic:bigram"]
RECORD = "every=2 what=loss,weight_norm"
STEPS = 20


@dataclass
class Result:
    """One case: how many times it was tried, how many held the promise, and what broke otherwise."""

    case: str
    tried: int = 0
    held: int = 0
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def check(self, ok: bool, note: str = "") -> bool:
        self.tried += 1
        self.held += bool(ok)
        if not ok and note:
            self.notes.append(note)
        return ok


@dataclass
class Proc:
    rc: int
    out: str
    err: str


class Harness:
    """Runs the commands (in fresh processes, or in this one for the fast CI cases) in `work`."""

    def __init__(self, work: Path, in_process: bool = False) -> None:
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.in_process = in_process
        self.env = dict(os.environ, SEEDLING_CACHE=str(self.work / "cache"), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
        self._base: dict[str, Path] = {}

    # -- commands ------------------------------------------------------------------------------------

    def train_args(self, out: Path, steps: int = STEPS, extra: list[str] = (), record: bool = True) -> list[str]:
        args = ["--out", str(out), "--max-steps", str(steps), "--quiet"]
        for s in [*TINY, *extra]:
            args += ["--set", s]
        return args + (["--record", RECORD] if record else [])

    def run(self, module: str, args: list[str], timeout: float = 300) -> Proc:
        if self.in_process:
            return self._run_here(module, args)
        res = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        return Proc(res.returncode, res.stdout, res.stderr)

    def popen(self, module: str, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def _run_here(self, module: str, args: list[str]) -> Proc:
        import importlib

        entry = {"seedling.train": "seedling.train.__main__", "workbench": "workbench.cli"}.get(module, module)
        main = importlib.import_module(entry).main
        out, err = io.StringIO(), io.StringIO()
        old = os.environ.get("SEEDLING_CACHE")
        os.environ["SEEDLING_CACHE"] = self.env["SEEDLING_CACHE"]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = main(args)
                except SystemExit as e:  # argparse's usage errors
                    rc = e.code if isinstance(e.code, int) else 1
        finally:
            if old is None:
                os.environ.pop("SEEDLING_CACHE", None)
            else:
                os.environ["SEEDLING_CACHE"] = old
        return Proc(int(rc), out.getvalue(), err.getvalue())

    # -- runs ----------------------------------------------------------------------------------------

    def base(self, name: str = "base", extra: list[str] = ()) -> Path:
        """A finished run of STEPS steps (trained once per harness), to copy from."""
        if name not in self._base:
            out = self.work / name
            shutil.rmtree(out, ignore_errors=True)
            p = self.run("seedling.train", self.train_args(out, extra=list(extra)))
            if p.rc != 0:
                raise RuntimeError(f"the base run failed ({p.rc}): {p.err[-500:]}")
            self._base[name] = out
        return self._base[name]

    def copy(self, name: str, base: str = "base") -> Path:
        dest = self.work / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.base(base), dest)
        return dest


# -- reading and comparing runs --------------------------------------------------------------------

def rewind(run: Path, to_step: int) -> None:
    """Delete the checkpoints after `to_step`, as if the run had been killed just after that one."""
    for f in (run / "checkpoints").glob("step_*"):
        if int(f.name[5:12]) > to_step:
            f.unlink()


def final_weights(run: Path) -> dict:
    from seedling.train import checkpoint_io as ckpt

    found = ckpt.latest_good(run / "checkpoints")
    return {} if found is None else {"step": found[1]["step"], **found[1]["model"]}


def same_weights(a: dict, b: dict) -> bool:
    import torch

    return bool(a) and a.keys() == b.keys() and all(
        (a[k] == b[k]) if not isinstance(a[k], torch.Tensor) else torch.equal(a[k], b[k]) for k in a)


def step_lines(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            r = json.loads(line)
            if r.get("event") == "step":
                out.append(r)
    return out


def holes_and_duplicates(steps: list[int], expected: list[int]) -> tuple[int, int]:
    return len(set(expected) - set(steps)), len(steps) - len(set(steps))


def store_steps(run: Path, group: str) -> tuple[list[int], dict]:
    """Committed steps of a recorded group and its variables (numpy), read with the one reader rule."""
    from workbench.store import read_group

    ds = read_group(str(run / "records.zarr"), group)
    return ds["step"].values.tolist(), {v: np.asarray(ds[v].values) for v in ds.data_vars}


def same_records(a: Path, b: Path, group: str = "loss") -> tuple[bool, int, int]:
    """(records equal, holes, duplicates) of run a's group against run b's."""
    sa, va = store_steps(a, group)
    sb, vb = store_steps(b, group)
    holes, dups = holes_and_duplicates(sa, sb)
    same = sa == sb and va.keys() == vb.keys() and all(np.array_equal(va[k], vb[k], equal_nan=True) for k in va)
    return same, holes, dups


def tree_hash(root: Path) -> str:
    """SHA-256 over every file's relative path and bytes under `root` (what "nothing changed" means)."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def one_line(err: str) -> bool:
    """A user error: exactly one line on stderr, no traceback."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return len(lines) == 1 and "Traceback" not in err
