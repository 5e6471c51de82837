"""Analyses: change points, fits, onsets, lagged correlations and seed reliability, computed by the workbench."""

import numpy as np
import pandas as pd
import streamlit as st

import workbench as wb
from dashboards import choices, data, explain, ui
from dashboards.figures import align_runs, seed_band, series_with_marks, xcorr_bars
from workbench.fits import WALD_CAVEAT
from workbench.formatting import fmt_ci

FITS = {"power law": "fit_power_law", "exponential": "fit_exponential", "logistic": "fit_logistic"}

st.title("Analyses")
st.caption("Findings with uncertainty, from the workbench's analyses. Pick a trajectory; every table downloads as "
           "CSV and every chart as HTML.")
runs = ui.run_choice(multiple=True)


def workbench_fn(name: str):
    """The workbench function `name`, or None after saying that this checkout's workbench lacks it."""
    fn = getattr(wb, name, None)
    if fn is None:
        st.info(f"The installed workbench has no `{name}` yet; update the checkout to see this analysis.")
    return fn


def table_out(table: pd.DataFrame, name: str) -> None:
    st.dataframe(table, hide_index=True)
    st.download_button("Download table (CSV)", table.to_csv(index=False), file_name=f"{name}.csv", mime="text/csv",
                       key=f"csv_{name}")


def run_analysis(label: str, fn, *args, **kwargs):
    """Call a workbench analysis (cached); its WorkbenchError (too few records, no convergence) is shown, not raised."""
    try:
        return data.workbench_call(fn.__name__, *args, **kwargs)
    except ValueError as err:  # WorkbenchError subclasses ValueError
        st.warning(f"{label}: {err}")
        return None


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    n_layers, n_heads = data.head_shape(run, sig)
    top_layer, top_head = data.strongest_head(run, sig)  # start on the head with the highest induction score
    c1, c2 = st.columns(2)
    ui.valid_choice("an_layer", list(range(n_layers)))
    ui.valid_choice("an_head", list(range(n_heads)))
    layer = c1.number_input("Layer", 0, n_layers - 1, top_layer, key="an_layer")
    head = c2.number_input("Head", 0, n_heads - 1, top_head, key="an_head")
    series = data.run_trajectories(run, sig, layer, head)
    if not ui.need(series, "recorded trajectories (loss, head_scores, attn_entropy)"):
        return
    names = sorted(series)
    default = next((n for n in names if "induction" in n), names[0])
    ui.valid_choice("an_series", names)
    name = st.selectbox("Trajectory", names, index=names.index(default), key="an_series")
    s = series[name].dropna()
    steps, y = s.index.to_numpy(float), s.to_numpy(float)
    # The onset only: this page's own change points are drawn on its chart, the loss's would look the same.
    events = [e for e in ui.run_events(run, sig) if e["kind"] == "onset"]

    st.subheader("Change points")
    if fn := workbench_fn("change_points"):
        model = st.radio("Segments differ in", ["mean", "linear"], horizontal=True, key="an_cp_model")
        cps = run_analysis("Change points", fn, steps, y, model=model)
        if cps is not None:
            fig = series_with_marks(steps, y, f"Change points of {name}", name, list(cps.get("step", [])), events=events)
            ui.chart(fig, "an_changepoints", [fn, series_with_marks], name="changepoints", download=True)
            table_out(cps, "change_points")

    st.subheader("Curve fit")
    # A logistic for bounded scores (an S-shaped rise a power law draws flat); the default follows the trajectory.
    fit_key = f"an_fit_{name}"
    kind = st.radio("Model", list(FITS), index=list(FITS).index(choices.default_fit(name, y)), horizontal=True,
                    key=fit_key)
    if fn := workbench_fn(FITS[kind]):
        keep = steps > 0 if kind == "power law" else np.ones(len(steps), bool)  # t^-b is undefined at step 0
        fit = run_analysis(f"The {kind} fit", fn, steps[keep], y[keep])
        if fit is not None:
            st.markdown(f"`{fit.formula}`")
            fig = series_with_marks(steps[keep], y[keep], f"{kind} fit to {name}", name, fitted=fit.predict(steps[keep]),
                                    fit_name=kind)
            ui.chart(fig, "an_fit", [fn, series_with_marks], name="fit", download=True)
            st.markdown(f"R^2 = {fit.r2:.3f}, AIC = {fit.aic:.1f}")
            if fit.flagged:
                st.warning(f"Do not report this fit's parameters bare: {fit.describe_flags()}. Try another model.")
            table_out(fit.table(), f"fit_{kind.replace(' ', '_')}")
            st.caption(WALD_CAVEAT)

    if "induction" in name and (fn := workbench_fn("onset_with_ci")):
        st.subheader("Onset of the rise, with a confidence interval")
        # The delta method is one fit (milliseconds); the bootstrap is 200 refits (seconds), so it waits to be asked.
        method = st.radio("Interval", ["delta", "bootstrap"], horizontal=True, key="an_onset_method",
                          format_func={"delta": "delta method (fast; assumes independent records)",
                                       "bootstrap": "moving-block bootstrap (200 refits; keeps autocorrelation)"}.get)
        onset = run_analysis("Onset", fn, steps, y, method=method)
        if onset is not None:
            st.markdown(f"Logistic onset (t_mid - 2w, 12% of the fitted rise): step **{fmt_ci(onset.onset, *onset.onset_ci)}**; "
                        f"midpoint: step {fmt_ci(onset.midpoint, *onset.midpoint_ci)} ({onset.level:.0%} CI: how "
                        "precisely this run's records pin down this run's onset, not the spread between seeds).")
            table_out(pd.DataFrame([onset.as_dict()]), "onset")
            st.caption(explain.text("an_onset"))

    st.subheader("Lagged correlation")
    other = st.selectbox("with", [n for n in names if n != name] or names, key="an_other")
    if fn := workbench_fn("lagged_xcorr"):
        pair = align_runs({"x": series[name], "y": series[other]})
        max_lag = int(min(10, max(1, len(pair) // 4)))
        xc = run_analysis("Lagged correlation", fn, pair["x"].to_numpy(), pair["y"].to_numpy(), max_lag=max_lag)
        if xc is not None:
            fig = xcorr_bars(xc, f"{name} (x) vs {other} (y), first differences", xc.attrs.get("bound"),
                             xc.attrs.get("n_lags"))
            ui.chart(fig, "an_xcorr", [fn, xcorr_bars], name="xcorr", download=True)
            table_out(xc, "lagged_correlation")

    if len(runs) < 2:
        st.subheader("Reliability across seeds")
        st.info("Pick two or more runs (seeds) in the sidebar to see the spread between them.")
        return
    seeds = ui.comparison_warning(runs)
    band_kind = "seeds" if seeds else "runs"
    st.subheader("Reliability across seeds" if seeds else "Spread across runs (not seeds: see the warning)")
    by_run = {f"{r.parent.name}/{r.name}": data.run_trajectories(str(r), data.signature(r), layer, head).get(name)
              for r in runs}
    table = align_runs({k: v for k, v in by_run.items() if v is not None})
    if ui.need(table, f"{name} shared by the chosen runs"):
        ui.chart(seed_band(table, f"{name} across {band_kind}", name, kind=band_kind), "an_seeds", seed_band, name="seeds",
                 download=True)
        table_out(table.reset_index(names="step").assign(sd=np.std(table.to_numpy(), axis=1, ddof=1)), "seeds")


if runs:
    ui.body(page)
