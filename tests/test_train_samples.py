"""Sample completions at each checkpoint: the file, the resume cut-back, training unchanged, the flag."""

from __future__ import annotations

import json

import numpy as np
import torch

from seedling.data import prepare
from seedling.train.__main__ import main
from seedling.train.checkpoint_io import list_steps
from seedling.train.loop import Trainer
from seedling.train.metrics import read_metrics
from seedling.train.samples import FILE, CheckpointSamples, SampleSettings, prompts_from_tokens, read_samples
from tests.train_util import TINY, one_thread, tiny_config

EXTRA = ["train.max_steps=5", "train.checkpoint_every=2", "train.eval_every=1000"]


def fit(run_dir, samples: bool, resume: bool = False) -> Trainer:
    cfg = tiny_config(EXTRA)  # dropout 0.1: a disturbed RNG would change the training losses
    data = prepare(cfg, run_dir)
    trainer = Trainer(cfg, run_dir, data)
    if resume:
        assert trainer.checkpoints.resume()
    if samples:
        trainer.subscribe(CheckpointSamples(run_dir, data))
    with one_thread():
        trainer.fit()
    return trainer


def test_prompts_come_from_the_first_validation_documents():
    eot = 9
    assert prompts_from_tokens(np.array([9, 1, 2, 3, 9, 9, 4, 5, 6, 9]), eot, 2, 2) == [[1, 2], [4, 5]]
    assert prompts_from_tokens(np.array([1, 2, 3, 4, 5]), eot, 2, 2) == [[1, 2], [3, 4]]  # one document: windows fill in
    assert prompts_from_tokens(np.array([1, 2, 3]), None, 3, 2) == [[1, 2], [3]]


def test_a_line_per_checkpoint_and_training_is_bit_identical(tmp_path):
    plain = fit(tmp_path / "plain", samples=False)
    run = tmp_path / "samples"
    sampled = fit(run, samples=True)
    for (name, a), b in zip(plain.model.state_dict().items(), sampled.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    losses = [[(r["loss"], r["grad_norm"]) for r in read_metrics(d / "metrics.jsonl", "step")]
              for d in (tmp_path / "plain", run)]
    assert losses[0] == losses[1]
    assert sampled.model.training  # put back in train mode
    assert not (tmp_path / "plain" / FILE).exists()

    lines = read_samples(run / FILE)
    saved = [r["step"] for r in read_metrics(run / "metrics.jsonl", "checkpoint")]
    assert [r["step"] for r in lines] == saved == [0, 1, 2, 4, 5]
    assert [r["tokens"] for r in lines] == [s * 256 for s in saved]  # micro batch 4 x accum 2 x 32 tokens
    first = lines[0]
    assert first["settings"] == json.loads(json.dumps(SampleSettings().__dict__))
    assert [s["decoding"] for s in first["samples"]] == ["greedy", "top_p=0.9"] * 3
    prompts = [s["prompt"].split() for s in first["samples"][::2]]
    assert [len(p) for p in prompts] == [8, 8, 12]  # synthetic symbols t0..t255; the third repeats a span
    assert prompts[2] == prompts[0] + prompts[0][:4]  # the induction probe: the first prompt, then its first half
    for s in first["samples"]:
        assert s["prompt"].startswith("t")
        assert 0 <= s["n_tokens"] <= 24 and isinstance(s["completion"], str)
    assert any(s["completion"] for r in lines for s in r["samples"])

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # generation runs on one thread; training's own setting comes back
    try:
        CheckpointSamples(run, sampled.data).on_checkpoint(sampled.state)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert read_samples(run / FILE)[-1]["samples"] == lines[-1]["samples"]  # same weights: the same completions


def test_resume_cuts_the_file_back_and_regenerates_the_same_lines(tmp_path):
    run = tmp_path / "run"
    fit(run, samples=True)
    before = (run / FILE).read_text().splitlines()
    for late in ("step_0000004", "step_0000005"):
        for f in (run / "checkpoints").glob(late + "*"):
            f.unlink()  # as if killed after writing samples for 4 and 5 but before their checkpoints
    with open(run / FILE, "a") as f:
        f.write('{"step": 6, "samp')  # and a torn line
    fit(run, samples=True, resume=True)
    after = (run / FILE).read_text().splitlines()
    assert [json.loads(line)["step"] for line in after] == [0, 1, 2, 4, 5]  # each checkpoint once, no torn line
    assert after == before  # same weights, same prompts, same seed: the same completions


def test_cli_writes_samples_by_default_and_not_with_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDLING_CACHE", str(tmp_path / "cache"))
    sets = [a for s in TINY for a in ("--set", s)]
    with one_thread():
        assert main(["--out", str(tmp_path / "on"), "--max-steps", "2", "--quiet", *sets]) == 0
        assert main(["--out", str(tmp_path / "off"), "--max-steps", "2", "--quiet", "--samples", "off", *sets]) == 0
    assert [r["step"] for r in read_samples(tmp_path / "on" / FILE)] == list_steps(tmp_path / "on" / "checkpoints")
    assert not (tmp_path / "off" / FILE).exists()
