"""`python -m seedling.train`: train a preset on a data source into a run directory.

This is the one place where parts are composed: the config is resolved, the data prepared, the
`Trainer` built, and subscribers (progress bar, checkpoint samples, recorders) wired to its events.

    python -m seedling.train --out runs/demo                         # tiny preset, built-in corpus
    python -m seedling.train --preset seedling --data corpus.txt --out runs/s1
    python -m seedling.train --out runs/demo                         # again: resumes where it stopped
    torchrun --nproc_per_node=2 -m seedling.train --out runs/ddp      # DistributedDataParallel

A run directory that already holds checkpoints of the same config is resumed; one with a
different config is refused, listing the fields that differ. One training at a time per run
directory (RUN_DIR/.lock). Checkpoints that fail verification are set aside in
checkpoints/rejected/ and the run resumes from the newest one that verifies; a run directory whose
config.json was lost is resumed with the config its newest verified checkpoint carries; nothing
already trained is ever silently trained again from step 0. Exit status: 0 done, 2 a usage or
configuration error (one line on stderr), 130 interrupted (a checkpoint was saved first), 1 other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from seedling.cliutil import OneLineParser
from seedling.config import ConfigError, RunConfig, _read_toml, apply_overrides, config_diff, preset
from seedling.data import DataError, prepare, synthetic
from seedling.train import checkpoint_io as ckpt
from seedling.train import distributed as ddp
from seedling.train.budget import check_fits
from seedling.train.lock import RunLock, RunLocked
from seedling.train.loop import Trainer
from seedling.train.metrics import read_metrics
from seedling.train.precision import resolve_device
from seedling.train.progress import ProgressBar, setup_logging
from seedling.train.samples import CheckpointSamples
from seedling.train.state import RESUME_FREE_FIELDS, SecondInterrupt, TrainingDiverged

log = logging.getLogger("seedling.train")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m seedling.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Run directory layout: docs/run_dir.md. All flags: docs/cli.md.")
    p.add_argument("--preset", help="starting configuration: tiny (default for a new run), small or seedling")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with [model], [train], [data] tables "
                   "applied on top of the preset")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config field, e.g. --set train.lr=3e-4 (repeatable)")
    p.add_argument("--data", metavar="SOURCE", help="data source (data.source): builtin, a file or folder path, "
                   "hf:NAME, synthetic:induction, synthetic:bigram or synthetic:constructs")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (created if missing)")
    p.add_argument("--max-steps", type=int, metavar="N", help="the plan has N optimizer steps")
    p.add_argument("--max-tokens", type=int, metavar="N", help="plan length as a token budget (unsets max-steps)")
    p.add_argument("--epochs", type=float, metavar="E", help="plan length in passes over the training split "
                   "(unsets max-steps and max-tokens)")
    p.add_argument("--resume", action="store_true", help="require resuming from RUN_DIR's newest good checkpoint "
                   "(a run directory with checkpoints of the same config is resumed even without this flag)")
    p.add_argument("--init-from", metavar="RUN_DIR_OR_CHECKPOINT", help="start from these weights with a fresh "
                   "optimizer and schedule (continued pre-training or fine-tuning; the model shape must match)")
    p.add_argument("--device", help="train.device: auto (default), cpu, cuda or cuda:N")
    p.add_argument("--compile", action="store_true", help="compile the model with torch.compile (train.compile)")
    p.add_argument("--seed", type=int, help="train.seed: initialisation and data order")
    p.add_argument("--seeds", type=int, metavar="N", help="train N runs with seeds seed..seed+N-1 into "
                   "RUN_DIR/seed0, RUN_DIR/seed1, ... (for reliability across seeds)")
    p.add_argument("--record", metavar="SPEC", help="record training dynamics into RUN_DIR/records.zarr, e.g. "
                   "every=500, every=log:500; off (default) records nothing")
    p.add_argument("--samples", choices=("on", "off"), default="on",
                   help="on (default): at every checkpoint, write short completions of two fixed validation prompts "
                   "(greedy and top-p 0.9) to RUN_DIR/samples.jsonl, for the dashboard; off: write none")
    p.add_argument("--quiet", action="store_true", help="no progress bar; only warnings on the console")
    return p


def resolve_config(args: argparse.Namespace, run_dir: Path) -> tuple[RunConfig, bool]:
    """(config, resume?) from the flags and what RUN_DIR already holds."""
    saved = saved_config(run_dir)
    fresh = False  # the config starts from a preset (not a saved run), so a synthetic source may size the model
    if saved is not None and not (args.preset or args.config):
        cfg = saved  # re-running a run directory: its own config, plus any overrides given now
    elif args.init_from and not (args.preset or args.config):
        cfg = _source_config(Path(args.init_from))  # continue that run's setup; flags change data, lr, ...
    else:
        cfg = preset(args.preset or "tiny", toml=args.config)
        fresh = True
    if args.set:
        cfg = apply_overrides(cfg, args.set)
    flags: dict[str, Any] = {}
    if args.data:
        flags["data.source"] = args.data
    if args.max_steps is not None:
        flags["train.max_steps"] = args.max_steps
    if args.max_tokens is not None:
        flags.update({"train.max_tokens": args.max_tokens, "train.max_steps": None})
    if args.epochs is not None:
        flags.update({"train.epochs": args.epochs, "train.max_tokens": None, "train.max_steps": None})
    for key, value in (("train.device", args.device), ("train.seed", args.seed)):
        if value is not None:
            flags[key] = value
    if args.compile:
        flags["train.compile"] = True
    if flags:
        cfg = apply_overrides(cfg, flags)
    if fresh and cfg.data.source.startswith("synthetic:"):
        cfg = _synthetic_defaults(cfg, args, set(flags))
    has_checkpoints = bool(ckpt.list_steps(run_dir / "checkpoints"))
    if has_checkpoints and saved is not None:
        diff = config_diff(saved, cfg, ignore=RESUME_FREE_FIELDS)
        if diff:
            raise ConfigError(f"{run_dir} holds a run with a different config ({'; '.join(diff)}); "
                              "pass the same settings to resume it, or choose a new --out")
        return cfg, True
    if args.resume:
        raise ConfigError(f"--resume: {run_dir} holds no checkpoints to resume from")
    trained = trained_steps(run_dir)
    if trained:
        raise ConfigError(f"{run_dir} records {trained} trained steps in metrics.jsonl but holds no checkpoint to "
                          "resume from; choose a new --out (or move that directory aside) rather than train it again")
    return cfg, False


def saved_config(run_dir: Path) -> RunConfig | None:
    """The run directory's config: config.json, else (when it was lost) the newest verified checkpoint's.

    None for a directory that holds no run yet. A config.json that does not parse is a ConfigError:
    it is never silently replaced."""
    path = run_dir / "config.json"
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            return RunConfig.from_dict(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path} is not a valid run config ({e}); restore it from a checkpoint's sidecar "
                              "(checkpoints/step_*.json holds the config) or choose a new --out") from None
    if not ckpt.list_steps(run_dir / "checkpoints"):
        return None
    found = ckpt.latest_good(run_dir / "checkpoints", run_id=ckpt.read_run_id(run_dir))
    if found is None:
        return None  # the trainer sets the unverifiable ones aside and decides (train_one)
    log.warning("%s has no config.json; using the config of its newest verified checkpoint %s", run_dir, found[0].name)
    return RunConfig.from_dict(found[1]["config"])


def trained_steps(run_dir: Path) -> int:
    """The last optimizer step metrics.jsonl records as trained (0: none, or no file)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    return max((int(r.get("step") or 0) for r in read_metrics(path, "step")), default=0)


