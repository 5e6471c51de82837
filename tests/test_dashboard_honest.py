"""Charts that cannot mislead (issue #13): anchored colour scales, titled colour bars, legends in model order with
no repeated colour, one unit per axis, unjoined validation points, events on the step axis, one band definition,
and the pages' pure choices (default runs and fit, warnings, stale widget values, prompts outside the vocabulary)."""

import numpy as np
import pandas as pd
import plotly.colors
import pytest

from dashboards import choices
from dashboards.figures import head_grid, head_grid_playback, head_trajectories, lines, seed_band, training_curves
from dashboards.figures.curves import add_events, xcorr_bars
from dashboards.figures.grids import grid_color_range, site_step_heatmap
from dashboards.figures.prep import line_colors, relative_to_first


def test_head_grid_probabilities_are_drawn_on_zero_to_one_not_this_steps_range():
    step0 = np.array([[0.097, 0.099], [0.100, 0.101]])  # the step 0: 0.097-0.101
    fig = head_grid(step0, "previous_token at step 0", "probability")
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    assert "fixed 0 to 1" in fig.data[0].colorbar.title.text


def test_grid_colour_range_is_anchored_or_run_wide_and_named():
    all_steps = np.random.default_rng(0).uniform(0.5, 3.0, (50, 2, 4))
    assert grid_color_range("induction", "probability", all_steps) == (0.0, 1.0, "probability (fixed 0 to 1)")
    lo, hi, name = grid_color_range("entropy", "nats", all_steps, n_keys=32)
    assert (lo, hi) == (0.0, pytest.approx(np.log(32))) and "ln 32" in name
    lo, hi, name = grid_color_range("kurtosis", "1", all_steps)
    assert (lo, hi) == (all_steps.min(), all_steps.max()) and "run-wide" in name
    fig = head_grid_playback(all_steps, np.arange(50), "entropy", "nats", (0.0, np.log(32)), name)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, pytest.approx(np.log(32)))
    assert fig.data[0].colorbar.title.text == name


def test_colour_bars_have_real_titles_not_a_bare_unit():
    table = pd.DataFrame([[1.0, 10.0], [2.0, 20.0]], index=["blocks.0.a", "blocks.1.a"], columns=[0, 10])
    assert site_step_heatmap(table, "W", "1", quantity="||W||_F").data[0].colorbar.title.text == "||W||_F"
    log = site_step_heatmap(table, "G", "1", log_color=True, quantity="||dL/dW||_F")
    assert log.data[0].colorbar.title.text == "log10 ||dL/dW||_F"
    assert site_step_heatmap(table, "A", "nats", quantity="entropy").data[0].colorbar.title.text == "entropy (nats)"


def test_line_legends_follow_model_order_with_a_sequential_palette_and_no_repeats():
    cols = ["ln_final.weight", "blocks.10.mlp.w", "blocks.2.attn.w", "blocks.2.attn.b", "wte.weight"]
    fig = lines(pd.DataFrame(np.ones((3, 5)), columns=cols), "norms", "||W||_F")
    names = [t.name for t in fig.data]
    assert names == ["wte.weight", "blocks.2.attn.b", "blocks.2.attn.w", "blocks.10.mlp.w", "ln_final.weight"]
    colours = [t.line.color for t in fig.data]
    assert len(set(colours)) == len(colours)
    viridis = plotly.colors.sample_colorscale("Viridis", [0.0, 0.85])
    assert fig.data[1].line.color == viridis[0] and fig.data[3].line.color == viridis[1]  # layer 2 dark, 10 light
    many = line_colors([f"stat{i}" for i in range(40)])
    assert len(set(many.values())) == 40


def test_head_trajectories_keep_units_apart_and_mark_thresholds_and_onsets():
    table = pd.DataFrame({"entropy": [2.0, 1.0, 0.5], "induction": [0.0, 0.4, 0.7]}, index=[0, 10, 20])
    fig = head_trajectories(table, "L1H3", events=[{"step": 10, "lo": 8, "hi": 12, "kind": "onset", "label": "onset"}],
                            thresholds={"induction": 0.3})
    assert fig.layout.yaxis.title.text == "probability (scores)" and fig.layout.yaxis2.title.text == "entropy (nats)"
    assert {t.name: t.yaxis for t in fig.data} == {"entropy": "y2", "induction": "y"}
    shapes = [(s.type, s.x0, s.x1, s.y0, s.y1) for s in fig.layout.shapes]
    assert ("rect", 8, 12, 0, 1) in shapes  # the onset's CI band
    assert any(s[0] == "line" and s[1] == s[2] == 10 for s in shapes)  # the onset
    assert any(s[0] == "line" and s[3] == s[4] == 0.3 for s in shapes)  # the induction threshold


