"""The Circuits page under streamlit's AppTest, on a run with planted circuit groups (written by the real writer)."""

import json

import numpy as np
import pytest

from tests.circuit_store import FEEDER, HEAD, add_circuit_groups
from tests.dashboard_run import write_run
from tests.test_dashboard_pages import app, array, assert_clean, snapshot


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("circuit_runs")
    run = write_run(root / "run", n_records=30)
    add_circuit_groups(run, np.arange(30, dtype=np.int64) * 10)
    return root


def specs(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_circuits_page_draws_every_chart_with_its_explanation(runs_dir, monkeypatch):
    before = snapshot(runs_dir)
    at = app(runs_dir, "circuits", monkeypatch)
    assert_clean(at)
    assert at.title[0].value == "Circuits"
    titles = [s["layout"]["title"]["text"] for s in specs(at)]
    assert len(titles) == 4, titles
    assert titles[0].startswith("Mean-ablation effect at step 290") and "K-composition at step 290" in titles[1]
    assert titles[2] == "Logit-lens loss by layer over training" and titles[3].startswith(f"Induction head L{HEAD[0]}H{HEAD[1]}")
    grid = specs(at)[0]["data"][0]
    z = np.asarray(array(grid["z"])).reshape(2, 4)
    assert np.unravel_index(np.argmax(z), z.shape) == HEAD  # the planted head is the hot cell
    assert sum("**Formula:**" in c.value for c in at.caption) >= 4  # every chart says what, formula, how to read
    assert snapshot(runs_dir) == before


def test_composition_graph_follows_the_step_and_shows_the_planted_edge_only_late(runs_dir, monkeypatch):
    at = app(runs_dir, "circuits", monkeypatch)
    edges = [t for t in specs(at)[1]["data"] if t["mode"] == "lines"]
    assert len(edges) == 1 and edges[0]["x"] == [FEEDER[0], HEAD[0]] and edges[0]["y"] == [FEEDER[1], HEAD[1]]
    at.select_slider(key="circuits_step").set_value(0).run()
    assert_clean(at)
    assert "at step 0" in specs(at)[1]["layout"]["title"]["text"]
    assert not [t for t in specs(at)[1]["data"] if t["mode"] == "lines"]  # before onset: nothing above the null band


def test_timeline_marks_onsets_in_time_order(runs_dir, monkeypatch):
    at = app(runs_dir, "circuits", monkeypatch)
    timeline = specs(at)[3]
    names = {t["name"] for t in timeline["data"]}
    assert {"induction score", "K-composition feeder -> head", "ablation: repeat loss change"} <= names
    assert len(timeline["layout"]["shapes"]) >= 4  # a dotted onset line per trajectory that rose
    assert at.dataframe[0].value["onset"].is_monotonic_increasing
