"""A self-contained HTML report of one or more runs: Plotly figures, tables, and each method's formula and citation."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.offline import get_plotlyjs

from workbench.cka import cka_to_final, resid_by_layer
from workbench.clustering import cluster_trajectories
from workbench.crosscorr import lagged_xcorr
from workbench.errors import WorkbenchError
from workbench.findings import Findings, find, head_scores, loss_trajectory
from workbench.heads import trajectory_summary
from workbench.reliability import head_table_across_seeds, icc, seed_bands, split_half
from workbench.run import RunData
from workbench.spectral import spectra_over_checkpoints

log = logging.getLogger(__name__)

METHODS = [
    ("Power law with offset", "L(t) = c + a t^(-b), and shifted: c + a (t + t0)^(-b); nonlinear least squares, "
     "SE = sqrt(diag(s^2 (J^T J)^-1))",
     "Kaplan et al. 2020; Hoffmann et al. 2022"),
    ("Exponential", "L(t) = c + a exp(-t / tau)", "compare with the power law by AIC = n ln(RSS/n) + 2(p+1)"),
    ("Plateaus", "records where |dL/dt| (Savitzky-Golay) x span / range < 0.05", "Savitzky & Golay 1964"),
    ("Change points", "binary segmentation, split kept if RSS falls by more than p sigma^2 ln n (BIC)",
     "Scott & Knott 1974; Killick et al. 2012"),
    ("Head roles", "induction >= 0.3, previous-token >= 0.4, first-token >= 0.5, normalised entropy >= 0.8; "
     "emergence = first of 3 consecutive records in the role", "Olsson et al. 2022; Xiao et al. 2023"),
    ("Induction onset", "y(t) = lo + (hi - lo) / (1 + exp(-(t - t_mid)/w)); onset = t_mid - 2w (12% of rise); "
     "CI: moving-block residual bootstrap (percentile) or delta method", "Olsson et al. 2022; Kuensch 1989"),
    ("Phase change", "sharp rise (4w <= 35% of training) and ICL score (loss at 0.9T minus 0.1T) falls across it",
     "Olsson et al. 2022"),
    ("Trajectory summary", "onset = first step 10% of the way from initial to final; half-life = 50% of the way", ""),
    ("Clustering", "z-scored trajectories, Euclidean (= correlation) distance, Ward linkage", "Ward 1963"),
    ("Lead-lag", "r_k = corr(dx_t, dy_{t+k}) on first differences; 95% band 1.96/sqrt(n)", "Box & Jenkins 1976"),
    ("Weight spectra", "alpha = 1 + n / sum ln(lambda_i / lambda_min) on the tail of eig(W^T W / N), tail start by "
     "minimum KS distance; effective rank exp(-sum p ln p), p = s / sum s",
     "Clauset et al. 2009; Martin & Mahoney 2021; Roy & Vetterli 2007"),
    ("Linear CKA", "||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred activations", "Kornblith et al. 2019"),
    ("Seed bands", "mean +- t_{0.975,k-1} sd / sqrt(k) over k seeds", "seeds as independent replications"),
    ("ICC", "ICC(2,1) = (MSR-MSE)/(MSR+(k-1)MSE+k(MSC-MSE)/n); ICC(3,1) = (MSR-MSE)/(MSR+(k-1)MSE); "
     "heads matched across seeds within each layer (Hungarian algorithm on trajectories)",
     "Shrout & Fleiss 1979; McGraw & Wong 1996; Kuhn 1955"),
    ("Split-half", "r between odd and even probe items across heads; r_full = 2r / (1 + r)", "Spearman 1910; Brown 1910"),
]


def _table(df: pd.DataFrame, digits: int = 4) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.{digits}g}", border=0, na_rep="")


def _fig(fig: go.Figure, title: str, xlab: str = "step", ylab: str = "") -> str:
    fig.update_layout(title=title, xaxis_title=xlab, yaxis_title=ylab, template="plotly_white", height=380,
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig.to_html(full_html=False, include_plotlyjs=False)


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _loss_section(f: Findings) -> str:
    if f.loss is None:
        return _note("no loss recorded")
    fig = go.Figure(go.Scatter(x=f.steps, y=f.loss, mode="lines", name=f.loss_name))
    for fit in f.fits:
        t = f.steps[f.steps > 0]
        fig.add_scatter(x=t, y=fit.predict(t), mode="lines", line=dict(dash="dash"), name=f"{fit.name} fit")
    out = [_fig(fig, "Loss and fitted curves", ylab="loss (nats)")]
    if f.fits:
        out.append(_table(pd.concat([fit.table() for fit in f.fits])))
        out.append("<p>AIC: " + ", ".join(f"{fit.name} {fit.aic:.1f}" for fit in f.fits) + " (lower is better).</p>")
    if f.plateaus is not None:
        out.append("<h3>Plateaus</h3>" + (_table(f.plateaus) if len(f.plateaus) else "<p>none found</p>"))
    return "\n".join(out)


def _heads_section(run: RunData, f: Findings) -> str:
    if f.roles is None:
        return _note("head_scores not recorded: train with --record to get head roles and the induction onset")
    scores = head_scores(run)
    out = []
    ind = scores["induction"]
    fig = go.Figure()
    for layer in ind["layer"].values:
        for head in ind["head_index"].values:
            fig.add_scatter(x=ind["step"].values, y=ind.sel(layer=layer, head_index=head).values, mode="lines",
                            name=f"L{layer}H{head}")
    pc = f.phase_change
    if pc is not None and pc.onset is not None:
        o = pc.onset
        fig.add_vrect(x0=o.onset_ci[0], x1=o.onset_ci[1], fillcolor="orange", opacity=0.25, line_width=0)
        fig.add_vline(x=o.onset, line_dash="dot", annotation_text=f"onset {o.onset:.0f}")
    out.append(_fig(fig, "Induction (prefix-matching) score per head", ylab="probability"))
    if pc is not None:
        verdict = "detected" if pc.detected else "not detected"
        out.append(f"<p><b>Induction phase change {verdict}</b>: {html.escape(pc.reason)}.</p>")
        if pc.onset is not None:
            o = pc.onset
            out.append(_table(pd.DataFrame([{
                "layer": pc.layer, "head": pc.head_index, "score before": o.lo, "score after": o.hi,
                "onset step": o.onset, "onset CI low": o.onset_ci[0], "onset CI high": o.onset_ci[1],
                "midpoint step": o.midpoint, "midpoint CI low": o.midpoint_ci[0], "midpoint CI high": o.midpoint_ci[1],
                "CI": f"{o.level:.0%} {o.method}", "ICL change (nats)": pc.icl_change,
                "loss rate ratio": pc.loss_rate_ratio}]), digits=5))
    out.append("<h3>Head roles and when they emerge</h3>" + _table(f.emergence))
    return "\n".join(out)


def _cka_section(run: RunData) -> str:
    if "act_sample" not in run.groups:
        return _note("act_sample not recorded: CKA needs stored activations (the act_sample recorder)")
    try:
        c = cka_to_final(resid_by_layer(run.variable("act_sample", "resid")).load())
    except WorkbenchError as e:
        return _note(str(e))
    fig = go.Figure([go.Scatter(x=c["step"].values, y=c.sel(layer=lay).values, mode="lines", name=f"layer {lay}")
                     for lay in c["layer"].values])
    return _fig(fig, "Linear CKA of the residual stream with the final record", ylab="CKA")


def _dynamics_section(run: RunData) -> str:
    """Per-head growth parameters, clusters of entropy trajectories, and whether entropy falls before the loss."""
    out = []
    if "head_scores" in run.groups:
        summ = trajectory_summary(run.variable("head_scores", "induction"))
        out.append("<p>Induction score per head: growth parameters (largest change first).</p>"
                   + _table(summ.sort_values("change", ascending=False).head(8)))
    if "attn_entropy" not in run.groups:
        return "\n".join(out) + _note("attn_entropy not recorded: entropy clusters and lead-lag need it")
    ent = run.variable("attn_entropy", "entropy").load()
    try:
        cl = cluster_trajectories(ent, n_clusters=3)
        out.append("<p>Heads clustered by the shape of their entropy trajectory (z-scored, Ward linkage):</p>"
                   + _table(cl.groupby("cluster").apply(lambda g: ", ".join(
                       f"L{r.layer}H{r.head_index}" for r in g.itertuples()), include_groups=False)
                       .rename("heads").reset_index()))
        drop = (ent.isel(step=0) - ent.isel(step=-1))
        li, hi = np.unravel_index(int(np.argmax(drop.values)), drop.shape)
        _, ls, lv = loss_trajectory(run)
        loss = xr.DataArray(lv, dims="step", coords={"step": ls}).reindex(step=ent["step"]).values
        ok = np.isfinite(loss)  # the training loss does not exist at step 0
        head = ent.isel(layer=li, head_index=hi).values[ok]
        loss = loss[ok]
        if len(loss) >= 8:
            xc = lagged_xcorr(head, loss, max_lag=min(5, len(head) // 4), steps=ent["step"].values)
            out.append(f"<p>Lead-lag of the entropy of L{li}H{hi} (largest entropy drop) and the loss, on first "
                       f"differences: peak r = {xc.attrs['peak_r']:.2f} at lag {xc.attrs['peak_lag']} records "
                       f"(positive: entropy changes first; |r| beyond {xc.attrs['bound']:.2f} is outside the 95% "
                       "band of no correlation).</p>")
    except WorkbenchError as e:
        out.append(_note(str(e)))
    return "\n".join(out)


def _spectral_section(run: RunData, max_checkpoints: int = 6) -> str:
    """Heavy-tail exponent and effective rank of the attention matrices at up to ``max_checkpoints`` checkpoints."""
    cps = run.checkpoints
    if not cps:
        return _note("no checkpoints: weight spectra need RUN_DIR/checkpoints/step_*.pt")
    pick = [cps[int(i)] for i in np.unique(np.linspace(0, len(cps) - 1, min(max_checkpoints, len(cps))).round())]
    try:
        df = spectra_over_checkpoints(pick, include=r".*(attn\.qkv|attn\.out|mlp\.fc_in|mlp\.fc_out)\.weight$")
    except (WorkbenchError, ImportError, RuntimeError) as e:
        return _note(f"weight spectra unavailable: {e}")
    fig = go.Figure([go.Scatter(x=g["step"], y=g["alpha"], mode="lines+markers", name=m)
                     for m, g in df.groupby("matrix")])
    table = df[df["step"] == df["step"].max()][["matrix", "sigma_max", "stable_rank", "effective_rank", "alpha",
                                                 "alpha_se", "n_tail"]]
    return _fig(fig, "Heavy-tail exponent alpha of weight matrices", ylab="alpha") + _table(table)


def _reliability_section(runs: list[RunData]) -> str:
    if len(runs) < 2:
        return _note("one run: seed bands and ICCs need runs over several seeds (python -m seedling.train --seeds 3)")
    out = []
    try:
        losses = []
        for r in runs:
            _, s, v = loss_trajectory(r)
            losses.append(xr.DataArray(v, dims="step", coords={"step": s}))
        b = seed_bands(losses)
        fig = go.Figure([
            go.Scatter(x=b["step"], y=b["ci_high"], line=dict(width=0), showlegend=False),
            go.Scatter(x=b["step"], y=b["ci_low"], fill="tonexty", line=dict(width=0), name="95% CI of the mean"),
            go.Scatter(x=b["step"], y=b["mean"], name=f"mean of {len(runs)} seeds")])
        out.append(_fig(fig, "Loss across seeds", ylab="loss (nats)"))
    except WorkbenchError as e:
        out.append(_note(str(e)))
    try:
        per_seed = [r.variable("head_scores", "induction") for r in runs]
        out.append("<h3>Agreement of final per-head induction scores across seeds</h3>"
                   "<p>Targets: heads, matched to seed 0's heads within each layer by their whole trajectory "
                   "(Hungarian algorithm); raters: seeds.</p>" + _table(icc(head_table_across_seeds(per_seed))))
    except WorkbenchError as e:
        out.append(_note(str(e)))
    return "\n".join(out)


def _split_half_section(run: RunData) -> str:
    if "head_scores" not in run.groups:
        return ""
    ds = run.group("head_scores")
    items = [v for v in ds.data_vars if str(v).endswith("_by_item")]
    if not items:
        return _note("no per-item head scores recorded: split-half reliability needs <score>_by_item")
    rows = []
    for v in items:
        sh = split_half(ds[v])
        last = sh.iloc[-1]
        rows.append({"metric": v, "r_half (last record)": last["r_half"], "Spearman-Brown (last record)": last["r_full"],
                     "median Spearman-Brown over records": float(np.nanmedian(sh["r_full"])),
                     "heads": int(last["n_targets"]), "probe items": int(last["n_items"])})
    return _table(pd.DataFrame(rows))


def build_report(runs: list[RunData], bootstrap: bool = True, spectra: bool = True) -> str:
    """The report as one HTML string (plotly.js inlined: opens offline). ``spectra`` reads checkpoints (torch)."""
    if not runs:
        raise WorkbenchError("the report needs at least one run directory")
    body = []
    for run in runs:
        f = find(run, method="bootstrap" if bootstrap else "delta")
        body.append(f"<h2>Run {html.escape(run.name)}</h2><p><code>{html.escape(str(run.path))}</code></p>")
        body.append("<h3>Loss</h3>" + _loss_section(f))
        body.append("<h3>Heads (algorithmic level)</h3>" + _heads_section(run, f))
        body.append("<h3>Head dynamics</h3>" + _dynamics_section(run))
        body.append("<h3>Representations (implementation level)</h3>" + _cka_section(run))
        if spectra:
            body.append("<h3>Weight spectra (implementation level)</h3>" + _spectral_section(run))
        body.append("<h3>Split-half reliability of probe metrics</h3>" + _split_half_section(run))
        body += [_note(n) for n in f.notes]
    body.append("<h2>Reliability across seeds</h2>" + _reliability_section(runs))
    body.append("<h2>Methods</h2>" + "".join(
        f'<div class="method"><b>{html.escape(n)}</b>: <code>{html.escape(fm)}</code>. {html.escape(c)}.</div>'
        for n, fm, c in METHODS))
    template = Template((Path(__file__).with_name("report_template.html")).read_text())
    return template.substitute(title="Seedling workbench report", plotlyjs=get_plotlyjs(), n_runs=len(runs),
                               body="\n".join(body))


def write_report(runs: list[RunData], out: str | Path, bootstrap: bool = True, spectra: bool = True) -> Path:
    """Build the report and write it to ``out`` (written to a temporary file first, so a failure loses nothing)."""
    out = Path(out)
    text = build_report(runs, bootstrap=bootstrap, spectra=spectra)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
