"""What a store variable measures, in one place: its statistic, its site and its unit (for the tidy export).

Schema 2 stores the site as a coordinate, so the statistic is the variable's name (renamed where two
groups use one name for different quantities); schema 1 stores named variables by site
(`blocks.0.attn.qkv.weight.sigma_max` in `weight_norm`), which `statistic_and_site` splits. Either way
the export writes the statistic, the place and the unit in separate columns, so R users never parse
names. Every name rule lives here.
"""

from __future__ import annotations

import re

# Statistics a schema-1 variable name appends to its site after a dot.
SITE_SUFFIXES = ("sigma_max", "stable_rank", "rms", "mean", "std", "kurtosis", "max_abs", "dead_fraction")
# The statistic of a bare site-named variable, by group.
SITE_STATISTIC = {"weight_norm": "frobenius_norm", "grad_norm": "grad_frobenius_norm", "update_ratio": "update_ratio"}
_SITE = re.compile(r"^(blocks\.\d+\.|wte\.|wpe\.|ln_final\.|hook_)")
# One name per quantity, whichever file it came from: metrics.jsonl's `loss` is the store's `train_loss`;
# schema 2 calls both parameter norms `norm` (in weight_norm and grad_norm), which the export tells apart.
RENAME = {("metrics", "loss"): "train_loss", ("weight_norm", "norm"): "frobenius_norm",
          ("grad_norm", "norm"): "grad_frobenius_norm", ("update_ratio", "ratio"): "update_ratio",
          ("matrices", "weight_norm"): "frobenius_norm", ("matrices", "grad_norm"): "grad_frobenius_norm"}


def statistic_name(group: str, name: str) -> str:
    """The export's name for a schema-2 variable (a place is a coordinate, so only the name may need a rename).

    >>> statistic_name("grad_norm", "norm"), statistic_name("act_stats", "kurtosis")
    ('grad_frobenius_norm', 'kurtosis')
    """
    return RENAME.get((group, str(name)), str(name))
# Units where the store has none (metrics.jsonl) or says "1"; "dimensionless" rather than "1" in the export.
UNITS = {"train_loss": "nats per token", "val_loss": "nats per token", "probe_loss": "nats per token",
         "icl_score": "nats", "val_ppl": "tokens (perplexity)", "lr": "dimensionless (learning rate)",
         "grad_norm": "dimensionless", "tokens": "tokens", "elapsed": "seconds", "entropy": "nats",
         "tokens_per_s": "tokens per second", "best_val_loss": "nats per token", "bad_steps": "count",
         "rollbacks": "count", "scaler_skips": "count", "peak_memory_mb": "MB", "loss_scale": "dimensionless",
         "grad_norm_clipped": "dimensionless", "global_norm_clipped": "dimensionless"}


def statistic_and_site(group: str, name: str) -> tuple[str, str]:
    """``(statistic, site)`` of a variable; site ``""`` when the variable is not about one site.

    >>> statistic_and_site("weight_norm", "blocks.0.attn.qkv.weight.sigma_max")
    ('sigma_max', 'blocks.0.attn.qkv.weight')
    >>> statistic_and_site("weight_norm", "blocks.0.attn.qkv.weight")
    ('frobenius_norm', 'blocks.0.attn.qkv.weight')
    >>> statistic_and_site("act_stats", "blocks.1.hook_resid_post.kurtosis")
    ('kurtosis', 'blocks.1.hook_resid_post')
    >>> statistic_and_site("head_scores", "induction"), statistic_and_site("metrics", "loss")
    (('induction', ''), ('train_loss', ''))
    """
    name = str(name)
    if not _SITE.match(name):
        return RENAME.get((group, name), name), ""
    base, _, last = name.rpartition(".")
    if last in SITE_SUFFIXES:
        return last, base
    return SITE_STATISTIC.get(group, group), name


def unit_of(statistic: str, attrs_units: str | None = None) -> str:
    """The unit written in the export: the table above (so one statistic has one unit whichever file it came
    from), else the store's ``units`` attribute; "1" -> "dimensionless".

    >>> unit_of("induction", "probability"), unit_of("sigma_max", "1"), unit_of("train_loss", "nats")
    ('probability', 'dimensionless', 'nats per token')
    """
    if statistic in UNITS:
        return UNITS[statistic]
    if attrs_units and attrs_units != "1":
        return str(attrs_units)
    return "dimensionless" if attrs_units == "1" else ""


MEANINGS = {
    "frobenius_norm": "Frobenius norm ||W||_F of the parameter (per head for W_Q/W_K/W_V/W_O slices)",
    "grad_frobenius_norm": "Frobenius norm of the accumulated, unscaled gradient, before clipping",
    "global_norm": "norm of all gradients together, before clipping",
    "update_ratio": "||W_after - W_before||_F / ||W_before||_F over one optimizer step",
    "sigma_max": "largest singular value ||W||_2", "stable_rank": "||W||_F^2 / ||W||_2^2",
    "rms": "root mean square of the activations", "mean": "mean of the activations",
    "std": "standard deviation of the activations", "kurtosis": "excess (Fisher) kurtosis of the activations",
    "max_abs": "largest absolute activation", "dead_fraction": "share of MLP units that never fire on the probe",
    "induction": "mean attention from a repeated token to the token after its earlier copy (Olsson et al. 2022)",
    "previous_token": "mean attention A[i, i-1]", "first_token": "mean attention A[i, 0] (attention sink)",
    "entropy": "attention entropy, mean over probe items and queries",
    "entropy_normalized": "attention entropy / ln(number of visible keys), in [0, 1]",
    "train_loss": "training cross-entropy (metrics.jsonl's loss; the store's loss/train_loss)",
    "val_loss": "validation cross-entropy", "probe_loss": "cross-entropy on the fixed probe batch",
    "icl_score": "loss at ~0.9 T minus loss at ~0.1 T on the probe (negative: the model uses context)",
    "lr": "learning rate used by the step", "tokens": "tokens seen so far", "val_ppl": "exp(val_loss)",
}


def meaning_of(statistic: str) -> str:
    """A sentence for the codebook; empty for a statistic not listed."""
    return MEANINGS.get(statistic, "")