def train_one(args: argparse.Namespace, run_dir: Path, seed_offset: int = 0) -> int:
    if args.record and args.record != "off":  # a bad spec fails before any data is prepared
        from recorders import parse_spec

        try:
            parse_spec(args.record)
        except ValueError as e:
            raise ConfigError(f"--record {args.record!r}: {e}") from None
    _make_run_dir(run_dir)
    main_rank = os.environ.get("RANK", "0") == "0"  # torchrun's; the process group is joined later
    with RunLock(run_dir) if main_rank else contextlib.nullcontext():
        return _train_locked(args, run_dir, seed_offset)


def _train_locked(args: argparse.Namespace, run_dir: Path, seed_offset: int) -> int:
    if os.environ.get("RANK", "0") == "0":
        removed = ckpt.remove_temporaries(run_dir / "checkpoints")
        if removed:
            log.info("removed %d temporary files left by interrupted checkpoint writes", removed)
    cfg, resume = resolve_config(args, run_dir)
    if seed_offset:
        cfg = apply_overrides(cfg, {"train.seed": cfg.train.seed + seed_offset})
    device = resolve_device(cfg.train.device)
    check_fits(cfg, device)
    dist = ddp.init(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    handlers = setup_logging(run_dir, args.quiet, dist.rank)
    if dist.is_main and args.init_from and not resume:
        _copy_tokenizer(Path(args.init_from), run_dir)
    clean = False
    try:
        data = _prepare_in_rank_order(prepare, cfg, run_dir, dist)
        trainer = Trainer(cfg, run_dir, data, dist=dist, device=device)
        if resume and not trainer.checkpoints.resume():
            _start_over_or_refuse(run_dir)
            resume = False
        if not resume:
            if trainer.metrics is not None:
                trainer.metrics.truncate_after(-1)  # what a run killed at step 0 left: it is written again
            if args.init_from:
                trainer.checkpoints.init_from(Path(args.init_from))
        if dist.is_main and not args.quiet:
            trainer.subscribe(ProgressBar(trainer.total_steps))
        if dist.is_main and args.samples == "on":
            trainer.subscribe(CheckpointSamples(run_dir, data))
        if dist.is_main and args.record and args.record != "off":
            from recorders import Recorder

            try:
                recorder = Recorder(args.record, run_dir, data=data)
            except ValueError as e:
                raise ConfigError(f"--record {args.record!r}: {e}") from None
            trainer.subscribe(recorder)
        trainer.fit()
        clean = True
        return 130 if trainer.stop_requested else 0
    finally:
        ddp.shutdown(dist, clean)
        for h in handlers:
            logging.getLogger("seedling").removeHandler(h)
            h.close()


def _start_over_or_refuse(run_dir: Path) -> None:
    """No checkpoint verified (each was set aside): start afresh only if nothing past step 0 was trained."""
    trained = trained_steps(run_dir)
    if trained:
        raise ckpt.CheckpointError(
            f"no checkpoint in {run_dir}/checkpoints verifies (each was set aside in checkpoints/rejected/ with the "
            f"reason) and metrics.jsonl records {trained} trained steps; not training them again from step 0: "
            "choose a new --out, or move the directory aside")
    log.warning("no checkpoint in %s/checkpoints verifies (set aside in checkpoints/rejected/) and no step was "
                "trained yet; starting from step 0", run_dir)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        if args.seeds is not None:
            if args.seeds < 1:
                raise ConfigError(f"--seeds {args.seeds}: need at least 1")
            base = args.seed or 0
            codes = []
            for i in range(args.seeds):
                args.seed = base + i
                codes.append(train_one(args, out / f"seed{i}"))
                if codes[-1] == 130:
                    break
            return max(codes)
        return train_one(args, out)
    except (ConfigError, DataError, RunLocked) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ckpt.CheckpointError, TrainingDiverged, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # the record store's refusals (recorders.StoreError: a damaged or foreign store)
        if not type(e).__module__.startswith("recorders."):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SecondInterrupt:
        print("error: aborted by a second Ctrl-C; the last saved checkpoint is intact", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: interrupted before training started; nothing was trained (run the same command to start)",
              file=sys.stderr)
        return 130


def _make_run_dir(run_dir: Path) -> None:
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"--out {run_dir} is not a writable directory ({e.strerror or e}); "
                          "choose a directory you can write to") from None


