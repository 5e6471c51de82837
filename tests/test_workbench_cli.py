"""The workbench command line (report, export, summary) and its tidy export, on planted runs."""

import subprocess
import sys

import pandas as pd
import pytest

import workbench as wb
from tests.workbench_runs import make_run
from workbench.cli import main
from workbench.export import COLUMNS, tidy_group


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("wb") / "run")


def test_summary_reports_roles_and_induction_onset_with_ci(run_dir, capsys):
    assert main(["summary", str(run_dir), "--fast"]) == 0
    out = capsys.readouterr().out
    # The planted truth (recorders.synthetic_plants): induction head (1, 3), midpoint 0.30 x 2000 steps;
    # previous-token head (0, 2), midpoint 500.
    assert "layer 1 head 3: induction from step" in out and "layer 0 head 2: previous_token from step 500" in out
    assert "midpoint step 600 [" in out
    assert "induction phase change DETECTED" in out and "onset (12% of rise) step" in out and "95% CI" in out
    assert "final loss (loss/train_loss)" in out


def test_export_tidy_tables(run_dir, tmp_path):
    assert main(["export", str(run_dir), "--format", "parquet", "--out", str(tmp_path / "t")]) == 0
    hs = pd.read_parquet(tmp_path / "t" / "head_scores.parquet")
    assert list(hs.columns) == COLUMNS
    assert len(hs) == 41 * 3 * 2 * 4  # by-item scores are not trajectories: left out
    row = hs[(hs.statistic == "induction") & (hs.layer == 1) & (hs["head"] == 3) & (hs.step == 2000)]
    assert row["value"].item() == pytest.approx(float(wb.open_run(run_dir).variable("head_scores", "induction")
                                                      .sel(step=2000, layer=1, head_index=3)), rel=1e-6)
    assert set(hs["unit"]) == {"probability"}
    assert main(["export", str(run_dir), "--format", "csv", "--out", str(tmp_path / "c")]) == 0
    metrics = pd.read_csv(tmp_path / "c" / "metrics.csv")
    assert set(metrics["statistic"]) >= {"loss", "lr", "val_loss"} and metrics["layer"].isna().all()
    # Parameter statistics: one row per (step, site), the site's block in `layer`, the statistic named.
    wn = pd.read_csv(tmp_path / "c" / "weight_norm.csv")
    qkv = wn[(wn.site == "blocks.1.attn.qkv.weight") & (wn.step == 2000)]
    assert qkv["statistic"].tolist() == ["norm"] and qkv["layer"].tolist() == [1]
    assert wn.loc[wn.site == "wte.weight", "layer"].isna().all()
    mats = pd.read_csv(tmp_path / "c" / "matrices.csv")
    assert set(mats["statistic"]) == {"weight_norm", "grad_norm", "update_ratio", "sigma_max", "stable_rank"}
    assert set(mats["site"]) == {"W_Q", "W_K", "W_V", "W_O", "W_in", "W_out"}
    assert tidy_group(wb.open_run(run_dir), "probe").empty


def test_report_is_self_contained_html_with_seed_reliability(tmp_path):
    seeds = [make_run(tmp_path / "seeds" / f"seed{s}", seed=s, n_records=25, every=80) for s in range(3)]
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "seeds"), "--out", str(out), "--fast"]) == 0
    text = out.read_text()
    assert text.count('class="plotly-graph-div"') >= 4 and "Plotly" in text and "<script src=" not in text
    for needle in ("Induction phase change detected", "ICC(2,1) absolute agreement", "Spearman-Brown",
                   "Kornblith et al. 2019", "Shrout &amp; Fleiss 1979", "Loss across seeds", "Lead-lag of the entropy",
                   "Heads clustered by the shape"):
        assert needle in text, needle
    assert len(seeds) == 3


def test_user_errors_are_one_line_exit_2(tmp_path):
    (tmp_path / "notarun").mkdir()
    res = subprocess.run([sys.executable, "-m", "workbench", "summary", str(tmp_path / "notarun")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "is not a run directory" in res.stderr
    assert "Traceback" not in res.stderr
    out = tmp_path / "r.html"
    out.write_text("keep me")
    assert main(["report", str(tmp_path / "notarun"), "--out", str(out)]) == 2
    assert out.read_text() == "keep me"  # nothing already written is lost


@pytest.mark.parametrize("cmd", ["report", "export", "summary"])
def test_every_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "--" in capsys.readouterr().out
