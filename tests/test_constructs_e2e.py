"""End to end: the tiny preset on synthetic:constructs recovers the planted five factors, above the negative control.

Trains the real command once per session (tests/conftest.py, CONSTRUCTS_ARGS) and reads its
`constructs` group through the workbench.
"""

import numpy as np
import pytest
from factor_analyzer import FactorAnalyzer
from statsmodels.multivariate.factor_rotation import rotate_factors

import workbench as wb
from recorders.psychometrics import load_item_set
from workbench.cli import main
from workbench.constructs import construct_trajectories, labelled, recovered_step, tidy_loadings, tidy_similarities
from workbench.export import export_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def run(constructs_run_dir):
    return wb.open_run(constructs_run_dir)


def test_recovery_rises_from_the_null_band_to_the_planted_factors(run):
    traj = construct_trajectories(run)
    wide = traj.pivot(index="step", columns="statistic", values="value")
    null = traj.pivot(index="step", columns="statistic", values="null_high")
    first, last = wide.index[0], wide.index[-1]
    # at initialisation the real labels sit inside the shuffled labels' band ...
    assert wide.loc[first, "recovery"] <= null.loc[first, "recovery"] + 0.05
    assert wide.loc[first, "congruence"] <= null.loc[first, "congruence"] + 0.1
    # ... and at the end all five domains are recovered with congruence >= 0.9, far above the band
    assert wide.loc[last, "domains_recovered"] == 5 and wide.loc[last, "congruence"] >= 0.9
    assert wide.loc[last, "recovery"] > null.loc[last, "recovery"] + 0.3
    assert recovered_step(traj, 5) is not None


def test_the_negative_control_stays_at_chance(run):
    traj = construct_trajectories(run)
    rec = traj[traj["statistic"] == "recovery"]
    assert rec["null_high"].max() < 0.2 and rec["scrambled"].abs().max() < 0.2
    hit = traj[traj["statistic"] == "hit_rate"]
    assert hit["null_median"].max() < 0.35  # chance: 9/49 = 0.18
    cong = traj[traj["statistic"] == "congruence"]
    assert cong["null_median"].max() < 0.7 and cong["scrambled"].max() < 0.7
    dom = traj[traj["statistic"] == "domains_recovered"]
    assert dom["null_median"].max() <= 3 and dom["scrambled"].max() <= 2  # DAAL counts are coarse: docs/analyses.md


def test_loadings_agree_with_the_libraries_on_the_stored_matrix(run):
    ds = labelled(run)
    items = load_item_set("planted")
    assert list(ds["item"].values) == list(items.ids)
    S = ds["centred_cosine"].isel(step=-1, layer=-1).values.astype(np.float64)
    fa = FactorAnalyzer(n_factors=5, rotation=None, method="minres", is_corr_matrix=True, use_smc=False).fit(S)
    stored = ds["unrotated_loading"].isel(step=-1, layer=-1).values
    np.testing.assert_allclose(stored, fa.loadings_, atol=2e-3)  # float32 storage of the matrix and loadings
    _, T0 = rotate_factors(fa.loadings_, "target", items.target(), "orthogonal", algorithm="analytic")
    L, _ = rotate_factors(fa.loadings_, "target", items.target(), "oblique", T=T0)
    np.testing.assert_allclose(ds["loading"].isel(step=-1, layer=-1).values, L, atol=2e-3)


def test_item_embeddings_are_stored_so_the_analysis_can_be_redone(run):
    from recorders.psychometrics import centred_cosine

    ds = labelled(run)
    X = ds["item_embedding"].isel(step=-1, layer=-1).values.astype(np.float64)
    np.testing.assert_allclose(centred_cosine(X), ds["centred_cosine"].isel(step=-1, layer=-1).values, atol=1e-5)


def test_tidy_tables_and_the_constructs_command(run, tmp_path, capsys):
    lo = tidy_loadings(run)
    assert set(lo.columns) == {"run", "step", "layer", "item", "construct", "key", "factor", "loading"}
    assert len(lo) == run.group("constructs").sizes["step"] * 2 * 50 * 5
    sim = tidy_similarities(run)
    assert len(sim) == run.group("constructs").sizes["step"] * 2 * 50 * 49 // 2
    paths = export_run(run, "csv", tmp_path)
    assert {p.name for p in paths} >= {"constructs.csv", "constructs_loadings.csv", "constructs_similarity.csv"}
    assert main(["constructs", str(run.path), "--fast"]) == 0
    out = capsys.readouterr().out
    assert "5/5" in out and "recovered" in out


def test_constructs_page_draws_trajectories_similarity_and_loadings(run, monkeypatch):
    import sys
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["dashboards/app.py", "--runs", str(run.path)])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py"), default_timeout=120)
    at.switch_page("app_pages/constructs.py")
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 5  # four trajectories and the similarity matrix
    assert [m.value for m in at.metric] != ["not yet"]  # "Structure recovered from step" holds a step