def _synthetic_defaults(cfg: RunConfig, args: argparse.Namespace, flagged: set[str]) -> RunConfig:
    """Apply the synthetic source's recommended fields that the user did not set (by --set, --config or a flag).

    model.d_vocab = alphabet + EOT for every kind (a 2048-row tied embedding for a 65-token alphabet
    holds the tiny preset on the ln(vocab) plateau); for `induction` also the context and plan in
    which its induction head forms (seedling/data/synthetic.py, docs/data.md)."""
    explicit = {item.partition("=")[0].strip() for item in args.set} | flagged
    if args.config:
        explicit |= set(_read_toml(Path(args.config)))
    plan_length = {"train.max_steps", "train.max_tokens", "train.epochs"}
    if explicit & plan_length:  # the user chose the plan's length one way; the source's max_steps must not override it
        explicit |= plan_length
    todo = {k: v for k, v in synthetic.recommended_overrides(cfg.data.source).items() if k not in explicit}
    if todo:
        log.info("%s: using %s (set them explicitly to override)", cfg.data.source,
                 ", ".join(f"{k}={v}" for k, v in todo.items()))
    return apply_overrides(cfg, todo) if todo else cfg


def _source_dir(source: Path) -> Path:
    """The run directory of --init-from (given as a run directory or one of its checkpoint files)."""
    return source if source.is_dir() else source.parent.parent


def _source_config(source: Path) -> RunConfig:
    path = _source_dir(source) / "config.json"
    if not path.is_file():
        raise ConfigError(f"--init-from {source}: no config.json at {path}; give a run directory or a checkpoint "
                          "inside one, or pass --preset/--config to say which model it is")
    return RunConfig.from_dict(json.loads(path.read_text()))


def _copy_tokenizer(source: Path, run_dir: Path) -> None:
    """Fine-tuning keeps the vocabulary: the new run starts with the source run's tokenizer."""
    tok = _source_dir(source) / "tokenizer.json"
    if tok.is_file() and not (run_dir / "tokenizer.json").exists():
        shutil.copyfile(tok, run_dir / "tokenizer.json")


def _prepare_in_rank_order(prepare: Any, cfg: RunConfig, run_dir: Path, dist: ddp.DistInfo) -> Any:
    """Rank 0 prepares (and caches) the data first; the others then read what it wrote."""
    data = prepare(cfg, run_dir) if dist.is_main else None
    ddp.barrier(dist)
    return data if dist.is_main else prepare(cfg, run_dir)


if __name__ == "__main__":
    sys.exit(main())
