"""The dashboard's data module: find runs, read them read-only through workbench.open_run, and cache what was read.

Every cached reader takes a `signature` argument: a tuple of what can change while training is still
writing (each group's `committed` count, the size and mtime of metrics.jsonl, the checkpoint names).
`st.cache_data` hashes its arguments, so a new record gives a new signature and a new cache entry,
and an unchanged run is served from the cache. Nothing here ever opens a file for writing.

    root = runs_root(sys.argv[1:])          # --runs DIR (default: runs)
    runs = find_runs(root)                  # run directories under root, or root itself
    sig = signature(runs[0])
    ds = load_group(str(runs[0]), "head_scores", sig)   # xarray.Dataset or None
"""

from dashboards.data.derived import (
    TRAJECTORY_GROUPS,
    cka_at_step,
    head_shape,
    pca_paths,
    run_trajectories,
    strongest_head,
    workbench_call,
)
from dashboards.data.files import checkpoints, load_config, load_metrics, load_samples
from dashboards.data.runs import (
    SAMPLES,
    STORE,
    RunsError,
    available_groups,
    committed,
    find_runs,
    is_run,
    record_counts,
    run_data,
    runs_root,
    signature,
)
from dashboards.data.store import (
    group_variables,
    load_act_item_means,
    load_acts_at_step,
    load_group,
    load_matrix_table,
    load_pattern,
    load_site_table,
    open_group,
    opened,
    pattern_tokens,
    site_labels,
)

__all__ = [
    "SAMPLES", "STORE", "TRAJECTORY_GROUPS", "RunsError", "available_groups", "checkpoints", "cka_at_step",
    "committed", "find_runs", "group_variables", "head_shape", "is_run", "load_act_item_means",
    "load_acts_at_step", "load_config", "load_group", "load_matrix_table", "load_metrics", "load_pattern",
    "load_samples", "load_site_table", "open_group", "opened", "pattern_tokens", "pca_paths", "record_counts",
    "run_data", "run_trajectories", "runs_root", "signature", "site_labels", "strongest_head", "workbench_call",
]
