"""The tidy export for R (issue #13 item 10): statistic and unit columns, one training-loss name, run constants,
a codebook, the findings tables, seed groups, no silent overwrite, and CSVs that R reads as written."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from tests.workbench_runs import make_run
from workbench.cli import main
from workbench.export import COLUMNS, export_runs, tidy_group


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export") / "indseeds"
    for s in range(3):
        make_run(root / f"seed{s}", seed=s)
    return root


def test_statistic_and_unit_columns_split_what_site_used_to_bundle(seeds_dir):
    run = wb.open_run(seeds_dir / "seed0")
    wn = tidy_group(run, "weight_norm")
    assert list(wn.columns) == COLUMNS and set(wn["statistic"]) == {"frobenius_norm"}  # the store calls it "norm"
    assert set(tidy_group(run, "grad_norm")["statistic"]) >= {"grad_frobenius_norm", "global_norm"}  # also "norm"
    mats = tidy_group(run, "matrices")
    assert {"sigma_max", "stable_rank", "frobenius_norm"} <= set(mats["statistic"])
    for table in (wn, mats):
        assert table.groupby("statistic")["unit"].nunique().max() == 1 and "1" not in set(table["unit"])
    assert wn.loc[wn.site == "wte.weight", "layer"].isna().all()
    # schema-1 names, where a statistic was appended to the site: the one rule that splits them
    from workbench.variables import statistic_and_site
    assert statistic_and_site("weight_norm", "blocks.0.attn.qkv.weight.sigma_max") == ("sigma_max",
                                                                                      "blocks.0.attn.qkv.weight")


def test_a_seed_group_exports_every_table_with_a_codebook_and_refuses_to_overwrite(seeds_dir, tmp_path):
    out = tmp_path / "tables"
    assert main(["export", str(seeds_dir), "--out", str(out), "--fast"]) == 0  # was refused: not a run directory
    names = {p.stem for p in out.glob("*.csv")}
    assert {"metrics", "head_scores", "weight_norm", "runs", "codebook", "fits", "onsets", "icc"} <= names
    hs = pd.read_csv(out / "head_scores.csv")
    seeds = ["indseeds/seed0", "indseeds/seed1", "indseeds/seed2"]
    assert sorted(hs["run"].unique()) == seeds and sorted(hs["seed"].unique()) == [0, 1, 2]
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs.columns) == {"run", "seed", "key", "value"} and "train.seed" in set(runs["key"])
    assert "run" not in runs["key"].values and "step" not in runs.columns  # constants, not records
    onsets = pd.read_csv(out / "onsets.csv").set_index("run")
    assert "across seeds" in onsets.index and "t over 3 seeds" in onsets.loc["across seeds", "ci"]
    icc = pd.read_csv(out / "icc.csv")
    assert {"all layers", "layer 1"} <= set(icc["scope"]) and icc["matched_on"].str.contains("last record").all()
    fits = pd.read_csv(out / "fits.csv")
    assert {"flag", "r2", "aic", "rank"} <= set(fits.columns)
    book = pd.read_csv(out / "codebook.csv", keep_default_na=False)
    for name in names - {"codebook"}:
        cols = pd.read_csv(out / f"{name}.csv", nrows=1).columns
        assert set(cols) <= set(book.loc[book["table"] == name, "column"]), name
    assert (book.loc[book["column"] == "statistic=induction", "unit"] == "probability").all()
    assert book.loc[book["column"] == "step", "unit"].iloc[0] == "optimizer steps"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["export", str(seeds_dir / "seed0"), "--out", str(out), "--fast"]) == 2  # an earlier export is kept
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_csv_reads_as_r_reads_it(seeds_dir, tmp_path):
    export_runs([wb.open_run(seeds_dir / "seed0")], "csv", tmp_path / "r", method="delta")
    # R's read.csv: header row, no row names, "NA" is missing, "" stays a string in character columns.
    d = pd.read_csv(tmp_path / "r" / "head_scores.csv", na_values=["NA"], keep_default_na=False)
    assert list(d.columns) == COLUMNS  # no unnamed index column
    assert d["value"].dtype == np.float64 and d["step"].dtype == np.int64 and d["layer"].dtype == np.int64
    m = pd.read_csv(tmp_path / "r" / "metrics.csv", na_values=["NA"], keep_default_na=False)
    assert m["layer"].isna().all() and (m["site"] == "").all()  # missing numbers are NA, empty sites are ""
    raw = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[1]
    assert ",NA,NA," in raw  # written as R writes missing values


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed (.ci/run installs r-base-core)")
def test_the_r_growth_model_reads_the_export_and_agrees_with_the_workbench(seeds_dir, tmp_path):
    out = tmp_path / "tables"
    export_runs(wb.open_runs([seeds_dir]), "csv", out, method="delta")
    script = Path(__file__).resolve().parents[1] / "docs" / "growth_model.R"
    res = subprocess.run(["Rscript", str(script), str(out), str(tmp_path / "growth.csv")], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    growth = pd.read_csv(tmp_path / "growth.csv")
    planted = growth[(growth.layer == 1) & (growth["head"] == 3)].set_index("run")["midpoint"]
    onsets = pd.read_csv(out / "onsets.csv").set_index("run")
    for s in range(3):
        run = f"indseeds/seed{s}"
        assert planted[run] == pytest.approx(onsets.loc[run, "logistic_midpoint"], abs=1.0)  # R's SSfpl = fit_logistic
        assert planted[run] == pytest.approx(0.30 * 2000, abs=30)  # the planted midpoint (recorders.synthetic_plants)
