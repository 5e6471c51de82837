"""Recorder for `constructs`: item embeddings per layer and the construct structure they carry, with controls.

Stimulus: `probe.items` (recorders.item_probe): every item of the item set, then every construct
definition, each `EOT text`, right-padded. At every layer's `hook_resid_post` the hook keeps, per
row, the mean over the row's own tokens (positions 1..len-1: position 0 is EOT, the attention
sink) and the last token's vector. `measure` then runs, per layer, the analysis of
`recorders.psychometrics.controls.analyse_layer` on the mean-pooled item embeddings: centred
cosines, structure recovery against the keyed target (and the empirical correlations when given),
the pseudo-factor analysis (EFA + oblique target rotation, DAAL, congruence, RMSR), and the same
statistics under the negative controls, as the `condition` dimension: "items", "shuffled labels k"
(k = 1..N_SHUFFLES) and "scrambled dimensions". When the item set has response options, the
log-probability probe: per item and option, `log P(option tokens | EOT item)` summed over the
option's tokens (from `ln_final.hook_normalized` and the tied output head, as the `loss` group
computes logits); the item's expected score `sum_o score_o p_o` with `p_o` the options'
log-probabilities normalised over the options (softmax); and per construct the mean keyed score
(reverse-keyed items scored `min + max - s`), so a trait score comes from the model itself. Costly (an EFA per layer and condition family), so
it is recorded only when asked: `--record "every=50 what=constructs items=planted"`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from recorders.groups.base import GroupRecorder, RecordContext, to_numpy
from recorders.probe import Probe
from recorders.psychometrics.controls import analyse_layer
from recorders.psychometrics.similarity import cosine_matrix, semantic_alignment
from recorders.store import Coord, VarMeta

__all__ = ["ConstructsRecorder", "N_PERM", "N_SHUFFLES", "conditions"]

N_SHUFFLES = 10  # label permutations per record: the null band of every trajectory
N_PERM = 199  # Mantel permutations: p resolves down to 1/200
_STATS = {  # per (layer, condition): long name, units
    "recovery": ("Pearson r of centred cosines with the keyed target (off-diagonal pairs)", "1"),
    "recovery_spearman": ("Spearman rho of centred cosines with the keyed target", "1"),
    "hit_rate": ("share of each item's 3 nearest items (|centred cosine|) in its construct", "1"),
    "domains_recovered": ("domains recovered by DAAL on the label-blind quartimin rotation (floor 0.25, duplicates rejected)",
                          "domains"),
    "domains_recovered_target": ("domains recovered by DAAL on the target rotation (floor 0.25, duplicates rejected)",
                                 "domains"),
    "congruence": ("Tucker's congruence of rotated loadings with the keyed target, mean over factors", "1"),
    "rmsr": ("root mean square off-diagonal residual of the factor model", "cosine units"),
}


def conditions() -> list[str]:
    """Values of the `condition` coordinate: the real labels, then the controls."""
    return ["items"] + [f"shuffled labels {k}" for k in range(1, N_SHUFFLES + 1)] + ["scrambled dimensions"]


class ConstructsRecorder(GroupRecorder):
    """Psychometric probe of the residual stream: see the module docstring."""

    group = "constructs"
    description = "item embeddings (mean of resid_post over each item's tokens, position 0 excluded) and their construct structure"
    stimulus = "item_tokens"

    def __init__(self, probe: Probe) -> None:
        if probe.items is None:
            raise ValueError("the constructs group needs an item set in the probe (record spec items=NAME|PATH)")
        self.items = probe.items
        self._lengths = torch.as_tensor(probe.items.lengths)
        self._seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._final: torch.Tensor | None = None  # ln_final output on the option rows

    def variables(self, model, probe) -> dict[str, VarMeta]:
        s = self.items.item_set
        emb = "activation units"
        out = {
            "item_embedding": VarMeta(("layer", "item", "d_model"), "item embedding: mean of resid_post over the item's tokens",
                                      emb, "mean over positions 1..len-1 (position 0, EOT, excluded)"),
            "item_embedding_last": VarMeta(("layer", "item", "d_model"), "item embedding: resid_post at the item's last token",
                                           emb, "none: position len-1"),
            "cosine": VarMeta(("layer", "item", "item_b"), "raw cosine of item embeddings", "1", "none"),
            "centred_cosine": VarMeta(("layer", "item", "item_b"), "cosine of item embeddings minus the item-set mean",
                                      "1", "centred over items"),
            "mantel_p": VarMeta(("layer",), f"Mantel permutation p of recovery ({N_PERM} permutations)", "probability",
                                "one-sided, item labels permuted on rows and columns"),
            "loading": VarMeta(("layer", "item", "factor"), "EFA loading after oblique target rotation (factor f aimed at construct f)",
                               "1", "minres EFA of the centred cosines; statsmodels target rotation"),
            "unrotated_loading": VarMeta(("layer", "item", "factor"), "minres EFA loading before rotation", "1", "factor_analyzer"),
            "factor_correlation": VarMeta(("layer", "factor", "factor_b"), "factor correlations of the oblique rotation", "1", "T^T T"),
            "daal": VarMeta(("layer", "factor", "construct"), "average absolute loading of the construct's items", "1",
                            "mean over the construct's items; target-rotated loadings"),
            "blind_loading": VarMeta(("layer", "item", "factor"), "EFA loading after oblique quartimin rotation (label-blind)",
                                     "1", "statsmodels oblimin, gamma 0; factors in the rotation's order"),
            "blind_daal": VarMeta(("layer", "factor", "construct"), "average absolute blind loading of the construct's items",
                                  "1", "mean over the construct's items; quartimin-rotated loadings"),
            "factor_congruence": VarMeta(("layer", "factor"), "Tucker's congruence of each factor with its target column", "1",
                                         "over items"),
        }
        for name, (long_name, units) in _STATS.items():
            out[name] = VarMeta(("layer", "condition"), long_name, units, "per layer; conditions: items, then the controls")
        if s.correlations is not None:
            for name, what in (("empirical_recovery", "Pearson r"), ("empirical_recovery_spearman", "Spearman rho"),
                               ("empirical_mantel_p", "Mantel p")):
                out[name] = VarMeta(("layer",), f"{what} of centred cosines with the empirical item correlations",
                                    "probability" if name.endswith("_p") else "1", "off-diagonal pairs")
        if s.option_labels:
            out["option_logprob"] = VarMeta(("item", "option"), "log-probability of the option's words after the item", "nats",
                                            "sum over the option's tokens of log P(token | EOT item, earlier option tokens)")
            out["item_score"] = VarMeta(("item",), "expected response score: sum_o score_o softmax_o(option_logprob)",
                                        "score units", "over the options; not reverse-keyed")
            out["construct_score"] = VarMeta(("construct",), "mean keyed item score of the construct's items", "score units",
                                             "reverse-keyed items scored min + max - score")
        if s.definitions is not None:
            out["alignment"] = VarMeta(("layer", "item", "construct"), "keyed centred cosine of item with construct definition",
                                       "1", "definitions embedded like items; centred on the item-set mean")
            out["alignment_own_minus_mean"] = VarMeta(("layer", "item"), "own-definition alignment minus mean of the others",
                                                      "1", "keyed cosines")
            out["alignment_own_minus_max"] = VarMeta(("layer", "item"), "own-definition alignment minus max of the others",
                                                     "1", "keyed cosines; > 0: the own definition is the nearest")
        return out

    def coords(self, model, probe) -> dict[str, Coord]:
        """Item ids on item and item_b (with each item's construct and key beside), construct names on
        construct and factor (factor f is rotated towards construct f), the conditions."""
        s = self.items.item_set
        return {"item": Coord("item", list(s.ids), "item id"), "item_b": Coord("item_b", list(s.ids), "item id"),
                "item_construct": Coord("item", list(s.constructs), "construct of the item"),
                "item_key": Coord("item", s.keys.astype(np.int64), "key of the item (+1, or -1 reverse-keyed)"),
                "construct": Coord("construct", list(s.construct_names), "construct"),
                **({"option": Coord("option", list(s.option_labels), "response option")} if s.option_labels else {}),
                "factor": Coord("factor", list(s.construct_names), "the construct the factor is rotated towards"),
                "factor_b": Coord("factor_b", list(s.construct_names), "the construct the factor is rotated towards"),
                "condition": Coord("condition", conditions(), "real labels or a negative control")}

    def group_attrs(self, probe):
        return super().group_attrs(probe) | self.items.attrs() | {"conditions": conditions(), "n_perm": N_PERM}

    def hooks(self):
        def keep(x: torch.Tensor, name: str) -> None:  # x: (row, pos, d_model)
            layer = int(name.split(".")[1])
            lengths = self._lengths.to(x.device)
            pos = torch.arange(x.shape[1], device=x.device)
            own = ((pos[None, :] >= 1) & (pos[None, :] < lengths[:, None])).to(x.dtype)  # (row, pos)
            mean = (x * own[..., None]).sum(1) / own.sum(1, keepdim=True).clamp(min=1)
            last = x[torch.arange(x.shape[0], device=x.device), lengths - 1]
            self._seen[layer] = (mean.detach(), last.detach())

        def final(x: torch.Tensor, name: str) -> None:
            self._final = x[self.items.first_option_row:].detach()

        out = [(lambda n: n.startswith("blocks.") and n.endswith(".hook_resid_post"), keep)]
        return out + ([("ln_final.hook_normalized", final)] if self.items.item_set.option_labels else [])

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        s, n = self.items.item_set, self.items.n_items
        per_layer: dict[str, list[np.ndarray]] = {}
        for layer in range(ctx.n_layers):
            mean, last = (to_numpy(t, np.float64) for t in self._seen[layer])
            for name, value in self._layer(mean, last[:n], s).items():
                per_layer.setdefault(name, []).append(value)
        self._seen = {}
        if s.option_labels:
            per_layer |= {k: [v] for k, v in self._options(ctx.model).items()}  # no layer: one value per record
        meta = self.variables(ctx.model, ctx.probe)
        return {k: (np.stack(v) if meta[k].dims[:1] == ("layer",) else v[0]).astype(meta[k].numpy_dtype)
                for k, v in per_layer.items()}

    def _options(self, model) -> dict[str, np.ndarray]:
        """The log-probability probe (module docstring) from the kept ln_final outputs of the option rows."""
        s, probe = self.items.item_set, self.items
        rows = torch.arange(probe.first_option_row, len(probe.lengths))
        tokens = torch.as_tensor(probe.tokens[rows.numpy()], device=self._final.device)
        logp = F.log_softmax(F.linear(self._final, model.wte.weight).float(), dim=-1)  # (row, pos, vocab)
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        start = torch.as_tensor(probe.option_start, device=tokens.device)[:, None]
        length = torch.as_tensor(probe.lengths[rows.numpy()], device=tokens.device)[:, None]
        own = (pos[None, 1:] >= start) & (pos[None, 1:] < length)  # target positions holding option tokens
        token_logp = logp[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]  # (row, pos-1): log P(token t | < t)
        lp = (token_logp * own).sum(1).view(s.n_items, len(s.option_labels)).double().cpu().numpy()
        self._final = None
        p = np.exp(lp - lp.max(axis=1, keepdims=True))
        score = (p / p.sum(axis=1, keepdims=True)) @ s.option_scores
        lo, hi = s.option_scores.min(), s.option_scores.max()
        keyed = np.where(s.keys > 0, score, lo + hi - score)
        by_construct = np.array([keyed[s.construct_index == c].mean() for c in range(len(s.construct_names))])
        return {"option_logprob": lp, "item_score": score, "construct_score": by_construct}

    def _layer(self, rows: np.ndarray, last: np.ndarray, s) -> dict[str, np.ndarray]:
        X = rows[: s.n_items]
        a = analyse_layer(X, s.construct_index, s.keys, s.correlations, n_perm=N_PERM, n_shuffles=N_SHUFFLES)
        fr = a["factors"]
        out = {"item_embedding": X, "item_embedding_last": last, "cosine": cosine_matrix(X), "centred_cosine": a["centred"],
               "mantel_p": np.float64(a["stats"]["mantel_p"]), "loading": fr.loadings, "unrotated_loading": fr.unrotated,
               "factor_correlation": fr.phi, "daal": fr.daal, "factor_congruence": fr.congruence,
               "blind_loading": fr.blind_loadings, "blind_daal": fr.blind_daal}
        for name in _STATS:
            out[name] = np.array([a["stats"][name], *a["shuffled"][name], a["scrambled"][name]], dtype=np.float64)
        if s.correlations is not None:
            e = a["empirical"]
            out |= {"empirical_recovery": np.float64(e["pearson"]), "empirical_recovery_spearman": np.float64(e["spearman"]),
                    "empirical_mantel_p": np.float64(e["mantel_p"])}
        if s.definitions is not None:
            al = semantic_alignment(X, rows[s.n_items:s.n_items + len(s.definitions)], s.construct_index, s.keys)
            out |= {"alignment": al["cosine"], "alignment_own_minus_mean": al["own_minus_mean"],
                    "alignment_own_minus_max": al["own_minus_max"]}
        return out
