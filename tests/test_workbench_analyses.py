"""Known-answer tests for the workbench's pure analyses (synthetic arrays with planted structure)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import workbench as wb

RNG = np.random.default_rng(0)


def test_smoothing_and_rates():
    t = np.arange(100.0)
    y = 3 * t + RNG.normal(0, 0.2, 100)
    assert np.allclose(wb.rate_of_change(t, y, smooth_window=11)[10:-10], 3, atol=0.2)
    assert np.abs(wb.savgol(y, 11) - 3 * t).std() < np.abs(y - 3 * t).std()
    const = wb.ema(np.full(20, 5.0), alpha=0.2)
    assert np.allclose(const, 5.0)  # debiased EMA of a constant is that constant from the first record
    with pytest.raises(wb.WorkbenchError, match="alpha"):
        wb.ema(const, alpha=0)


def test_change_point_of_a_step_function():
    t = np.arange(0, 1000, 10)
    y = np.where(t < 420, 1.0, 3.0) + RNG.normal(0, 0.1, len(t))
    cp = wb.change_points(t, y)
    assert list(cp["step"]) == [420]
    assert cp["before"].iloc[0] == pytest.approx(1, abs=0.1) and cp["after"].iloc[0] == pytest.approx(3, abs=0.1)
    assert wb.change_points(t, RNG.normal(0, 0.1, len(t))).empty  # pure noise: no change point


def test_slope_change_and_plateau():
    t = np.arange(0, 2000, 20.0)
    y = np.where(t < 1000, 10 - 0.005 * t, 5.0) + RNG.normal(0, 0.01, len(t))
    cp = wb.change_points(t, y, model="linear")
    assert abs(cp["step"].iloc[0] - 1000) <= 40
    pl = wb.plateaus(t, y)
    assert len(pl) == 1 and pl["level"].iloc[0] == pytest.approx(5.0, abs=0.05)
    assert 1000 <= pl["start_step"].iloc[0] <= 1200 and pl["end_step"].iloc[0] == t[-1]


def test_power_law_exponent_recovered_with_se():
    t = np.arange(10, 5000, 10.0)
    y = 4.64 + 30 * t**-0.7 + RNG.normal(0, 0.002, len(t))
    fit = wb.fit_power_law(t, y)
    assert fit.params["b"] == pytest.approx(0.7, abs=0.03)
    assert fit.params["c"] == pytest.approx(4.64, abs=0.02)
    lo, hi = fit.ci["b"]
    assert lo < 0.7 < hi and fit.se["b"] > 0
    assert fit.aic < wb.fit_exponential(t, y).aic  # the true model fits better
    assert set(fit.table()["parameter"]) == {"a", "b", "c"}


def test_exponential_time_constant():
    t = np.arange(0, 1000, 5.0)
    y = 2 + 5 * np.exp(-t / 150) + RNG.normal(0, 0.01, len(t))
    assert wb.fit_exponential(t, y).params["tau"] == pytest.approx(150, rel=0.03)


def test_lagged_xcorr_finds_the_leader():
    x = np.cumsum(RNG.normal(size=300))
    y = np.roll(x, 5) + RNG.normal(0, 0.1, 300)  # y follows x by 5 records
    df = wb.lagged_xcorr(x[10:], y[10:], max_lag=10, steps=np.arange(290) * 50)
    assert df.attrs["peak_lag"] == 5 and df.attrs["peak_r"] > 0.8
    assert df.loc[df["lag"] == 5, "lag_steps"].item() == 250


def _logistic_scores(t, t_mid=1500.0, width=100.0, noise=0.02, seed=7):
    rng = np.random.default_rng(seed)  # its own generator: the CI test does not depend on test order
    return 0.05 + 0.7 / (1 + np.exp(-(t - t_mid) / width)) + rng.normal(0, noise, len(t))


@pytest.mark.parametrize("method", ["delta", "bootstrap"])
def test_onset_with_ci_covers_the_planted_midpoint(method):
    t = np.arange(0, 3000, 25.0)
    est = wb.onset_with_ci(t, _logistic_scores(t), method=method, n_boot=100)
    assert est.midpoint_ci[0] < 1500 < est.midpoint_ci[1]
    assert est.onset_ci[0] <= est.onset <= est.onset_ci[1] and est.onset == pytest.approx(1300, abs=30)  # t_mid - 2w
    assert est.midpoint_ci[1] - est.midpoint_ci[0] < 100
    with pytest.raises(wb.WorkbenchError, match="rises by only"):
        wb.onset_with_ci(t, RNG.normal(0.1, 0.01, len(t)))


def _head_scores(t):
    """3 layers x 2 heads: (0,0) previous-token, (1,1) induction from step 1500, (2,0) sink, others weak."""
    shape = (len(t), 3, 2)
    prev, first, ind = (np.full(shape, 0.05) for _ in range(3))
    prev[:, 0, 0] = 0.1 + 0.6 * (t > 500)
    ind[:, 1, 1] = _logistic_scores(t, noise=0.0)
    first[:, 2, 0] = 0.8
    coords = {"step": t, "layer": [0, 1, 2], "head_index": [0, 1]}
    dims = ("step", "layer", "head_index")
    return xr.Dataset({k: (dims, v) for k, v in
                       {"previous_token": prev, "first_token": first, "induction": ind}.items()}, coords=coords)


def test_head_roles_and_emergence():
    t = np.arange(0, 3000, 50)
    roles = wb.classify_heads(_head_scores(t))
    assert roles.sel(layer=1, head_index=1).values[-1] == "induction"
    em = wb.role_emergence(roles).set_index(["layer", "head_index", "role"])
    assert em.loc[(0, 0, "previous_token"), "emergence_step"] == 550
    assert 1300 <= em.loc[(1, 1, "induction"), "emergence_step"] <= 1500
    assert em.loc[(2, 0, "attention_sink"), "emergence_step"] == 0
    assert (1, 0, "induction") not in em.index


def test_trajectory_summary_half_life():
    t = np.arange(0, 3000, 50)
    summ = wb.trajectory_summary(_head_scores(t)["induction"]).set_index(["layer", "head_index"])
    assert summ.loc[(1, 1), "step_50pct"] == pytest.approx(1500, abs=60)
    assert summ.loc[(1, 1), "step_10pct"] < summ.loc[(1, 1), "step_50pct"]
    assert summ.loc[(1, 1), "final"] == pytest.approx(0.75, abs=0.01)
    noisy = _head_scores(t)["induction"].copy()
    noisy[:, 0, 1] = RNG.normal(0.05, 0.01, len(t))  # no change, only noise: no onset
    assert pd.isna(wb.trajectory_summary(noisy).set_index(["layer", "head_index"]).loc[(0, 1), "step_10pct"])


def test_induction_phase_change_detected_with_icl_drop():
    t = np.arange(0, 3000, 25.0)
    scores = _head_scores(t)["induction"]
    icl = np.where(t < 1500, -0.05, -0.6) + RNG.normal(0, 0.02, len(t))
    loss = 3 + 2 * np.exp(-t / 500) - 0.3 / (1 + np.exp(-(t - 1500) / 100))
    pc = wb.induction_phase_change(t, scores, loss=loss, icl=icl, method="delta")
    assert pc.detected and (pc.layer, pc.head_index) == (1, 1)
    assert pc.onset.midpoint_ci[0] < 1500 < pc.onset.midpoint_ci[1]
    assert pc.icl_change < -0.4 and pc.loss_rate_ratio > 1
    flat = wb.induction_phase_change(t, RNG.normal(0.05, 0.01, len(t)), method="delta")
    assert not flat.detected and "rises by only" in flat.reason


def test_cka_identity_rotation_scale_and_matrix():
    X = RNG.normal(size=(200, 16))
    Q, _ = np.linalg.qr(RNG.normal(size=(16, 16)))
    assert wb.linear_cka(X, X) == pytest.approx(1)
    assert wb.linear_cka(X, X @ Q) == pytest.approx(1)
    assert wb.linear_cka(X, 2.5 * X + 1) == pytest.approx(1)
    assert wb.linear_cka(X, RNG.normal(size=(200, 16))) < 0.2
    acts = xr.DataArray(np.stack([X.reshape(10, 20, 16), (X @ Q).reshape(10, 20, 16),
                                  RNG.normal(size=(10, 20, 16))])[None].repeat(2, 0).transpose(1, 0, 2, 3, 4),
                        dims=("step", "layer", "batch", "pos", "d_model"),
                        coords={"step": [0, 100, 200], "layer": [0, 1]})
    M = wb.cka_matrix(acts)
    assert M.dims == ("layer", "step", "step_b")
    assert float(M.sel(layer=1, step=0, step_b=100)) == pytest.approx(1)
    assert float(M.sel(layer=0, step=0, step_b=200)) == pytest.approx(wb.linear_cka(X, acts.values[2, 0].reshape(200, 16)))
    assert wb.cka_between(acts, {"step": 0, "layer": 0}, {"step": 100, "layer": 1}) == pytest.approx(1)
    final = wb.cka_to_final(acts)
    assert final.dims == ("layer", "step") and float(final.sel(layer=0, step=200)) == pytest.approx(1)


def test_spectral_statistics():
    W = np.diag([4.0, 2.0, 2.0, 0.0])
    s = wb.singular_values(W)
    assert wb.stable_rank(s) == pytest.approx(24 / 16)
    assert wb.effective_rank(np.ones(8)) == pytest.approx(8)
    x = (1 - RNG.uniform(size=4000)) ** (-1 / 1.5)  # Pareto with pdf exponent alpha = 2.5, xmin = 1
    fit = wb.powerlaw_alpha(np.concatenate([RNG.uniform(0.1, 0.9, 500), x]))
    assert fit["alpha"] == pytest.approx(2.5, abs=0.15) and fit["xmin"] == pytest.approx(1, abs=0.3)
    summ = wb.spectral_summary(RNG.normal(size=(128, 64)))
    assert summ["sigma_max"] > 0 and 1 < summ["stable_rank"] < 64 and summ["alpha"] > 1


def test_clustering_separates_shapes():
    t = np.arange(50)
    rising = [1 / (1 + np.exp(-(t - 25))) * a for a in (1, 2, 3)]
    falling = [np.exp(-t / 10) * a + b for a, b in ((1, 0), (2, 1), (5, 3))]
    vals = xr.DataArray(np.stack(rising + falling, 1).reshape(50, 2, 3), dims=("step", "layer", "head_index"),
                        coords={"step": t * 10, "layer": [0, 1], "head_index": [0, 1, 2]})
    cl = wb.cluster_trajectories(vals, n_clusters=2)
    assert cl.loc[cl.layer == 0, "cluster"].nunique() == 1 and cl.loc[cl.layer == 1, "cluster"].nunique() == 1
    assert cl["cluster"].nunique() == 2 and cl.attrs["linkage"].shape == (5, 4)


def test_icc_matches_shrout_fleiss_table():
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(2,1) = .29, ICC(3,1) = .71
    Y = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    out = wb.icc(Y).set_index("type")
    assert out.loc["ICC(2,1) absolute agreement", "icc"] == pytest.approx(0.290, abs=0.005)
    assert out.loc["ICC(3,1) consistency", "icc"] == pytest.approx(0.715, abs=0.005)
    # interval values as pingouin / R psych::ICC report them for this table
    assert out.loc["ICC(2,1) absolute agreement", "ci_low"] == pytest.approx(0.019, abs=0.01)
    assert out.loc["ICC(2,1) absolute agreement", "ci_high"] == pytest.approx(0.761, abs=0.01)
    assert out.loc["ICC(3,1) consistency", "ci_low"] == pytest.approx(0.342, abs=0.01)
    assert out.loc["ICC(3,1) consistency", "ci_high"] == pytest.approx(0.946, abs=0.01)


def test_head_matching_across_seeds_and_bands():
    t = np.arange(0, 1000, 50)
    base = RNG.uniform(0, 1, (3, 4))
    trajs = [base * (t[:, None, None] / 1000) + RNG.normal(0, 0.01, (len(t), 3, 4)) for _ in range(3)]
    perm = [0, 2, 3, 1]
    seeds = [xr.DataArray(tr[:, :, perm] if i == 1 else tr, dims=("step", "layer", "head_index"),
                          coords={"step": t}) for i, tr in enumerate(trajs)]
    assert list(wb.match_heads(trajs[0][:, 0].T, trajs[0][:, 0, perm].T)) == [0, 3, 1, 2]
    matched = wb.icc(wb.head_table_across_seeds(seeds)).iloc[0]
    naive = wb.icc(np.stack([s.values[-1].ravel() for s in seeds], 1)).iloc[0]
    assert matched["icc"] > 0.95 > naive["icc"]
    assert wb.icc(wb.head_table_across_seeds(seeds, match="sorted"))["icc"].iloc[0] > 0.95
    bands = wb.seed_bands([s.sel(layer=0, head_index=0) for s in seeds])
    assert (bands["ci_low"] <= bands["mean"]).all() and bands["n_seeds"].iloc[0] == 3
    with pytest.raises(wb.TooFewRecordsError, match="--seeds"):
        wb.seed_bands(seeds[:1])


def test_split_half_spearman_brown():
    true = RNG.uniform(0, 1, (4, 2, 4))  # (step, layer, head)
    items = true[:, None] + RNG.normal(0, 0.05, (4, 16, 2, 4))
    da = xr.DataArray(items, dims=("step", "batch", "layer", "head_index"), coords={"step": [0, 1, 2, 3]})
    sh = wb.split_half(da)
    assert (sh["r_half"] > 0.9).all()
    r = sh["r_half"].iloc[0]
    assert sh["r_full"].iloc[0] == pytest.approx(2 * r / (1 + r))
    noise = xr.DataArray(RNG.normal(size=(4, 16, 8, 16)), dims=da.dims, coords=da.coords)  # 128 heads, no signal
    assert wb.split_half(noise)["r_full"].abs().mean() < 0.35


def test_too_few_records_message():
    with pytest.raises(wb.TooFewRecordsError, match="power-law fit needs at least 5 records"):
        wb.fit_power_law([1, 2, 3], [3, 2, 1])
