"""The constructs group from recorder to workbench on small runs written by the real writer (fast; no training).

A user's item CSV (12 items, 3 constructs, written in the planted corpus's words) is tokenized, the
group is collected from a tiny model at three "steps" (the model's weights moved between them) for
two seeds, appended with the StoreWriter, and read back through `workbench.open_run`.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

import workbench as wb
from recorders.capture import collect
from recorders.groups import RecordContext, build_groups
from recorders.item_probe import item_probe_for_run
from recorders.probe import build_probe
from recorders.psychometrics import keyed_target, read_item_set
from recorders.store import StoreWriter
from seedling.config import preset
from seedling.data.constructs import POLES, construct_tokenizer
from seedling.model import GPT
from workbench.constructs import (
    construct_trajectories,
    item_recovery,
    labelled,
    recovered_step,
    recovery_icc,
    tidy_loadings,
    tidy_similarities,
    tidy_statistics,
)

TINY = {"model.n_layers": 2, "model.n_heads": 4, "model.d_model": 32, "model.n_ctx": 24, "model.d_vocab": 97}
STEPS = (0, 10, 20)


def user_items(tmp_path):
    rows = ["item,text,construct,key"]
    for c in ("extraversion", "agreeableness", "conscientiousness"):
        for p, key in ((0, 1), (1, -1)):
            for k in (0, 2):
                rows.append(f"{c[:3]}{p}{k},i am {POLES[c][p][k]} and {POLES[c][p][k + 1]},{c},{key}")
    path = tmp_path / "items.csv"
    path.write_text("\n".join(rows) + "\n")
    # response options of the log-probability probe, in the corpus's words
    (tmp_path / "items_options.csv").write_text("option,text,score\nlow,. i am quiet,1\nmid,and,2\nhigh,. i am kind,3\n")
    return read_item_set(path, options=tmp_path / "items_options.csv")


def write_run(run_dir, items, seed):
    torch.manual_seed(seed)
    model = GPT(preset("tiny", TINY).model)
    probe = build_probe(n_items=2, length=8, d_vocab=97, seed=0, n_sample=2)
    tok = construct_tokenizer()
    probe = replace(probe, items=item_probe_for_run(str(items), "builtin", tok, 24))
    [group] = build_groups(("constructs",), probe)
    writer = StoreWriter(run_dir / "records.zarr", root_attrs={"config": {}}, background=False)
    for step in STEPS:
        with torch.no_grad():  # move the weights a little, as training would between records
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p))
        rec = collect([group], RecordContext(model, probe, None))["constructs"]
        writer.append("constructs", step, rec, group.variables(model, probe), attrs=group.group_attrs(probe),
                      coords=group.coords(model, probe))
    writer.close()
    return wb.open_run(run_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cx")
    items = root / "items.csv"
    user_items(root)
    return [write_run(root.joinpath(f"seed{s}"), items, s) for s in (0, 1)]


def test_user_items_flow_into_the_store_with_their_labels(runs):
    ds = labelled(runs[0])
    assert ds.sizes["item"] == 12 and ds.sizes["condition"] == 12 and list(ds["step"].values) == list(STEPS)
    assert list(ds["construct"].values) == ["extraversion", "agreeableness", "conscientiousness"]
    assert ds["item"].values[0] == "ext00" and ds["condition"].values[-1] == "scrambled dimensions"
    assert ds["item_embedding"].dims == ("step", "layer", "item", "d_model")


def test_log_probability_probe_matches_the_model_called_directly(tmp_path):
    items = user_items(tmp_path)
    torch.manual_seed(0)
    model = GPT(preset("tiny", TINY).model).eval()
    probe = replace(build_probe(n_items=2, length=8, d_vocab=97, seed=0, n_sample=2),
                    items=item_probe_for_run(str(tmp_path / "items.csv"), "builtin", construct_tokenizer(), 24))
    [group] = build_groups(("constructs",), probe)
    rec = collect([group], RecordContext(model, probe, None))["constructs"]
    tok = construct_tokenizer()
    eot = tok.token_to_id("<|endoftext|>")
    item, option = 3, 2  # the fourth item with the option " . i am kind"
    prompt, cont = [eot] + tok.encode(items.texts[item]).ids, tok.encode(" . i am kind").ids
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt + cont])).float(), -1)[0]
    want = sum(float(logp[len(prompt) + j - 1, t]) for j, t in enumerate(cont))
    assert rec["option_logprob"].shape == (12, 3)
    assert rec["option_logprob"][item, option] == pytest.approx(want, abs=1e-4)
    p = np.exp(rec["option_logprob"][item] - rec["option_logprob"][item].max())
    assert rec["item_score"][item] == pytest.approx(float((p / p.sum()) @ [1, 2, 3]), abs=1e-5)
    keyed = np.where(items.keys > 0, rec["item_score"], 4 - rec["item_score"])
    assert rec["construct_score"][0] == pytest.approx(keyed[:4].mean(), abs=1e-5)


def test_trajectories_hold_the_value_and_the_control_band(runs):
    traj = construct_trajectories(runs[0])
    assert set(traj["statistic"]) >= {"recovery", "congruence", "domains_recovered", "hit_rate"}
    assert len(traj[traj["statistic"] == "recovery"]) == len(STEPS)
    assert (traj["null_low"] <= traj["null_median"] + 1e-9).all() and (traj["null_median"] <= traj["null_high"] + 1e-9).all()
    with pytest.raises(wb.WorkbenchError, match="layers 0..1"):
        construct_trajectories(runs[0], layer=5)


def test_recovered_step_needs_every_later_record():
    rows = [(0, 1, 0.3), (10, 3, 0.95), (20, 2, 0.95), (30, 3, 0.92), (40, 3, 0.97)]
    traj = pd.DataFrame([{"step": s, "statistic": st, "value": v} for s, d, c in rows
                         for st, v in (("domains_recovered", d), ("congruence", c))])
    assert recovered_step(traj, 3) == 30
    assert recovered_step(traj, 3, congruence=0.96) == 40
    assert recovered_step(traj[traj["step"] < 30], 3) is None


def test_item_recovery_by_hand():
    T = keyed_target(list("aaabbb"), [1, 1, -1, 1, 1, 1])
    np.testing.assert_allclose(item_recovery(T, T), 1.0)
    S = T.copy()
    S[0, 1] = S[1, 0] = 0.5  # item 0's row: [0.5, -1, 0, 0, 0] against the target's [1, -1, 0, 0, 0]
    x, y = np.array([0.5, -1, 0, 0, 0]), np.array([1, -1, 0, 0, 0])
    assert item_recovery(S, T)[0] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert item_recovery(S, T)[3] == pytest.approx(1.0)


def test_icc_across_seeds_and_tidy_tables(runs):
    table = recovery_icc(runs)
    assert list(table["n"]) == [12, 12] and list(table["k"]) == [2, 2]
    with pytest.raises(wb.WorkbenchError, match="at least 2 runs"):
        recovery_icc(runs[:1])
    lo = tidy_loadings(runs[0])
    assert len(lo) == 3 * 2 * 12 * 3 and set(lo["key"]) == {1, -1}
    assert len(tidy_similarities(runs[0])) == 3 * 2 * 12 * 11 // 2
    st = tidy_statistics(runs[0])
    assert set(st["condition"]) >= {"items", "scrambled dimensions", "shuffled labels 1"}


def test_missing_group_is_explained(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(wb.WorkbenchError, match="record it with --record"):
        tidy_loadings(wb.open_run(tmp_path))
