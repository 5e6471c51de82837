"""Command line: generate text from a training run's checkpoint, once, as a sweep, or as training goes.

    python -m seedling.generate runs/demo --prompt "Once upon a time" --temperature 0.8 --top-p 0.9
    python -m seedling.generate runs/demo --sweep                 # seven (temperature, top-p) pairs
    python -m seedling.generate runs/demo --watch --json          # each new checkpoint, as JSON lines

The sampling itself lives in `seedling.sampling` (pure over the model and token ids); this module
reads runs, encodes prompts, decodes and prints. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from seedling.cliutil import OneLineParser
from seedling.run import list_checkpoints, load_run
from seedling.sampling import check_sampling_args, generate
from seedling.tokenizer import EOT
from seedling.train.checkpoint_io import CheckpointError
from seedling.train.precision import resolve_device

__all__ = ["DEFAULT_PROMPTS", "SWEEP", "Settings", "generate_text", "main"]

log = logging.getLogger(__name__)

# A small fixed prompt set, like the same items at every wave of a study: narrative, expository and
# dialogue openings, so changes across checkpoints and settings are comparable.
DEFAULT_PROMPTS = (
    "Once upon a time",
    "The most important thing about memory is",
    "In the morning, the children",
    "Scientists have found that",
    '"Where are you going?" she asked.',
)

# The (temperature, top-p) pairs of the original Seedling test script: cooler and broader to hotter
# and narrower, so the nucleus shrinks as the temperature flattens the distribution.
SWEEP = ((0.3, 0.95), (0.5, 0.90), (0.7, 0.85), (0.8, 0.80), (0.9, 0.75), (1.0, 0.70), (1.2, 0.65))


@dataclass(frozen=True)
class Settings:
    """One generation's sampling settings (see `seedling.sampling.generate`)."""

    max_new_tokens: int = 100
    temperature: float = 0.8
    top_k: int | None = None
    top_p: float | None = 0.95
    repetition_penalty: float = 1.0
    seed: int | None = 0
    use_cache: bool = True


def generate_text(model, tokenizer, prompt: str, settings: Settings) -> dict:
    """Generate one continuation of `prompt`; return a JSON-ready record with text, ids and speed.

    The prompt is preceded by the end-of-text token when the tokenizer has one, as every training
    document is, so the model continues it as the start of a document (an empty prompt is allowed).
    """
    eot_id = tokenizer.token_to_id(EOT)
    prompt_ids = ([eot_id] if eot_id is not None else []) + tokenizer.encode(prompt).ids
    t0 = time.perf_counter()
    vocab = min(tokenizer.get_vocab_size(), model.cfg.d_vocab)  # ids the tokenizer cannot decode are never drawn
    new = generate(model, prompt_ids, stop_at_eot=eot_id, vocab_size=vocab, **asdict(settings))
    seconds = time.perf_counter() - t0
    # Decode prompt and continuation together, then cut the prompt off: decoding the continuation
    # alone would lose a word separator that belongs between the two (word-level tokenizers).
    before, full = tokenizer.decode(prompt_ids), tokenizer.decode(prompt_ids + new)
    return {
        "prompt": prompt,
        "text": full[len(before) :] if full.startswith(before) else tokenizer.decode(new),
        **asdict(settings),
        "token_ids": new,
        "n_tokens": len(new),
        "stopped_at_eot": len(new) < settings.max_new_tokens,
        "seconds": round(seconds, 4),
        "tokens_per_second": round(len(new) / seconds, 2) if seconds > 0 else None,
    }


def _settings_list(args: argparse.Namespace) -> list[Settings]:
    base = Settings(args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.repetition_penalty, args.seed, not args.no_cache)
    if not args.sweep:
        return [base]
    return [replace(base, temperature=t, top_p=p) for t, p in SWEEP]


def _prompts(args: argparse.Namespace) -> list[str]:
    if args.prompt is not None:
        return list(args.prompt)
    if args.prompts is not None:
        try:
            lines = Path(args.prompts).read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as e:
            raise ValueError(f"--prompts {args.prompts}: cannot read it as a UTF-8 text file ({e.__class__.__name__})") from None
        prompts = [line for line in lines if line.strip()]
        if not prompts:
            raise ValueError(f"--prompts {args.prompts} holds no prompt; give one prompt per line")
        return prompts
    return list(DEFAULT_PROMPTS)


