"""Overview (computational level): how well the model predicts text, over steps and tokens."""

import streamlit as st

from dashboards import data, ui
from dashboards.figures import training_curves

st.title("Overview")
st.caption("Computational level: what the model achieves. Loss, perplexity and learning rate over training.")
runs = ui.run_choice()


def page() -> None:
    run = str(runs[0])
    sig = data.signature(runs[0])
    metrics = data.load_metrics(run, sig)
    if ui.need(metrics, "training metrics (metrics.jsonl)"):
        x = st.radio("Horizontal axis", ["step", "tokens"], horizontal=True, key="overview_x")
        log_y = st.toggle("Logarithmic vertical axis", key="overview_log")
        left, right = st.columns(2)
        with left:
            ui.chart(training_curves(metrics, "loss", x, log_y), "loss", training_curves, name="loss", download=True)
        with right:
            ui.chart(training_curves(metrics, "ppl", x, log_y), "ppl", training_curves, name="ppl")
        ui.chart(training_curves(metrics, "lr", x), "lr", training_curves, name="lr")
    st.subheader("Checkpoints")
    ckpts = data.checkpoints(run)
    if ui.need(ckpts, "checkpoints"):
        scalar = [c for c in ckpts.columns if ckpts[c].map(lambda v: isinstance(v, (int, float, str, bool))).all()]
        st.dataframe(ckpts[scalar], hide_index=True)  # nested sidecar fields (config, samples) are shown below
        st.subheader("Sample completions at each checkpoint")
        for _, row in ckpts.iterrows():
            samples = row.get("samples", row.get("sample"))
            if isinstance(samples, str):
                samples = [samples]
            if isinstance(samples, list) and samples:
                with st.expander(f"step {row['step']}"):
                    for s in samples:
                        st.text(str(s))
        st.caption("Samples are written into each checkpoint's JSON sidecar; make new ones on the Generate page.")
    with st.expander("Configuration (config.json)"):
        config = data.load_config(run)
        st.json(config) if config else st.info("This run has no config.json.")


if runs:
    ui.body(page)
