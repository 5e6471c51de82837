"""The dashboard's figure builders and array preparation, tested directly as pure functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dashboards import explain
from dashboards.figures import (
    align_runs,
    attention_pattern,
    cka_matrix,
    head_grid,
    head_grid_playback,
    head_trajectories,
    lines,
    nearest_step,
    overlay_runs,
    pca_trajectories,
    seed_band,
    series_with_marks,
    similarity_matrix,
    site_step_heatmap,
    training_curves,
    training_table,
    trajectories,
    trajectory_2d,
    xcorr_bars,
)
from dashboards.figures.grids import MAX_FRAMES, MAX_PATH_MARKERS, MAX_PATH_POINTS


@pytest.fixture
def metrics() -> pd.DataFrame:
    steps = pd.DataFrame({"event": "step", "step": [1, 2, 3, 4], "loss": [4.0, 3.0, 2.0, 1.0],
                          "lr": [1e-4, 2e-4, 3e-4, 3e-4], "tokens": [100, 200, 300, 400]})
    evals = pd.DataFrame({"event": "eval", "step": [2, 4], "val_loss": [3.5, 1.5], "val_ppl": np.exp([3.5, 1.5])})
    return pd.concat([steps, evals], ignore_index=True)


def chart_table(chart) -> pd.DataFrame:
    """The rows an Altair chart draws (its top-level data)."""
    return chart.data


def test_training_curves_train_and_validation(metrics):
    chart = training_curves(metrics, "loss")
    table = chart_table(chart)
    assert table["series"].unique().tolist() == ["train", "validation"]
    val = table[table["series"] == "validation"]
    assert val["step"].tolist() == [2, 4] and val["value"].tolist() == [3.5, 1.5]
    spec = chart.to_dict()
    assert spec["title"] == "Loss" and spec["layer"][0]["encoding"]["y"]["title"] == "loss (nats per token)"
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]  # validation points marked


def test_training_curves_perplexity_is_exp_of_loss_and_tokens_axis(metrics):
    chart = training_curves(metrics, "ppl", x="tokens")
    table = chart_table(chart)
    np.testing.assert_allclose(table.loc[table["series"] == "train", "value"], np.exp([4.0, 3.0, 2.0, 1.0]), rtol=1e-6)
    assert table.loc[table["series"] == "validation", "tokens"].tolist() == [200, 400]  # eval rows: tokens of their step
    assert chart.to_dict()["layer"][0]["encoding"]["x"]["field"] == "tokens"


def test_training_curves_lr_and_log_axis(metrics):
    chart = training_curves(metrics.assign(lr=[0.0, 2e-4, 3e-4, 3e-4, None, None]), "lr", log_y=True)
    table = chart_table(chart)
    assert table["series"].unique().tolist() == ["learning rate"]
    assert table["step"].tolist() == [2, 3, 4]  # a log axis cannot place the zero learning rate at step 1
    assert chart.to_dict()["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"


def test_training_curves_thin_long_runs_but_keep_every_validation_point():
    n = 10_000
    steps = pd.DataFrame({"event": "step", "step": np.arange(n), "loss": np.linspace(5, 1, n), "lr": 1e-4})
    evals = pd.DataFrame({"event": "eval", "step": np.arange(0, n, 10), "val_loss": 2.0})
    table = training_table(pd.concat([steps, evals], ignore_index=True), "loss")
    train = table[table["series"] == "train"]
    assert len(train) == 1500 and train["step"].iloc[[0, -1]].tolist() == [0, n - 1]
    assert (table["series"] == "validation").sum() == 1000
    assert table["value"].dtype == np.float32  # values go to the browser as float32, as on the Plotly pages


def test_training_curves_without_x_column_fall_back_to_step(metrics):
    chart = training_curves(metrics.drop(columns=["tokens"]), "loss", x="tokens")
    assert chart.to_dict()["layer"][0]["encoding"]["x"]["field"] == "step"


def test_heatmap_log_colour():
    table = pd.DataFrame([[1.0, 10.0, 100.0], [1.0, 2.0, 3.0]], index=["blocks.0.attn.qkv.weight", "wte.weight"],
                         columns=[0, 10, 20])
    fig = site_step_heatmap(table, "weights", "1", log_color=True)
    np.testing.assert_allclose(fig.data[0].z[0], [0.0, 1.0, 2.0])


def test_head_grid_shape_roles_and_orientation():
    values = np.arange(6.0).reshape(2, 3)
    roles = np.array([["a", "", ""], ["", "b", ""]], dtype=object)
    fig = head_grid(values, "entropy", "nats", roles=roles)
    assert np.asarray(fig.data[0].z).shape == (2, 3) and fig.data[0].text[1][1] == "b"
    assert fig.layout.yaxis.autorange == "reversed"  # layer 0 at the top


def test_head_grid_playback_frames_and_fixed_colour_range():
    values = np.random.default_rng(0).uniform(size=(500, 2, 3))
    steps = np.arange(500) * 10
    fig = head_grid_playback(values, steps, "entropy")
    assert 2 <= len(fig.frames) <= MAX_FRAMES
    assert fig.frames[0].name == "0" and fig.frames[-1].name == "4990"
    assert [s.label for s in fig.layout.sliders[0].steps] == [f.name for f in fig.frames]
    assert fig.data[0].zmin == pytest.approx(values.min()) and fig.data[0].zmax == pytest.approx(values.max())


def test_attention_pattern_has_token_text_on_both_axes():
    pattern = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]
    fig = attention_pattern(pattern, ["The", "cat", "The"], "L0H0")
    assert list(fig.data[0].x) == ["0:The", "1:cat", "2:The"] == list(fig.data[0].y)
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == 1


def test_pca_trajectories_recovers_a_planted_direction():
    rng = np.random.default_rng(0)
    direction = np.zeros(8)
    direction[3] = 1.0
    t = np.linspace(-1, 1, 20)
    acts = t[:, None, None] * 10 * direction + rng.normal(0, 0.01, (20, 2, 8))
    points, explained = pca_trajectories(acts)
    assert points.shape == (2, 20, 2)
    assert explained[0] > 0.99
    assert abs(np.corrcoef(points[0, :, 0], t)[0, 1]) > 0.99


def test_cka_matrix_between_layers():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    m = cka_matrix([x, 3.0 * x @ q, rng.normal(size=(200, 6))])
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert m[0, 1] == pytest.approx(1.0)  # rotation and scale leave CKA at 1
    assert m[0, 2] < 0.2  # unrelated representations


def test_trajectories_and_alignment():
    steps = [0, 10, 20]
    groups = {"loss": xr.Dataset({"train_loss": ("step", [3.0, 2.0, 1.0])}, coords={"step": steps}),
              "head_scores": xr.Dataset({"induction": (("step", "layer", "head_index"),
                                                       np.arange(12.0).reshape(3, 2, 2))}, coords={"step": steps}),
              "optim": None}
    series = trajectories(groups, layer=1, head=0)
    assert sorted(series) == ["head_scores/induction L1H0", "loss/train_loss"]
    assert list(series["head_scores/induction L1H0"]) == [2.0, 6.0, 10.0]
    table = align_runs({"a": series["loss/train_loss"], "b": pd.Series([1.0, 2.0], index=[10, 30])})
    assert list(table.index) == [10]
    assert nearest_step(np.array(steps), 14) == 10


def test_line_figures():
    table = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=[0, 10])
    assert [t.name for t in lines(table, "t", "y").data] == ["a", "b"]
    assert len(overlay_runs({"r1": table["a"], "r2": table["b"]}, "t", "y").data) == 2
    fig = head_trajectories(table, "L0H0", onset=5.0)
    assert fig.layout.shapes[0].x0 == 5.0
    band = seed_band(table, "t", "y")
    np.testing.assert_allclose(band.data[-1].y, [2.0, 3.0])  # the mean across runs
    marks = series_with_marks(np.array([0, 10]), np.array([1.0, 2.0]), "t", "y", marks=[5.0],
                              fitted=np.array([1.1, 1.9]))
    assert len(marks.data) == 2 and len(marks.layout.shapes) == 1
    bars = xcorr_bars(pd.DataFrame({"lag": [-1, 0, 1], "r": [0.1, 0.5, 0.2]}), "xc", bound=0.3)
    assert list(bars.data[0].x) == [-1, 0, 1] and len(bars.layout.shapes) == 2
    sim = similarity_matrix(np.eye(2), ["l0", "l1"], "cka")
    assert list(sim.data[0].x) == ["l0", "l1"]
    traj = trajectory_2d(np.zeros((1, 3, 2)), [0, 1, 2], ["item 0"], "pca", [0.5, 0.2])
    assert "50%" in traj.layout.xaxis.title.text


def test_long_runs_are_thinned_for_display_only():
    """What the browser gets is bounded (points per line, markers per path, float32); first and last step stay."""
    steps = np.arange(2000) * 10
    table = pd.DataFrame(np.random.default_rng(0).normal(size=(2000, 33)), index=steps)
    many = lines(table, "t", "y")
    assert len(many.data) == 33 and all(len(t.y) <= 500 and t.y.dtype == np.float32 for t in many.data)
    assert many.data[0].x[0] == 0 and many.data[0].x[-1] == 19990
    assert len(lines(table.iloc[:, :2], "t", "y").data[0].y) == 1500  # few lines keep more points
    points = np.random.default_rng(1).normal(size=(8, 2000, 2))
    fig = trajectory_2d(points, steps, [f"item {i}" for i in range(8)], "pca", [0.5, 0.2])
    paths, marks = fig.data[0::2], fig.data[1::2]
    assert len(paths) == len(marks) == 8 and all(len(t.x) == MAX_PATH_POINTS for t in paths)
    assert all(len(t.x) <= MAX_PATH_MARKERS and t.text is None for t in marks)
    assert list(marks[0].customdata[[0, -1]]) == [0, 19990]  # hover says the step, from one numeric array
    assert [t.showlegend for t in fig.data[:2]] == [None, False]  # one legend entry per item


def test_every_chart_key_has_an_explanation():
    for key in ("loss", "ppl", "lr", "weight_norm", "grad_norm", "update_ratio", "spectral", "entropy",
                "head_scores", "pattern", "trajectory", "act_stats", "cka", "pca", "analysis", "compare"):
        assert "**What:**" in explain.text(key), key
    assert explain.text("nonexistent") == ""


def test_samples_table_rows_read_down_the_checkpoints_with_visible_endings():
    from dashboards.figures.prep import samples_table_rows

    samples = pd.DataFrame({"step": [2, 1, 1, 2], "decoding": ["greedy", "greedy", "top_p=0.9", "greedy"],
                            "prompt": ["b", "b", "b", "a"], "completion": ["\n\n", "", "z", "y"],
                            "ended": [False, True, False, False]})
    rows = samples_table_rows(samples, "greedy")
    assert rows.values.tolist() == [[2, "a", "y"], [1, "b", " [end of text]"], [2, "b", "\u21b5\u21b5"]]
    assert len(samples_table_rows(samples)) == 4
