"""Seedling workbench: scipy analyses of recorded training trajectories (imports no torch).

See docs/analyses.md for every method's formula, units and citation. Names load lazily (PEP 562),
so `import workbench` and `workbench.open_run` cost neither scipy nor torch; an analysis loads
its module on first use.
"""

from importlib import import_module

# public name -> module that defines it
_LAZY = {
    **dict.fromkeys(("change_points", "plateaus"), "workbench.changepoint"),
    **dict.fromkeys(("cka_between", "cka_matrix", "cka_to_final", "linear_cka", "resid_by_layer"), "workbench.cka"),
    "cluster_trajectories": "workbench.clustering",
    "lagged_xcorr": "workbench.crosscorr",
    **dict.fromkeys(("MissingMetricError", "NotARunError", "SchemaVersionError", "StoreDamageError",
                     "TooFewRecordsError", "WorkbenchError"), "workbench.errors"),
    **dict.fromkeys(("FitResult", "fit_exponential", "fit_logistic", "fit_power_law"), "workbench.fits"),
    **dict.fromkeys(("OnsetEstimate", "PhaseChange", "classify_heads", "induction_phase_change", "onset_with_ci",
                     "role_emergence", "trajectory_summary"), "workbench.heads"),
    **dict.fromkeys(("head_table_across_seeds", "icc", "match_heads", "seed_bands", "split_half"),
                    "workbench.reliability"),
    **dict.fromkeys(("Checkpoint", "RunData", "open_run", "open_runs"), "workbench.run"),
    **dict.fromkeys(("ema", "rate_of_change", "savgol"), "workbench.smoothing"),
    **dict.fromkeys(("checkpoint_spectra", "effective_rank", "powerlaw_alpha", "singular_values",
                     "spectra_over_checkpoints", "spectral_summary", "stable_rank"), "workbench.spectral"),
    **dict.fromkeys(("read_group", "store_summary"), "workbench.store"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
