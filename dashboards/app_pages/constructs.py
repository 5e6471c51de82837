"""Constructs (computational level): when the model's representation of questionnaire items acquires their structure."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboards import data, ui
from dashboards.figures.constructs import construct_order, construct_trajectory, item_similarity
from workbench.constructs import construct_onsets, label, recovered_step, trajectories

st.title("Constructs")
st.caption("Computational level: does the model represent the items of a questionnaire the way their constructs "
           "and keys say? Item embeddings are the residual stream averaged over each item's tokens; their centred "
           "cosines are read like a correlation matrix (docs/analyses.md, Psychometric probes).")
runs = ui.run_choice()

PLOTS = (("domains_recovered", "Domains recovered (DAAL)", "domains"),
         ("congruence", "Tucker's congruence with the keyed target (mean over factors)", "phi"),
         ("recovery", "Structure recovery: r(centred cosine, keyed target)", "r"),
         ("hit_rate", "Top-3 hit rate", "share"))


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    raw = data.load_group(run, "constructs", sig)
    if not ui.need(raw, "constructs group (train with --record \"every=100 what=constructs items=NAME\", "
                   "or replay its checkpoints with --what constructs)"):
        return
    ds = label(raw)
    a = ds.attrs
    n_layers, k = ds.sizes["layer"], len(a["constructs"])
    c1, c2 = st.columns(2)
    layer = c1.number_input("Layer", 0, n_layers - 1, n_layers - 1, key="cx_layer")
    steps = [int(s) for s in ds["step"].values]
    step = c2.select_slider("Step", steps, value=steps[-1], key="cx_step")
    st.markdown(f"Item set **{a['item_set']}**: {ds.sizes['item']} items, constructs {', '.join(a['constructs'])}.")

    traj = trajectories(ds, layer)
    done = recovered_step(traj, k)
    st.metric("Structure recovered from step", "not yet" if done is None else done,
              help=f"first record from which all {k} domains are recovered and mean congruence >= 0.9 in every later record")
    st.subheader("Trajectories, against the negative control")
    onsets = pd.DataFrame()
    if len(steps) >= 5:
        onsets = construct_onsets_cached(run, sig, layer)
    for stat, title, unit in PLOTS:
        row = onsets[onsets["statistic"] == stat] if not onsets.empty else pd.DataFrame()
        onset = float(row["onset"].iloc[0]) if not row.empty and "onset" in row and pd.notna(row["onset"].iloc[0]) else None
        ref = {"domains_recovered": float(k), "congruence": 0.9}.get(stat)
        ui.chart(construct_trajectory(traj, stat, title, unit, onset=onset, reference=ref), "constructs_trajectory",
                 [construct_trajectory, trajectories], name=f"cx_{stat}", download=True)
    if not onsets.empty:
        st.dataframe(onsets, hide_index=True)

    st.subheader(f"Item similarity at step {step}, layer {layer}")
    at = ds.sel(step=step).isel(layer=layer)
    keys = [int(v) for v in a["item_keys"]]
    which = st.radio("Matrix", ["centred cosine", "raw cosine"], horizontal=True, key="cx_matrix")
    S = at["centred_cosine" if which == "centred cosine" else "cosine"].values
    ui.chart(item_similarity(S, a["item_ids"], a["item_constructs"], keys, f"{which}, items ordered by construct"),
             "constructs_similarity", [item_similarity], name="cx_similarity", download=True)

    st.subheader("Loadings (oblique target rotation)")
    order = construct_order(a["item_constructs"], keys)
    table = pd.DataFrame(np.round(at["loading"].values, 3), columns=[f"F:{c}" for c in a["constructs"]])
    table.insert(0, "key", keys)
    table.insert(0, "construct", a["item_constructs"])
    table.insert(0, "item", a["item_ids"])
    st.dataframe(table.iloc[order], hide_index=True)
    st.caption(TEXT_LOADINGS)
    daal = pd.DataFrame(np.round(at["daal"].values, 3), index=[f"F:{c}" for c in a["constructs"]], columns=a["constructs"])
    st.dataframe(daal)
    st.download_button("Download loadings (CSV)", table.to_csv(index=False), file_name="loadings.csv", mime="text/csv")

    if "construct_score" in ds:
        st.subheader(f"Log-probability probe at step {step}")
        scores = pd.DataFrame({"construct": a["constructs"], "keyed mean score": np.round(at["construct_score"].values, 3)})
        st.dataframe(scores, hide_index=True)
        st.caption("**What:** for each item, the log-probability of each response option's words after the item; the "
                   "item's expected score sum_o score_o softmax_o(log p); per construct the mean keyed score (reverse-keyed "
                   "items scored min + max - s). **Read it:** the model's own default answer, not a person's trait.")


@st.cache_data(show_spinner="Fitting onsets...", max_entries=32)
def construct_onsets_cached(run: str, sig: tuple, layer: int) -> pd.DataFrame:
    import workbench as wb

    return construct_onsets(wb.open_run(run), layer, method="delta")


TEXT_LOADINGS = (
    "**What:** each item's loading on each factor after EFA (minres) of the centred cosine matrix and an oblique "
    "rotation towards the key (factor F:c is aimed at construct c: +key on its items, 0 elsewhere). Below: DAAL, "
    "the mean |loading| of each construct's items per factor; a factor recovers the construct where its DAAL is "
    "largest (at least 0.25), unless another factor claims the same construct. **Read it:** a recovered structure "
    "shows large loadings with the key's sign on the own factor and small ones elsewhere."
)

if runs:
    ui.body(page)
