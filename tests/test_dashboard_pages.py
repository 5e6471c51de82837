"""The dashboard's pages under streamlit's AppTest: each renders its charts, handles bad input, writes nothing."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data
from tests.dashboard_run import write_run

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
PAGES = {"overview": 3, "parameters": 2, "heads": 3, "circuits": 0, "activations": 3, "analyses": 3, "compare": 1,
         "generate": 0, "constructs": 0}  # constructs: the test runs record no constructs group (test_constructs_e2e.py)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_run(root / "seed0", seed=0)
    write_run(root / "seed1", seed=1)
    return root


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def app(runs: Path, page: str, monkeypatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["dashboards/app.py", "--runs", str(runs)])
    at = AppTest.from_file(APP, default_timeout=60)
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
    return at.run()


def charts(at: AppTest) -> list:
    """Every chart on the page: Plotly's, and Vega-Lite's (the Overview's training curves)."""
    return [*at.get("plotly_chart"), *at.get("vega_lite_chart")]


def vega_table(chart) -> pd.DataFrame:
    """The table a Vega-Lite chart draws: streamlit sends it beside the spec as Arrow IPC bytes."""
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()


def array(field) -> list:
    """A trace field from a chart's JSON: plotly sends numeric arrays as {"dtype", "bdata": base64}."""
    if isinstance(field, dict) and "bdata" in field:
        return np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"]).tolist()
    return list(field)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_its_charts_and_writes_nothing(runs_dir, page, monkeypatch):
    before = snapshot(runs_dir)
    at = app(runs_dir, page, monkeypatch)
    assert_clean(at)
    assert len(charts(at)) >= PAGES[page]
    assert not at.error
    assert at.title[0].value  # every page says what it is
    assert snapshot(runs_dir) == before  # no file added, resized or touched


def test_heads_step_slider_and_head_choice(runs_dir, monkeypatch):
    at = app(runs_dir, "heads", monkeypatch)
    steps = at.select_slider(key="heads_step").options
    assert steps[0] == "0" and len(steps) == 12
    assert (at.number_input(key="heads_layer").value, at.number_input(key="heads_head").value) == (1, 3)  # planted
    at.select_slider(key="heads_step").set_value(20).run()
    at.number_input(key="heads_layer").set_value(0).run()
    at.number_input(key="heads_head").set_value(0).run()
    assert_clean(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any("at step 20" in t for t in titles)
    assert any(t.startswith("Layer 0 head 0 at step 20") for t in titles)
    pattern = json.loads(at.get("plotly_chart")[-1].proto.spec)["data"][0]
    assert len(pattern["x"]) == 8 and pattern["x"][0].startswith("0:")  # position:token on the axes


def test_heads_grid_is_labelled_with_roles(runs_dir, monkeypatch):
    at = app(runs_dir, "heads", monkeypatch)
    grid = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert grid["text"][1][3] == "induction"  # the planted induction head (1, 3), at the last step


def test_compare_overlays_two_runs(runs_dir, monkeypatch):
    at = app(runs_dir, "compare", monkeypatch)
    assert_clean(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in fig["data"]} == {"seed0", "seed1"}


def test_missing_runs_directory_is_explained(tmp_path, monkeypatch):
    for page in ("overview", "compare"):  # every page asks ui.run_choice, single or multiple
        at = app(tmp_path / "nope", page, monkeypatch)
        assert_clean(at)
        assert "does not exist" in at.error[0].value


def test_directory_without_runs_is_explained(tmp_path, monkeypatch):
    (tmp_path / "notes").mkdir()
    at = app(tmp_path, "overview", monkeypatch)
    assert_clean(at)
    assert "No runs found" in at.warning[0].value


def test_run_with_only_metrics_gets_messages_not_tracebacks(tmp_path, monkeypatch):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"event": "step", "step": 1, "loss": 3.0, "lr": 1e-4}) + "\n{\"ev")
    for page in PAGES:
        at = app(tmp_path, page, monkeypatch)
        assert_clean(at)
        if page not in ("overview", "generate"):
            assert any("has no" in i.value for i in at.info), page
    assert len(charts(app(tmp_path, "overview", monkeypatch))) == 3  # the torn last line is skipped


def test_new_records_change_the_cache_key(tmp_path):
    run = tmp_path / "live"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"event": "step", "step": 1, "loss": 3.0}) + "\n")
    sig = data.signature(run)
    assert len(data.load_metrics(str(run), sig)) > 0
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"event": "step", "step": 999, "loss": 1.0}) + "\n")
    new_sig = data.signature(run)
    assert new_sig != sig
    assert data.load_metrics(str(run), new_sig)["step"].max() == 999


