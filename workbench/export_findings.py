"""The export's findings tables (fits, onsets, ICCs, split-half) and its codebook."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.run import RunData
from workbench.variables import meaning_of

FINDINGS = {
    "fits": {"model": "curve fitted to the loss", "parameter": "parameter name (see the formula)",
             "estimate": "least-squares estimate", "se": "Wald standard error (optimistic: records are autocorrelated)",
             "ci_low": "Wald 95% CI, lower", "ci_high": "Wald 95% CI, upper",
             "flag": "why the parameter must not be reported bare (empty: none)", "r2": "1 - RSS/TSS of the fit",
             "aic": "Gaussian AIC, n ln(RSS/n) + 2(p+1)", "rank": "1 = recommended: unflagged fits by AIC, flagged last",
             "formula": "the fitted curve"},
    "onsets": {"score_before": "fitted level before the rise (probability)", "score_after": "fitted level after",
               "logistic_onset": "t_mid - 2w: 12% of the fitted rise (steps)", "onset_ci_low": "CI of the onset, lower",
               "onset_ci_high": "CI of the onset, upper", "logistic_midpoint": "t_mid: 50% of the rise (steps)",
               "midpoint_ci_low": "CI of the midpoint, lower", "midpoint_ci_high": "CI of the midpoint, upper",
               "ci": "interval: level and method; 'across seeds' rows are t intervals over the seeds' onsets",
               "phase_change": "TRUE when the rise is sharp and the ICL score falls across it"},
    "icc": {"scope": "all layers, or one layer", "type": "ICC(2,1) absolute agreement or ICC(3,1) consistency",
            "icc": "intraclass correlation", "F": "F statistic", "df1": "numerator df", "df2": "denominator df",
            "p": "p value of H0: ICC = 0", "ci_low": "95% CI, lower", "ci_high": "95% CI, upper",
            "n": "targets (heads)", "k": "raters (seeds)", "matched_on": "how heads were matched across seeds"},
    "split_half": {"statistic": "per-item head score", "r_half": "Pearson r of odd vs even probe items across heads",
                   "r_full": "Spearman-Brown 2r/(1+r)", "n_targets": "heads", "n_items": "probe items"},
}


def findings_tables(runs: list[RunData], method: str) -> dict[str, pd.DataFrame]:
    """fits, onsets (per run, and across seeds when several), icc (several runs), split_half (per run)."""
    from workbench.findings import find
    from workbench.heads import onset_across_seeds
    from workbench.reliability import icc_across_seeds, split_half

    fits, onsets, halves = [], [], []
    for r in runs:
        f = find(r, method=method)
        for rank, fit in enumerate(f.fits, 1):
            fits.append(fit.table().assign(run=r.name, rank=rank, formula=fit.formula))
        pc = f.phase_change
        if pc is not None and pc.onset is not None:
            o = pc.onset
            onsets.append({"run": r.name, "layer": pc.layer, "head": pc.head_index, "score_before": o.lo,
                           "score_after": o.hi, "logistic_onset": o.onset, "onset_ci_low": o.onset_ci[0],
                           "onset_ci_high": o.onset_ci[1], "logistic_midpoint": o.midpoint,
                           "midpoint_ci_low": o.midpoint_ci[0], "midpoint_ci_high": o.midpoint_ci[1],
                           "ci": f"{o.level:.0%} {o.method}, this run's precision", "phase_change": pc.detected})
        if "head_scores" in r.groups:
            ds = r.group("head_scores")
            for v in (v for v in ds.data_vars if str(v).endswith("_by_item")):
                halves.append(split_half(ds[v]).assign(run=r.name, statistic=str(v)))
    tables = {"fits": pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(),
              "onsets": pd.DataFrame(onsets),
              "split_half": pd.concat(halves, ignore_index=True) if halves else pd.DataFrame()}
    if len(onsets) >= 2:
        a = onset_across_seeds([o["logistic_onset"] for o in onsets])
        tables["onsets"] = pd.concat([tables["onsets"], pd.DataFrame([{
            "run": "across seeds", "logistic_onset": a["mean"], "onset_ci_low": a["ci_low"],
            "onset_ci_high": a["ci_high"], "ci": f"95% t over {a['k']} seeds ({a['k'] - 1} df), replication"}])],
            ignore_index=True)
    for col in ("layer", "head"):
        if col in tables["onsets"]:
            tables["onsets"][col] = tables["onsets"][col].astype("Int64")
    if len(runs) >= 2:
        try:
            tables["icc"] = icc_across_seeds([r.variable("head_scores", "induction") for r in runs])
        except WorkbenchError:
            tables["icc"] = pd.DataFrame()
    return tables


def _type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "logical"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "double"
    return "string"


def codebook(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per column of every table (table, column, type, unit, meaning), then one per statistic of the
    record tables (column ``statistic=<name>``, its unit, and the groups it comes from)."""
    from workbench.export import COLUMNS, MEANINGS

    rows = []
    for name, df in tables.items():
        for col in df.columns:
            if col in MEANINGS and (name not in FINDINGS or col not in FINDINGS[name]):
                typ, unit, meaning = MEANINGS[col]
            else:
                typ, unit, meaning = _type(df[col]), "", FINDINGS.get(name, {}).get(col, "")
            if name == "runs" and col == "value":
                typ, unit, meaning = "string", "", "the config value (numbers as text)"
            rows.append({"table": name, "column": col, "type": typ, "unit": unit, "meaning": meaning})
    records = [df for df in tables.values() if list(df.columns) == COLUMNS and len(df)]
    if records:
        stats = pd.concat([df[["group", "statistic", "unit"]] for df in records]).drop_duplicates()
        for (stat, unit), g in stats.groupby(["statistic", "unit"], sort=True):
            rows.append({"table": ", ".join(sorted(g["group"].unique())), "column": f"statistic={stat}",
                         "type": "double", "unit": unit, "meaning": meaning_of(stat) or f"statistic {stat}"})
    return pd.DataFrame(rows, columns=["table", "column", "type", "unit", "meaning"]).replace({np.nan: ""})
