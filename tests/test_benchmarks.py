"""The benchmark suite keeps running: one benchmark's quick mode in-process, the table, the CLI's errors."""

from __future__ import annotations

import math

import pytest

from benchmarks import __main__ as cli
from benchmarks import train_throughput
from benchmarks.common import Options, interleaved, median, median_ci, paired_ratio
from benchmarks.models import SIZES, flops_per_token
from benchmarks.suite import table


def test_train_quick_measures_both_models_side_by_side():
    rows = train_throughput.run(Options(quick=True, repeat=2))
    by_metric = {r.metric: r for r in rows}
    ours = by_metric["train tokens/s [ours]"]
    # The reported clock's samples, and the other clock's (wall and CPU time) kept for the JSON.
    other = "CPU time" if "ours (CPU time)" in ours.samples else "wall"
    assert set(ours.samples) == {"ours", "ref", f"ours ({other})", f"ref ({other})"}
    assert all(len(v) == 2 for v in ours.samples.values())
    assert ours.ours > 0 and ours.ref > 0 and ours.ratio > 0
    # The ratio is the median of paired ratios ref_seconds / ours_seconds, not a ratio of medians,
    # and its interquartile range brackets it.
    assert ours.ratio == pytest.approx(median([r / o for r, o in zip(ours.samples["ref"], ours.samples["ours"])]))
    assert ours.ratio_q1 <= ours.ratio <= ours.ratio_q3
    mfu = by_metric["MFU [ours]"]
    assert 0 < mfu.ours and mfu.ratio == pytest.approx(mfu.ours / mfu.ref)
    text = table({"train": {"status": "ok", "rows": [r.to_dict() for r in rows], "wall_s": 1.0}})
    assert "train tokens/s [ours]" in text and "train: ok" in text and "(IQR " in text


def test_paired_ratio_and_median_ci():
    med, q1, q3 = paired_ratio([2.0, 4.0, 6.0, 8.0, 10.0], [1.0, 2.0, 2.0, 2.0, 10.0])  # pairs 2, 2, 3, 4, 1
    assert (med, q1, q3) == (2.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="equal"):
        paired_ratio([1.0], [1.0, 2.0])
    assert median_ci([1.0] * 5) is None  # five samples cannot give a 95% interval for the median
    # n = 11: P(Binomial(11, 1/2) <= 1) = 0.0059 <= 0.025 < P(<= 2) = 0.033, so the 2nd and 10th values.
    assert median_ci([float(x) for x in range(11, 0, -1)]) == (2.0, 10.0)


def test_cpu_time_samples_leave_out_sleep():
    import time

    cpu: dict[str, list[float]] = {}
    wall = interleaved({"sleep": lambda: time.sleep(0.02)}, repeat=2, warmup=0, cpu=cpu)
    assert all(w >= 0.02 for w in wall["sleep"]) and all(c < 0.01 for c in cpu["sleep"])


def test_interleaved_alternates_order_and_counts_samples():
    calls = []
    t = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=3, warmup=1, inner=2)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b", "b"]
    assert {k: len(v) for k, v in t.items()} == {"a": 3, "b": 3}


def test_flops_per_token_matches_hand_count_for_tiny():
    m = SIZES["tiny"].config().model  # 2 layers, d_model 128, n_ctx 128, vocab 2048
    n = 2 * (4 * 128 * 128 + 2 * 128 * 512) + 2048 * 128
    assert math.isclose(flops_per_token(SIZES["tiny"].config()), 6 * n + 12 * 2 * 128 * 128)
    assert m.n_layers == 2


def test_cli_rejects_unknown_benchmark(capsys):
    assert cli.main(["no-such-bench"]) == 2
    err = capsys.readouterr().err
    assert "no-such-bench" in err and "train" in err and len(err.strip().splitlines()) == 1


def test_recorder_step_timing_at_a_preset_shape():
    from benchmarks.recorder_small import time_small

    t = time_small(reps=1, micro=2, preset_name="tiny")
    assert t["micro_batch"] == 2 and t["sequences_per_step"] == 16 and t["n_ctx"] == 128
    # A record step runs probe forwards and every group's measurement: it costs real CPU time, and more
    # than the optimizer's update of 0.68M parameters.
    assert t["micro"] > 0 and t["record"] > t["optimizer"] > 0


# --- python -m benchmarks gpu ----------------------------------------------------------------------