def test_server_binds_to_localhost_by_default():
    import tomllib

    config = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    assert tomllib.loads(config.read_text())["server"]["address"] == "127.0.0.1"


def test_parameters_page_filters_sites_and_shows_spectra(runs_dir, monkeypatch):
    at = app(runs_dir, "parameters", monkeypatch)
    at.text_input(key="param_filter").set_value("qkv").run()
    at.toggle(key="param_spectral").set_value(True).run()
    assert_clean(at)
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert sorted(heatmap["y"]) == ["blocks.0.attn.qkv.bias", "blocks.0.attn.qkv.weight", "blocks.1.attn.qkv.bias",
                                    "blocks.1.attn.qkv.weight"]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "sigma max" in titles and "stable rank" in titles


def test_new_metrics_appear_on_rerun(tmp_path, monkeypatch):
    run = tmp_path / "live"
    run.mkdir()
    line = {"event": "step", "loss": 3.0, "lr": 1e-4}
    (run / "metrics.jsonl").write_text("".join(json.dumps({**line, "step": s}) + "\n" for s in (1, 2)))
    at = app(tmp_path, "overview", monkeypatch)
    assert vega_table(at.get("vega_lite_chart")[0])["step"].tolist() == [1, 2]
    with open(run / "metrics.jsonl", "a") as f:  # training writes another step
        f.write(json.dumps({**line, "step": 3}) + "\n")
    at.run()
    assert_clean(at)
    assert vega_table(at.get("vega_lite_chart")[0])["step"].tolist() == [1, 2, 3]


