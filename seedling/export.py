"""Export a Seedling model to Hugging Face transformers' GPT-2 format (`GPT2LMHeadModel`).

Seedling is GPT-2's architecture (pre-LN, learned positions, tied head) with exact GELU, so the
weights carry over one to one. Two differences of layout: transformers' GPT-2 uses `Conv1D`
layers, whose weight is (in, out), the transpose of `nn.Linear`'s (out, in); and its `c_attn`
splits its output into query, key, value in that order, as our fused `qkv` does (rows [0:D] W_Q,
[D:2D] W_K, [2D:3D] W_V), so only the transpose is needed.

    python -m seedling.export runs/demo --to hf exported/demo
    # then, offline:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained("exported/demo")
    tokenizer = AutoTokenizer.from_pretrained("exported/demo")

transformers is imported only when exporting (it is not a dependency of training).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from seedling.cliutil import OneLineParser
from seedling.model import GPT
from seedling.tokenizer import EOT
from seedling.train.checkpoint_io import CheckpointError

__all__ = ["hf_config", "hf_state_dict", "save_hf_tokenizer", "to_hf", "main"]

log = logging.getLogger(__name__)

FORMATS = ("hf",)


def hf_config(model: GPT, eot_id: int | None = None):
    """The `GPT2Config` describing `model`'s shape (vocabulary = the padded one)."""
    from transformers import GPT2Config

    c = model.cfg
    return GPT2Config(
        vocab_size=c.d_vocab_padded,
        n_positions=c.n_ctx,
        n_embd=c.d_model,
        n_layer=c.n_layers,
        n_head=c.n_heads,
        n_inner=c.d_mlp,
        activation_function="gelu",  # exact (erf) GELU, as ours; "gelu_new" would be the tanh one
        resid_pdrop=c.dropout,
        embd_pdrop=c.dropout,
        attn_pdrop=c.dropout,
        layer_norm_epsilon=c.layer_norm_eps,
        tie_word_embeddings=True,
        scale_attn_weights=True,  # scores / sqrt(d_head)
        bos_token_id=eot_id,
        eos_token_id=eot_id,
    )


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our parameters under transformers' GPT-2 names; Conv1D weights transposed to (in, out).

    Without biases (`model.bias=false`) the biases are exported as zeros, which is the same model.
    """
    sd = model.state_dict()
    zeros = lambda n: torch.zeros(n, dtype=sd["wte.weight"].dtype)  # noqa: E731
    get = lambda k, n: sd[k] if k in sd else zeros(n)  # noqa: E731
    D = model.cfg.d_model
    out = {"transformer.wte.weight": sd["wte.weight"], "transformer.wpe.weight": sd["wpe.weight"]}
    for layer in range(model.cfg.n_layers):
        ours, theirs = f"blocks.{layer}.", f"transformer.h.{layer}."
        for a, b, n in (("ln1", "ln_1", D), ("ln2", "ln_2", D)):
            out[theirs + b + ".weight"] = sd[ours + a + ".weight"]
            out[theirs + b + ".bias"] = get(ours + a + ".bias", n)
        for a, b in (("attn.qkv", "attn.c_attn"), ("attn.out", "attn.c_proj"), ("mlp.fc_in", "mlp.c_fc"), ("mlp.fc_out", "mlp.c_proj")):
            w = sd[ours + a + ".weight"]  # (out, in)
            out[theirs + b + ".weight"] = w.t().contiguous()  # (in, out)
            out[theirs + b + ".bias"] = get(ours + a + ".bias", w.shape[0])
    out["transformer.ln_f.weight"] = sd["ln_final.weight"]
    out["transformer.ln_f.bias"] = get("ln_final.bias", D)
    return {k: v.detach().clone() for k, v in out.items()}


def to_hf(model: GPT, eot_id: int | None = None):
    """A `transformers.GPT2LMHeadModel` computing the same logits as `model` (in eval mode)."""
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel(hf_config(model, eot_id))
    missing, unexpected = hf.load_state_dict(hf_state_dict(model), strict=False)
    # lm_head.weight is tied to wte; anything else missing would be a mapping bug.
    if set(missing) - {"lm_head.weight"} or unexpected:
        raise RuntimeError(f"GPT-2 weight mapping is incomplete: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    return hf.eval()


def save_hf_tokenizer(tokenizer_json: str | Path, out_dir: str | Path, model_max_length: int) -> str | None:
    """Write what `AutoTokenizer.from_pretrained(out_dir)` needs; return the end-of-text token.

    That is tokenizer.json plus tokenizer_config.json naming `PreTrainedTokenizerFast`, with
    `EOT` as both beginning and end of sequence (GPT-2's convention), when the tokenizer has it.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    eot = EOT if Tokenizer.from_file(str(tokenizer_json)).token_to_id(EOT) is not None else None
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json), model_max_length=model_max_length, eos_token=eot, bos_token=eot
    )
    tok.save_pretrained(str(out_dir))
    return eot