@pytest.mark.slow  # about 20 s on an idle machine, over a minute on a loaded one
def test_gpu_dry_run_writes_every_part_with_sane_numbers(tmp_path):
    """The GPU command's --dry-run: the same code on the CPU at the tiny shape, in a subprocess (it sets
    process-wide torch flags and compiles); every part is there and its figures hang together."""
    import json
    import os
    import subprocess
    import sys

    from recorders import parse_spec

    out = tmp_path / "gpu"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "benchmarks", "gpu", "--dry-run", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads((out / "gpu.json").read_text())
    md = (out / "gpu.md").read_text()
    assert set(doc["sections"]) == {"throughput", "recording", "numerics", "projection"}
    assert all(s["status"] == "ok" for s in doc["sections"].values()), {k: s["message"] for k, s in doc["sections"].items()}
    for name in doc["sections"]:
        assert f"| {name} |" in md and f"\n{name} " in res.stdout  # the Markdown and the printed table
    assert "Dry run" in md and doc["dry_run"] and doc["device"]["name"] == "CPU"

    cases = {(c["precision"], c["compiled"]): c for c in doc["details"]["throughput"]["cases"]}
    for key in [(p, c) for p in ("fp16", "bf16", "fp32") for c in (False, True)]:
        tps = cases[key]["tokens_per_s"]
        assert tps["ours"] > 0 and tps["ref"] > 0 and math.isfinite(cases[key]["ratio"]), key
        assert all(math.isfinite(v) for v in cases[key]["final_loss"].values())
    assert "CUDA" in cases[("tf32", False)]["skipped"]  # the CPU has no TF32: skipped, with the reason
    assert doc["details"]["throughput"]["micro"] == 8  # doubling 4, 8: the dry run's whole step fits

    rec = {r["metric"]: r for r in doc["sections"]["recording"]["rows"] if not r["case"].startswith("group")}
    # Both overheads come from one record cost: their ratio is the ratio of record counts over the
    # tiny plan's 300 steps (every=50: 0, 50, ..., 300; every=500: step 0 only).
    assert rec["overhead at every=50"]["ours"] == pytest.approx(7 * rec["overhead at every=500"]["ours"])
    groups = [r for r in doc["sections"]["recording"]["rows"] if r["case"].startswith("group")]
    assert len(groups) == len(parse_spec("").what) and all(r["ours"] > 0 for r in groups)

    num = doc["details"]["numerics"]["curves"]
    assert set(num) == {"fp32", "fp16", "bf16"} and all(len(c["losses"]) == 6 for c in num.values())
    assert num["fp16"]["agreement"]["within"] and num["bf16"]["agreement"]["within"]
    inj = num["fp16"]["injected_inf"]
    assert inj["ok"] and inj["weights_unchanged"] and inj["scale_after"] == inj["scale_before"] / 2

    proj = {p["case"]: p for p in doc["details"]["projection"]["projections"]}
    fp16 = cases[("fp16", False)]["tokens_per_s"]["ours"]
    assert proj["fp16 eager"]["hours"] == pytest.approx(doc["shape"]["plan_tokens"] / fp16 / 3600)
    assert proj["fp16 eager"]["usd"] == pytest.approx(2.5 * proj["fp16 eager"]["hours"])
    assert proj["fp16 eager"]["t4_tokens_per_s"] is None  # the CPU is in no peak table


def test_gpu_command_errors_are_one_line(capsys, tmp_path):
    import torch

    assert cli.main(["gpu", "--dry-run", "--budget", "0"]) == 2
    assert cli.main(["gpu", "--usd-per-hour", "-1"]) == 2
    if not torch.cuda.is_available():
        assert cli.main(["gpu", "--out", str(tmp_path / "x")]) == 2
        assert not (tmp_path / "x").exists()  # nothing written when nothing can run
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("error: ") for line in err) and len(err) == (2 if torch.cuda.is_available() else 3)


def test_gpu_peak_table_mfu_and_t4_projection():
    from benchmarks.gpu.peaks import T4, lookup, mfu, plan_cost, t4_tokens_per_s

    names = {"Tesla T4": "T4", "NVIDIA A100-SXM4-80GB": "A100", "NVIDIA A10G": "A10G", "NVIDIA A10": "A10",
             "NVIDIA H100 80GB HBM3": "H100 SXM", "NVIDIA H100 PCIe": "H100 PCIe", "NVIDIA H200": "H200 SXM",
             "NVIDIA L4": "L4", "NVIDIA L40S": "L40S", "Tesla V100-SXM2-16GB": "V100 SXM2",
             "NVIDIA GeForce RTX 4090": "RTX 4090"}
    assert {n: lookup(n).name for n in names} == names
    assert lookup("Some Future GPU") is None
    h100 = lookup("NVIDIA H100 80GB HBM3")
    # fp16 on a T4 at the same MFU: x 65 / 989; a T4 has no bf16 or TF32 to project to.
    assert t4_tokens_per_s(989_000.0, h100, "fp16")[0] == pytest.approx(65_000.0)
    assert t4_tokens_per_s(1.0, h100, "bf16")[0] is None and t4_tokens_per_s(1.0, None, "fp16")[0] is None
    assert T4.peak("fp32") == 8.1
    fpt = flops_per_token(SIZES["seedling"].config())
    assert mfu(1e12 / fpt, fpt, 1.0) == pytest.approx(1.0)  # one TFLOP/s of model work on a 1 TFLOP/s device
    assert plan_cost(7.2e9, 1e6, 0.5) == pytest.approx((2.0, 1.0))


def test_gpu_budget_refuses_late_cases_and_attempt_turns_oom_into_a_reason():
    import torch

    from benchmarks.gpu.budget import Budget, attempt

    b = Budget(100.0, {"a": 0.1, "b": 0.9})
    assert b.refuse("a", 5.0) is None and "a budget" in b.refuse("a", 50.0) and b.refuse("b", 50.0) is None

    def oom():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert attempt(oom, torch.device("cpu")) == (None, "out of memory: OutOfMemoryError: CUDA out of memory. "
                                                       "Tried to allocate 2.00 GiB")
    with pytest.raises(ValueError):  # any other failure is a bug, not a skipped case...
        attempt(lambda: int("x"), torch.device("cpu"))
    res, reason = attempt(lambda: int("x"), torch.device("cpu"), any_error=True)  # ...except where asked
    assert res is None and reason.startswith("failed: ValueError")


def test_gpu_sync_sites_name_the_project_line_that_called():
    import traceback

    from benchmarks.gpu.recording import _site, sync_watch

    def inner():
        return _site(traceback.extract_stack())

    site = inner()  # innermost project frame first, then its caller
    assert site.startswith("tests/test_benchmarks.py:") and "(inner) <- tests/test_benchmarks.py:" in site
    import torch

    with sync_watch(torch.device("cpu")) as sites:  # a CPU has nothing to wait for
        torch.ones(3).sum().item()
    assert sites == {}