def test_events_mark_the_same_step_on_any_line_chart():
    fig = add_events(lines(pd.DataFrame({"blocks.1.hook_resid_post": [1.0, 5.0]}, index=[0, 10]), "k", "kurtosis"),
                     [{"step": 649, "lo": 640, "hi": 659, "kind": "onset", "label": "onset"}])
    assert [(s.type, s.x0) for s in fig.layout.shapes] == [("rect", 640), ("line", 649)]


def test_validation_points_are_not_joined_and_events_are_ruled():
    metrics = pd.DataFrame({"event": ["step", "step", "eval", "step", "eval"], "step": [1, 2, 2, 3, 3],
                            "loss": [4.0, 3.0, None, 2.0, None], "val_loss": [None, None, 3.5, None, 2.5]})
    spec = training_curves(metrics, "loss", events=[{"step": 2, "lo": 1.5, "hi": 2.5, "label": "onset"}]).to_dict()
    line = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert line["transform"][0]["filter"] == "(datum.series !== 'validation')"
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point", "rect", "rule"]


def test_seed_band_is_the_t_interval_of_the_mean_and_says_so():
    table = pd.DataFrame({"seed0": [1.0, 2.0], "seed1": [2.0, 4.0], "seed2": [3.0, 3.0]}, index=[0, 10])
    fig = seed_band(table, "loss", "loss (nats)")
    band = fig.data[0]
    half = 4.302653 * table.std(axis=1, ddof=1).to_numpy() / np.sqrt(3)
    expected = np.r_[table.mean(axis=1) + half, (table.mean(axis=1) - half)[::-1]]
    assert np.allclose(np.asarray(band.y, float), expected, rtol=1e-5)
    assert band.name == "95% CI of the mean over 3 seeds (t, 2 df)"
    assert "runs" in seed_band(table, "loss", "loss", kind="runs").data[0].name


def test_xcorr_axis_explains_both_signs_and_the_band():
    fig = xcorr_bars(pd.DataFrame({"lag": [-1, 0, 1], "r": [0.1, 0.2, 0.3]}), "x vs y", 0.3, 21)
    assert "positive: x changes first" in fig.layout.xaxis.title.text and "negative: y changes first" in \
        fig.layout.xaxis.title.text
    assert any("corrected for 21 lags" in (a.text or "") for a in fig.layout.annotations)


def test_weight_norms_relative_to_step_zero():
    table = pd.DataFrame([[2.0, 3.0, 4.0], [0.0, 1.0, 1.0]], index=["a", "b"], columns=[0, 10, 20])
    rel = relative_to_first(table)
    assert rel.loc["a"].tolist() == [1.0, 1.5, 2.0] and rel.loc["b"].isna().all()  # a zero start has no ratio


def test_compare_defaults_to_one_seed_group_and_warns_on_unrelated_runs():
    assert choices.default_runs(["demo", "induction"]) == ["demo"]  # not the first two alphabetically
    assert choices.default_runs(["demo", "indseeds/seed1", "indseeds/seed0", "induction"]) == \
        ["indseeds/seed0", "indseeds/seed1"]
    demo = {"data": {"name": "text"}, "model": {"d_vocab": 4096}, "train": {"seed": 0}}
    tour = {"data": {"name": "synthetic:induction"}, "model": {"d_vocab": 65}, "train": {"seed": 0}}
    text = choices.comparison_warning(["demo", "induction"], {"demo": demo, "induction": tour})
    assert "not seeds" in text and "data.name" in text and "model.d_vocab" in text
    seeds = {"s/seed0": tour, "s/seed1": {**tour, "train": {"seed": 1}}}
    assert choices.comparison_warning(list(seeds), seeds) is None and choices.are_seeds(list(seeds), seeds)


def test_default_fit_is_logistic_for_bounded_scores():
    assert choices.default_fit("head_scores/induction L1H3", [0.02, 0.3, 0.65]) == "logistic"
    assert choices.default_fit("loss/train_loss", [4.1, 3.2, 2.9]) == "power law"
    assert choices.default_fit("attn_entropy/entropy L0H0", [2.5, 1.0, 0.3]) == "exponential"


def test_stale_widget_values_and_prompts_outside_the_vocabulary():
    assert choices.stale(1500, [0, 10, 300]) and not choices.stale(300, [0, 10, 300])
    assert choices.out_of_vocabulary([0, 0, 5, 0], unk_id=0, vocab_size=65) == 3  # "Once upon a time" -> EOT x 3
    assert choices.out_of_vocabulary([5, 70], unk_id=None, vocab_size=65) == 1
