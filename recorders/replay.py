"""Replay saved checkpoints: measure groups a run did not record, and add them to its store.

    python -m recorders.replay RUN                       # the circuit groups, every checkpoint not yet done
    python -m recorders.replay RUN --what ablation,dla   # chosen groups
    python -m recorders.replay RUN --store OTHER.zarr    # write elsewhere (the run's own store is the default)

The same code path as recording during training: the probe the run stored (`probe` group; for a
run recorded without one, built from the run's data and record spec exactly as the training's
Recorder builds it), the same `GroupRecorder`s from `build_groups`, `recorders.capture.collect`,
and the store's `StoreWriter` with its commit protocol. Any replayable group (see
`GroupRecorder.replayable`) works here without a change to this file.

Safe while the run is still training: the writer owns only the groups it replays (`only=`), and
refuses the groups the training records itself (its record spec's `what`), so each group has one
writer. Each checkpoint's records are committed before the next is loaded, so Ctrl-C loses at
most the checkpoint in progress and a second run resumes after the last committed step (a
group's steps only grow, so a checkpoint older than a group's last step is not filled in).
Checkpoints are loaded through `seedling.run.load_run`, which verifies each against its SHA-256
sidecar; a corrupt one is skipped with a warning.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import zarr

from recorders.capture import collect
from recorders.groups import RecordContext, build_groups
from recorders.probe import Probe
from recorders.recorder import make_probe
from recorders.spec import GROUPS, RecordSpec
from recorders.store import StoreError, StoreWriter
from recorders.store_disk import zarr_store_for
from workbench.store import read_group  # the project's one store reader (numpy, xarray, zarr: no torch)

__all__ = ["CIRCUIT_GROUPS", "ReplayError", "ReplayResult", "replay", "main"]

log = logging.getLogger(__name__)

CIRCUIT_GROUPS = ("composition", "logit_lens", "dla", "ablation")  # the default of --what


class ReplayError(ValueError):
    """A user error: not a run, no checkpoints, an unknown or unreplayable group; the message says what is accepted."""


@dataclass
class ReplayResult:
    """What a replay did: the checkpoint steps it wrote, those it skipped as corrupt, and the store."""

    url: str
    groups: tuple[str, ...]
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    already: int = 0  # checkpoints every group had before this replay


def replay(
    run_dir: str | Path,
    what: tuple[str, ...] | None = None,
    store: str | None = None,
    device: str = "cpu",
    on_step: Callable[[int], None] | None = None,
    progress: bool = False,
) -> ReplayResult:
    """Compute `what` at every checkpoint of `run_dir` the store does not have yet; append them to the store.

    `what` None: the circuit groups (CIRCUIT_GROUPS) the training does not record itself.
    `on_step(step)` is called after each checkpoint's records are committed. Raises ReplayError
    for bad input (nothing written) and StoreError for a store it cannot write.
    """
    from seedling.run import list_checkpoints, load_run  # torch and the model load only for a replay
    from seedling.train.checkpoint_io import CheckpointError

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ReplayError(f"{run_dir} is not a run directory (no config.json)")
    steps = list_checkpoints(run_dir)
    if not steps:
        raise ReplayError(f"{run_dir} holds no checkpoints to replay")
    own_url = str(run_dir / "records.zarr")
    url = store or own_url
    spec, stored_probe = _run_record(own_url)
    if what is None:
        what = tuple(g for g in CIRCUIT_GROUPS if url != own_url or not spec.enabled or g not in spec.what)
        if not what:
            raise ReplayError(f"the training records {','.join(CIRCUIT_GROUPS)} itself; nothing to replay")
    unknown = [g for g in what if g not in GROUPS]
    if unknown or not what:
        raise ReplayError(f"unknown group(s) {','.join(unknown) or '(none given)'}; accepted: {','.join(GROUPS)}")
    probe = stored_probe or _probe_from_data(run_dir, spec)
    if "constructs" in what and probe.items is None:  # the item set is not in the probe group: tokenize it now
        probe = _with_items(run_dir, spec, probe)
    groups = _check_groups(what, probe, spec if url == own_url else None)
    result = ReplayResult(url=url, groups=groups)
    writer = StoreWriter(url, root_attrs={}, background=False, only=(*groups, "probe"))
    try:
        writer.write_static("probe", probe.static_arrays(), probe.static_meta(), attrs=probe.attrs())
        last = {g: writer.last_step(g) for g in groups}
        todo = [s for s in steps if any(last[g] is None or s > last[g] for g in groups)]
        result.already = len(steps) - len(todo)
        recorders = build_groups(groups, probe)
        meta: dict[str, dict] = {}
        coords: dict[str, dict] = {}
        for step in _bar(todo, progress):
            try:
                model, _, _ = load_run(run_dir, step)
            except CheckpointError as err:
                log.warning("skipping checkpoint %d: %s", step, err)
                result.skipped.append(step)
                continue
            model.to(device)
            due = [g for g in recorders if last[g.group] is None or step > last[g.group]]
            state = SimpleNamespace(step=step, loss=None, lr=math.nan, tokens=0, grad_norm=math.nan,
                                    grad_norm_clipped=math.nan, loss_scale=1.0)
            records = collect(due, RecordContext(model, probe, state))
            for g in due:
                if g.group in records:
                    meta.setdefault(g.group, g.variables(model, probe))
                    coords.setdefault(g.group, g.coords(model, probe))
                    writer.append(g.group, step, records[g.group], meta[g.group], attrs=g.group_attrs(probe),
                                  coords=coords[g.group])
            writer.flush(wait=True)  # committed: an interruption after this point keeps this step
            result.written.append(step)
            if on_step is not None:
                on_step(step)
    finally:
        writer.close()
    return result


def _run_record(url: str) -> tuple[RecordSpec, Probe | None]:
    """The run's record spec and the probe it stored, if any.

    A run trained without `--record` gets the default spec's probe settings with `enabled=False`:
    its training writes no group, so every group is the replay's to write.
    """
    try:
        root = zarr.open_group(store=zarr_store_for(url, read_only=True), mode="r", zarr_format=3)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        return RecordSpec(enabled=False), None
    attrs = dict(root.attrs).get("record_spec")
    if not attrs:
        return RecordSpec(enabled=False), None
    spec = RecordSpec(**{k: (tuple(v) if k == "what" else v) for k, v in attrs.items() if k in RecordSpec.__dataclass_fields__})
    if "probe" not in root.group_keys():
        return spec, None
    ds = read_group(url, "probe")
    return spec, Probe.from_store({k: ds[k].values for k in ds.data_vars}, dict(ds.attrs))


def _check_groups(what: tuple[str, ...], probe: Probe, spec: RecordSpec | None) -> tuple[str, ...]:
    """The groups to replay in canonical order; ReplayError for unreplayable or training-owned ones."""
    # constructs can only be built with an item set in the probe (it is attached when asked for)
    buildable = tuple(g for g in GROUPS if g != "constructs" or probe.items is not None)
    replayable = [g.group for g in build_groups(buildable, probe) if g.replayable]
    if "constructs" in what and probe.items is None:
        raise ReplayError("constructs needs the run's item set; give --what constructs on a run with a tokenizer.json")
    stuck = [g for g in what if g not in replayable]
    if stuck:
        raise ReplayError(f"group(s) {','.join(stuck)} need the training step itself (gradients, loss or learning "
                          f"rate) and cannot be replayed; accepted: {','.join(replayable)}")
    taken = [g for g in what if spec is not None and spec.enabled and g in spec.what]
    if taken:
        raise ReplayError(f"group(s) {','.join(taken)} are recorded by the training itself (its record spec what=); "
                          "replay writes only groups the training does not (or give --store for another store)")
    return tuple(g for g in GROUPS if g in what)


def _probe_from_data(run_dir: Path, spec: RecordSpec) -> Probe:
    """A run recorded without a store: build its probe from its data, as the training's Recorder does."""
    from seedling.config import RunConfig
    from seedling.data import prepare

    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    data = prepare(cfg, run_dir)
    return make_probe(spec, cfg.model, getattr(data, "val", None), getattr(data, "tokenizer", None))


