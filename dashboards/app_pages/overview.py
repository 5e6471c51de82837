"""Overview (computational level): how well the model predicts text, over steps and tokens."""

import streamlit as st

from dashboards import data, explain, ui
from dashboards.figures import training_curves, training_table
from dashboards.figures.prep import samples_table_rows

st.title("Overview")
st.caption("Computational level: what the model achieves. Loss, perplexity and learning rate over training, and what "
           "it writes at each checkpoint.")
runs = ui.run_choice()


def page() -> None:
    run = str(runs[0])
    sig = data.signature(runs[0])
    metrics = data.load_metrics(run, sig)
    if ui.need(metrics, "training metrics (metrics.jsonl)"):
        x = st.radio("Horizontal axis", ["step", "tokens"], horizontal=True, key="overview_x")
        log_y = st.toggle("Logarithmic vertical axis", key="overview_log")
        # Off at first: finding the onset loads scipy, which this landing page otherwise never waits for.
        marks = st.toggle("Mark the induction onset (with its CI)", key="overview_events",
                          help="the logistic onset of the strongest induction head, as on the other pages")
        events = ui.run_events(run, sig) if marks else []
        left, right = st.columns(2)
        with left:
            ui.chart(training_curves(metrics, "loss", x, log_y, events), "loss", [training_table, training_curves],
                     name="loss", download=True)
        with right:
            ui.chart(training_curves(metrics, "ppl", x, log_y, events), "ppl", training_curves, name="ppl")
        ui.chart(training_curves(metrics, "lr", x), "lr", training_curves, name="lr")
    st.subheader("Checkpoints")
    ckpts = data.checkpoints(run)
    if ui.need(ckpts, "checkpoints"):
        scalar = [c for c in ckpts.columns if ckpts[c].map(lambda v: isinstance(v, (int, float, str, bool))).all()]
        st.dataframe(ckpts[scalar], hide_index=True)  # nested sidecar fields (config) are left out
    samples_table(run, sig)
    config = st.expander("Configuration (config.json)", key="overview_config", on_change="rerun")
    if config.open:  # lazy: sent to the browser only when opened
        with config:
            cfg = data.load_config(run)
            st.json(cfg) if cfg else st.info("This run has no config.json.")


def samples_table(run: str, sig: tuple) -> None:
    """Completions of the same prompts at every checkpoint, written by training into samples.jsonl."""
    st.subheader("Sample completions at each checkpoint")
    samples = data.load_samples(run, sig)
    if samples is None or samples.empty:
        st.info("This run has no sample completions (samples.jsonl): it was trained before they existed or with "
                "`--samples off`. The Generate page makes completions from any checkpoint.")
    else:
        kinds = sorted(samples["decoding"].dropna().unique(), key=lambda k: k != "greedy")
        kind = st.radio("Decoding", kinds, horizontal=True, key="overview_decoding") if len(kinds) > 1 else None
        shown = samples_table_rows(samples, kind)
        st.dataframe(shown, hide_index=True, column_config={
            "step": st.column_config.NumberColumn("step", width="small"),
            "completion": st.column_config.TextColumn("completion", width="large")})
        st.caption(explain.text("samples"))
    st.page_link("app_pages/generate.py", label="Generate completions from any checkpoint, with your own prompt")

if runs:
    ui.body(page)
