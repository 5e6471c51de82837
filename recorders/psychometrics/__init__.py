"""Psychometric probes of item representations (torch-free): item sets, similarity, factor analysis.

Both the model side (the `constructs` group recorder, which measures at record steps or on replayed
checkpoints) and the workbench (trajectories, export) use these, so they live upstream of both and
import only numpy, pandas, scipy, statsmodels and factor_analyzer. See docs/analyses.md,
"Psychometric probes", for every formula and its citation.
"""

from recorders.psychometrics.factors import (
    FactorResult,
    daal_assignment,
    parallel_analysis,
    pseudo_factor_analysis,
    rmsr,
    tucker_congruence,
)
from recorders.psychometrics.items import ItemSet, ItemSetError, bundled_item_sets, load_item_set, read_item_set
from recorders.psychometrics.similarity import (
    centred_cosine,
    cosine_matrix,
    keyed_target,
    mantel_test,
    semantic_alignment,
    structure_recovery,
    top_k_hit_rate,
)

__all__ = [
    "FactorResult", "ItemSet", "ItemSetError", "bundled_item_sets", "centred_cosine", "cosine_matrix",
    "daal_assignment", "keyed_target", "load_item_set", "mantel_test", "parallel_analysis", "pseudo_factor_analysis",
    "read_item_set", "rmsr", "semantic_alignment", "structure_recovery", "top_k_hit_rate", "tucker_congruence",
]