def _with_items(run_dir: Path, spec: RecordSpec, probe: Probe) -> Probe:
    """`probe` with the constructs group's item set, tokenized with the run's tokenizer (as the Recorder does)."""
    from dataclasses import replace

    from tokenizers import Tokenizer

    from recorders.item_probe import item_probe_for_run

    cfg = json.loads((run_dir / "config.json").read_text())
    tok_file = run_dir / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tok_file)) if tok_file.is_file() else None
    try:
        items = item_probe_for_run(spec.items, cfg.get("data", {}).get("source", ""), tokenizer, cfg["model"]["n_ctx"])
    except ValueError as err:
        raise ReplayError(f"constructs: {err}") from None
    return replace(probe, items=items)


def _bar(steps: list[int], show: bool):
    if not show:
        return steps
    from tqdm import tqdm

    return tqdm(steps, unit="checkpoint", dynamic_ncols=True, file=sys.stderr, desc="replay")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m recorders.replay",
        description="Measure groups at every saved checkpoint of RUN that its store does not have yet, and add them "
                    "to the store (safe while RUN is still training; Ctrl-C keeps what is done; run again to resume).",
    )
    p.add_argument("run", help="run directory (holds config.json, checkpoints/ and records.zarr)")
    p.add_argument("--what", help=f"comma-separated groups to replay (default: those of {','.join(CIRCUIT_GROUPS)} "
                                  "the training does not record itself)")
    p.add_argument("--store", help="write into this store instead of RUN/records.zarr (a path or fsspec URL)")
    p.add_argument("--device", default="cpu", help="device to run the model on: cpu (default), cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    what = None if args.what is None else tuple(g for g in args.what.split(",") if g)
    done: list[int] = []
    try:
        _check_device(args.device)
        result = replay(args.run, what, store=args.store, device=args.device, on_step=done.append,
                        progress=not args.quiet)
    except (ReplayError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {len(done)} checkpoint(s) written and committed; run the same command again to resume",
              file=sys.stderr)
        return 130
    skipped = f"; skipped {len(result.skipped)} corrupt: {result.skipped}" if result.skipped else ""
    print(f"replayed {len(result.written)} checkpoint(s) into {result.url} ({','.join(result.groups)}); "
          f"{result.already} already there{skipped}")
    return 0


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ReplayError(f"--device {device!r} is not a device; accepted: cpu, cuda, cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ReplayError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


if __name__ == "__main__":
    sys.exit(main())