def _emit(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    knobs = f"temperature={record['temperature']} top_p={record['top_p']} top_k={record['top_k']}"
    if record["repetition_penalty"] != 1.0:
        knobs += f" repetition_penalty={record['repetition_penalty']}"
    print(f"--- step {record['step']}  {knobs}  ({record['n_tokens']} tokens, {record['tokens_per_second']} tokens/s)")
    print(f"{record['prompt']}\033[1m{record['text']}\033[0m" if sys.stdout.isatty() else record["prompt"] + record["text"])
    print(flush=True)


def _run_step(run_dir: Path, step: int | None, prompts: list[str], settings: list[Settings], args) -> int:
    """Generate every (prompt, settings) pair from one checkpoint (None: the newest); return its step."""
    if step is None:
        steps = list_checkpoints(run_dir)
        if not steps:
            raise ValueError(f"{run_dir} holds no checkpoints yet; wait for training to write one, or use --watch")
        step = steps[-1]
    model, tokenizer, _cfg = load_run(run_dir, step=step)
    model.to(args.device)
    for prompt in prompts:
        for s in settings:
            _emit({"step": step, **generate_text(model, tokenizer, prompt, s)}, args.json)
    return step


def _watch(run_dir: Path, prompts: list[str], settings: list[Settings], args) -> None:
    """Generate for the newest checkpoint, then for each newer one as training writes it."""
    newest = -1  # the newest step generated for; older checkpoints that appear later are skipped
    failures: dict[int, int] = {}
    last_new = time.monotonic()
    if not args.json:
        print(f"watching {run_dir} for new checkpoints every {args.poll:g} s (Ctrl-C stops)", flush=True)
    while True:
        steps = [s for s in list_checkpoints(run_dir) if s > newest and failures.get(s, 0) < 3]
        if newest < 0:
            steps = steps[-1:]  # start from the newest; older ones are history
        for s in steps:
            try:
                _run_step(run_dir, s, prompts, settings, args)
            except (CheckpointError, OSError, EOFError) as e:  # perhaps still being written: retry twice
                failures[s] = failures.get(s, 0) + 1
                log.warning("checkpoint for step %d not readable (%s); try %d of 3", s, e, failures[s])
                continue
            newest = s
            last_new = time.monotonic()
        if args.watch_timeout is not None and time.monotonic() - last_new > args.watch_timeout:
            if not args.json:
                print(f"no new checkpoint for {args.watch_timeout:g} s; stopping", flush=True)
            return
        time.sleep(args.poll)


def _device(requested: str):
    try:
        return resolve_device(requested)
    except RuntimeError:  # torch's own message for a malformed name is long; ours says what is accepted
        raise ValueError(f"--device {requested!r} is not a device; accepted: auto, cpu, cuda, cuda:N") from None


def build_parser() -> argparse.ArgumentParser:
    d = Settings()
    p = OneLineParser(
        prog="python -m seedling.generate",
        description="Generate text from a training run's checkpoint. Prompts are preceded by the "
        "end-of-text token (as training documents are); output is prompt + continuation.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holds config.json, tokenizer.json, checkpoints/)")
    p.add_argument("--step", metavar="N", type=int, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--prompt", metavar="TEXT", action="append", default=None, help="prompt text; repeat for several (default: a built-in set of 5)")
    p.add_argument("--prompts", metavar="FILE", default=None, help="file with one prompt per line (instead of --prompt)")
    p.add_argument("--max-new-tokens", metavar="N", type=int, default=d.max_new_tokens, help=f"tokens to generate per prompt (default {d.max_new_tokens})")
    p.add_argument("--temperature", metavar="T", type=float, default=d.temperature, help=f"logits / temperature; 0 = greedy (default {d.temperature})")
    p.add_argument("--top-k", metavar="K", type=int, default=d.top_k, help="keep only the k most probable tokens (default: off)")
    p.add_argument("--top-p", metavar="P", type=float, default=d.top_p, help=f"nucleus: keep the most probable tokens until their mass reaches p, in (0, 1] (default {d.top_p})")
    p.add_argument("--repetition-penalty", metavar="R", type=float, default=d.repetition_penalty, help="> 1 discourages tokens already in the text (CTRL); 1 = off (default)")
    p.add_argument("--seed", metavar="S", type=int, default=d.seed, help=f"random seed; the same seed gives the same text (default {d.seed})")
    p.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token (slower; same text)")
    p.add_argument("--sweep", action="store_true", help="use the original script's 7 (temperature, top-p) pairs " + " ".join(f"({t}, {q})" for t, q in SWEEP))
    p.add_argument("--watch", action="store_true", help="keep polling RUN_DIR and generate for each new checkpoint while training runs")
    p.add_argument("--poll", metavar="SECONDS", type=float, default=10.0, help="seconds between checks for new checkpoints with --watch (default 10)")
    p.add_argument("--watch-timeout", metavar="SECONDS", type=float, default=None, help="with --watch, stop after this many seconds without a new checkpoint (default: until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="print one JSON object per generation (JSON lines) instead of text")
    p.add_argument("--device", metavar="DEVICE", default="cpu", help="torch device to generate on: auto, cpu, cuda, cuda:N (default cpu)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    run_dir = Path(args.run_dir)
    try:
        check_sampling_args(args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.repetition_penalty)
        if args.prompt is not None and args.prompts is not None:
            raise ValueError("give --prompt or --prompts, not both")
        if args.poll <= 0:
            raise ValueError(f"--poll {args.poll} must be a positive number of seconds")
        if not (run_dir / "config.json").is_file():
            raise ValueError(f"{run_dir} is not a run directory (no config.json); give the directory a training run wrote")
        args.device = _device(args.device)
        prompts, settings = _prompts(args), _settings_list(args)
        if args.watch:
            _watch(run_dir, prompts, settings, args)
        else:
            _run_step(run_dir, args.step, prompts, settings, args)
    except KeyboardInterrupt:
        return 130 if not args.watch else 0
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except CheckpointError as e:  # a corrupt file is not a usage error (as in seedling.train)
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