def test_show_the_code_is_sent_only_when_opened(runs_dir, monkeypatch):
    at = app(runs_dir, "overview", monkeypatch)
    assert not any("def training_curves" in c.value for c in at.code)  # collapsed: nothing sent to the browser
    at.session_state["code_loss"] = True  # what opening the expander does
    at.run()
    assert_clean(at)
    assert any("def training_curves" in c.value for c in at.code)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A real tiny training run (so samples.jsonl is what training writes), with a torn last line as if live."""
    from seedling.train.__main__ import main
    from tests.train_util import TINY, one_thread

    root = tmp_path_factory.mktemp("trained")
    mp = pytest.MonkeyPatch()
    mp.setenv("SEEDLING_CACHE", str(root / "cache"))
    with one_thread():
        assert main(["--out", str(root / "runs" / "tiny"), "--max-steps", "4", "--quiet",
                     *[a for s in TINY for a in ("--set", s)]]) == 0
    mp.undo()
    with open(root / "runs" / "tiny" / "samples.jsonl", "a") as f:
        f.write('{"step": 9, "tok')
    return root / "runs" / "tiny"


def test_samples_reader_gives_one_row_per_completion(trained_run):
    table = data.load_samples(str(trained_run), data.signature(trained_run))
    assert list(table.columns) == ["step", "tokens", "decoding", "prompt", "completion", "ended"]
    assert sorted(table["step"].unique()) == [0, 1, 2, 4]  # the checkpoints; the torn line is skipped
    assert len(table) == 4 * 6  # 3 prompts (2 documents, 1 repeated span) x (greedy, top_p=0.9) per checkpoint
    assert table["prompt"].nunique() == 3
    lines = [json.loads(line) for line in (trained_run / "samples.jsonl").read_text().splitlines()[:-1]]
    assert table["ended"].tolist() == [s["n_tokens"] < 24 for r in lines for s in r["samples"]]
    assert data.load_samples(str(trained_run.parent), ()) is None  # no samples.jsonl there


def test_overview_shows_samples_as_a_table_or_says_why_not(trained_run, runs_dir, monkeypatch):
    at = app(trained_run, "overview", monkeypatch)
    assert_clean(at)
    shown = at.dataframe[-1].value
    assert list(shown.columns) == ["step", "prompt", "completion"] and len(shown) == 12  # greedy by default
    assert at.radio(key="overview_decoding").options == ["greedy", "top_p=0.9"]
    at.radio(key="overview_decoding").set_value("top_p=0.9").run()
    assert len(at.dataframe[-1].value) == 12 and any("greedy always takes" in c.value for c in at.caption)
    bare = app(runs_dir, "overview", monkeypatch)  # runs written without samples.jsonl
    assert_clean(bare)
    assert any("no sample completions" in i.value and "--samples off" in i.value for i in bare.info)


def test_onset_interval_is_the_fast_delta_method_until_the_bootstrap_is_asked_for(runs_dir, monkeypatch):
    at = app(runs_dir, "analyses", monkeypatch)
    assert at.radio(key="an_onset_method").value == "delta"
    tables = [d.value for d in at.dataframe if "onset" in d.value.columns]
    at.radio(key="an_onset_method").set_value("bootstrap").run()
    assert_clean(at)
    after = [d.value for d in at.dataframe if "onset" in d.value.columns]
    assert len(tables) == len(after) == 1 and tables[0]["method"].iloc[0] == "delta"
    assert after[0]["method"].iloc[0] == "bootstrap"


def test_plotly_preload_names_the_bundle_streamlit_itself_imports():
    from dashboards import preload

    bundle = preload.plotly_bundle()
    assert bundle and (preload.STATIC_JS / bundle).is_file()  # fails, rather than silently skipping, on a new layout
    # The entry module index.html loads (the preload script finds it by the same "static/js/index." prefix).
    page = (preload.STATIC_JS.parents[1] / "index.html").read_text()
    entry = re.findall(r'<script[^>]*src="\./static/js/(index\.[^"]+\.js)"', page)
    assert len(entry) == 1
    assert f"./{bundle}" in (preload.STATIC_JS / entry[0]).read_text()  # the very URL Streamlit's lazy import fetches, so the module is shared
    assert f'"./{bundle}"' in preload.SCRIPT % bundle


def test_every_page_ends_with_the_plotly_preload(runs_dir, monkeypatch):
    for page in ("overview", "generate"):
        at = app(runs_dir, page, monkeypatch)
        html = [e for e in at.main.children.values() if getattr(e, "type", "") == "html"]
        assert html and "seedlingPlotlyPreload" in html[-1].proto.body, page


def test_switching_to_a_shorter_run_brings_the_step_slider_back_into_range(tmp_path, monkeypatch):
    write_run(tmp_path / "long", n_records=12)
    write_run(tmp_path / "short", n_records=5)
    at = app(tmp_path, "heads", monkeypatch)
    at.select_slider(key="heads_step").set_value(110).run()
    at.selectbox(key="run").set_value("short").run()
    assert_clean(at)
    assert at.select_slider(key="heads_step").value == 40  # the new run's last step, not 110
    grid = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert grid["layout"]["title"]["text"].startswith("entropy at step 40")
    assert grid["data"][0]["zmin"] == 0 and "ln 32" in grid["data"][0]["colorbar"]["title"]["text"]  # [0, ln T], T = probe length


def test_a_filter_that_empties_the_charts_says_so_instead_of_blaming_record(runs_dir, monkeypatch):
    at = app(runs_dir, "parameters", monkeypatch)
    at.text_input(key="param_filter").set_value("no-such-site").run()
    assert_clean(at)
    assert any("match the current filters" in w.value for w in at.warning)
    assert not any("--record" in i.value for i in at.info)
    at = app(runs_dir, "parameters", monkeypatch)
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["colorbar"]["title"]["text"] == "||W||_F"  # not "1"
    at.toggle(key="param_relative").set_value(True).run()
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["colorbar"]["title"]["text"] == "||W||_F / ||W_0||_F" and array(heat["z"])[0] == pytest.approx(1.0)


def test_analyses_starts_on_the_logistic_for_a_score_and_explains_each_chart(runs_dir, monkeypatch):
    at = app(runs_dir, "analyses", monkeypatch)
    assert_clean(at)
    assert "induction" in at.selectbox(key="an_series").value
    assert at.radio(key=f"an_fit_{at.selectbox(key='an_series').value}").value == "logistic"
    captions = " ".join(c.value for c in at.caption)
    for what in ("where the trajectory shifts level", "a parametric growth curve", "changes in one trajectory come",
                 "a 95% confidence band of the mean", "Wald SEs and CIs assume independent residuals"):
        assert what in captions, what
    band = json.loads(at.get("plotly_chart")[-1].proto.spec)["data"][0]
    assert band["name"] == "95% CI of the mean over 2 seeds (t, 1 df)"  # seed0 and seed1 of one group


def test_generate_warns_when_the_prompt_is_outside_the_vocabulary(trained_run, monkeypatch):
    at = app(trained_run, "generate", monkeypatch)
    assert_clean(at)
    assert any("outside this run's vocabulary" in w.value for w in at.warning)  # "Once upon a time" on t0..t255
    at.text_area(key="gen_prompt").set_value("t1 t2 t3 t1 t2").run()
    assert not any("vocabulary" in w.value for w in at.warning)