def export_run(run_dir: str | Path, out_dir: str | Path, step: int | None = None, to: str = "hf") -> Path:
    """Export the checkpoint at `step` (None: the latest) of a run directory; return `out_dir`."""
    from seedling.run import load_run

    if to not in FORMATS:
        raise ValueError(f"unknown export format {to!r}; accepted: {', '.join(FORMATS)}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model, tokenizer, _cfg = load_run(run_dir, step=step)  # raises before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    to_hf(model, tokenizer.token_to_id(EOT)).save_pretrained(str(out_dir))  # config, safetensors, generation config
    save_hf_tokenizer(run_dir / "tokenizer.json", out_dir, model.cfg.n_ctx)
    log.info("exported %s (step %s) to %s", run_dir, "latest" if step is None else step, out_dir)
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m seedling.export",
        description="Export a run's checkpoint to another format. hf: a transformers GPT2LMHeadModel "
        "directory (config.json, model.safetensors, tokenizer files) that loads offline with "
        "AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holds config.json, tokenizer.json, checkpoints/)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="directory to write; created if missing, must be empty unless --force")
    p.add_argument("--to", required=True, metavar="FORMAT", help=f"target format; accepted: {', '.join(FORMATS)}")
    p.add_argument("--step", type=int, metavar="N", default=None, help="checkpoint step to export (default: the latest)")
    p.add_argument("--force", action="store_true", help="write into OUT_DIR even if it already holds files")
    return p


RUN_MARKERS = ("checkpoints", "metrics.jsonl", "records.zarr")  # what only a training run directory holds


def _refuse_run_directory(out: Path, run_dir: Path) -> None:
    """ValueError when OUT_DIR is, holds or lies inside a training run: exporting there (even with --force)
    would overwrite the run's own config.json. Checked two levels down (runs/NAME/seedN)."""
    target = out.resolve()
    if target == run_dir.resolve() or run_dir.resolve() in target.parents:
        raise ValueError(f"{out} is (inside) the run directory {run_dir}; export into a directory of its own")
    if not target.is_dir():
        return
    for d in [target, *target.glob("*"), *target.glob("*/*")]:
        if d.is_dir() and any((d / m).exists() for m in RUN_MARKERS):
            raise ValueError(f"{out} holds a training run ({d}); export into a directory of its own, never into runs")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out_dir)
    try:
        if args.to not in FORMATS:
            raise ValueError(f"--to {args.to!r} is not a known format; accepted: {', '.join(FORMATS)}")
        if not (Path(args.run_dir) / "config.json").is_file():
            raise ValueError(f"{args.run_dir} is not a run directory (no config.json); give the directory a training run wrote")
        _refuse_run_directory(out, Path(args.run_dir))
        if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.force)):
            raise ValueError(f"{out} already exists and is not an empty directory; choose another OUT_DIR or pass --force")
        export_run(args.run_dir, out, step=args.step, to=args.to)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"error: exporting needs transformers ({e}); install it, e.g. pip install 'seedling-workbench[dev]'", file=sys.stderr)
        return 2
    except CheckpointError as e:  # a corrupt file is not a usage error (as in seedling.train)
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"exported to {out} (load with transformers.AutoModelForCausalLM.from_pretrained({str(out)!r}))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
