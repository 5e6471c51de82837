"""Seedling workbench: scipy analyses of recorded training trajectories (imports no torch).

See docs/analyses.md for every method's formula, units and citation.
"""

from workbench.changepoint import change_points, plateaus
from workbench.cka import cka_between, cka_matrix, cka_to_final, linear_cka
from workbench.clustering import cluster_trajectories
from workbench.crosscorr import lagged_xcorr
from workbench.errors import MissingMetricError, NotARunError, SchemaVersionError, TooFewRecordsError, WorkbenchError
from workbench.fits import FitResult, fit_exponential, fit_logistic, fit_power_law, rank_fits
from workbench.heads import (
    ROLE_THRESHOLDS,
    OnsetEstimate,
    PhaseChange,
    classify_heads,
    induction_phase_change,
    onset_across_seeds,
    onset_with_ci,
    role_emergence,
    trajectory_summary,
)
from workbench.reliability import (
    head_table_across_seeds,
    icc,
    icc_across_seeds,
    match_heads,
    matched_head_table,
    seed_bands,
    split_half,
)
from workbench.run import Checkpoint, RunData, open_run, open_runs
from workbench.smoothing import ema, rate_of_change, savgol
from workbench.spectral import (
    checkpoint_spectra,
    effective_rank,
    powerlaw_alpha,
    singular_values,
    spectra_over_checkpoints,
    spectral_summary,
    stable_rank,
)

__all__ = [
    "Checkpoint", "FitResult", "MissingMetricError", "NotARunError", "OnsetEstimate", "PhaseChange", "ROLE_THRESHOLDS", "RunData",
    "SchemaVersionError", "TooFewRecordsError", "WorkbenchError", "change_points", "checkpoint_spectra",
    "cka_between", "cka_matrix", "cka_to_final", "classify_heads", "cluster_trajectories", "effective_rank", "ema",
    "fit_exponential", "fit_logistic", "fit_power_law", "head_table_across_seeds", "icc", "icc_across_seeds", "induction_phase_change",
    "lagged_xcorr", "linear_cka", "match_heads", "matched_head_table", "onset_across_seeds", "onset_with_ci", "open_run", "open_runs", "plateaus",
    "powerlaw_alpha", "rank_fits", "rate_of_change", "role_emergence", "savgol", "seed_bands", "singular_values",
    "spectra_over_checkpoints", "spectral_summary", "split_half", "stable_rank", "trajectory_summary",
]
