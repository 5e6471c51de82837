"""Figure builders for the dashboard: pure functions, data in, a Plotly figure (or, for the Overview's
training curves, an Altair chart) out."""

from dashboards.figures.curves import (
    head_trajectories,
    lines,
    overlay_runs,
    seed_band,
    series_with_marks,
    xcorr_bars,
)
from dashboards.figures.grids import (
    attention_pattern,
    head_grid,
    head_grid_playback,
    similarity_matrix,
    site_step_heatmap,
    trajectory_2d,
)
from dashboards.figures.prep import (
    align_runs,
    cka_matrix,
    nearest_step,
    pca_trajectories,
    trajectories,
)
from dashboards.figures.training import training_curves, training_table

__all__ = [
    "align_runs", "attention_pattern", "cka_matrix", "head_grid", "head_grid_playback", "head_trajectories",
    "lines", "nearest_step", "overlay_runs", "pca_trajectories", "similarity_matrix",
    "seed_band", "series_with_marks", "site_step_heatmap", "trajectories", "trajectory_2d",
    "training_curves", "training_table", "xcorr_bars",
]
