"""End to end on a really trained tiny run: `python -m seedling.generate` and `python -m seedling.export`."""

import json
import shutil
import threading
import time

import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

from seedling import load_run
from seedling.export import main as export_main
from seedling.generate import SWEEP
from seedling.generate import main as generate_main
from tests.train_util import cli_args, one_thread, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gen")
    out = tmp / "run"
    done = run_cli(cli_args(out, 2, ["train.checkpoint_every=1"]), tmp / "cache")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(autouse=True)
def single_thread():
    """Token-by-token decoding of tiny models is dominated by thread hand-offs on a busy machine."""
    with one_thread():
        yield


def test_generate_text_output(run_dir, capsys):
    assert generate_main([str(run_dir), "--prompt", "t1 t2 t3", "--max-new-tokens", "5", "--temperature", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("--- step 2  temperature=0.0")
    assert out[1].startswith("t1 t2 t3 t") and len(out[1].split()) <= 3 + 5


def test_generate_sweep_json_is_reproducible_with_and_without_cache(run_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("t5 t6\n\nt7\n")
    args = [str(run_dir), "--step", "1", "--sweep", "--prompts", str(prompts), "--max-new-tokens", "6", "--json", "--seed", "3"]
    assert generate_main(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 2 * len(SWEEP)
    assert [(r["temperature"], r["top_p"]) for r in records[: len(SWEEP)]] == list(SWEEP)
    assert {r["prompt"] for r in records} == {"t5 t6", "t7"} and {r["step"] for r in records} == {1}
    model, tokenizer, _ = load_run(run_dir, step=1)
    for r in records:
        assert r["n_tokens"] == len(r["token_ids"]) <= 6
        assert all(0 <= t < tokenizer.get_vocab_size() for t in r["token_ids"])  # never past the tokenizer
    assert generate_main(args + ["--no-cache"]) == 0
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["token_ids"] for r in again] == [r["token_ids"] for r in records]


def test_watch_generates_for_each_new_checkpoint(run_dir, tmp_path, capsys):
    partial = tmp_path / "run"
    shutil.copytree(run_dir, partial, ignore=shutil.ignore_patterns("step_0000002.*"))
    args = [str(partial), "--watch", "--poll", "0.05", "--watch-timeout", "2", "--json", "--prompt", "t1", "--max-new-tokens", "3"]
    codes = []
    watcher = threading.Thread(target=lambda: codes.append(generate_main(args)))
    watcher.start()
    printed = ""
    while '"step": 1' not in printed and watcher.is_alive():  # the watcher has done the newest step
        time.sleep(0.02)
        printed += capsys.readouterr().out
    for suffix in (".json", ".pt"):  # then training writes step 2, sidecar first as the trainer does
        shutil.copy(run_dir / "checkpoints" / f"step_0000002{suffix}", partial / "checkpoints")
    watcher.join(timeout=60)
    printed += capsys.readouterr().out
    assert codes == [0]
    assert [json.loads(line)["step"] for line in printed.splitlines()] == [1, 2]  # older steps 0 skipped


@pytest.mark.parametrize("args,message", [
    (["--step", "3"], "no checkpoint for step 3; available steps: 0, 1, 2"),
    (["--top-p", "1.5"], "top_p=1.5 must be in (0, 1]"),
    (["--prompt", "a", "--prompts", "f.txt"], "not both"),
    (["--device", "cpu", "--poll", "0"], "--poll 0.0 must be a positive"),
    (["--device", "gpu0"], "--device 'gpu0' is not a device; accepted: auto, cpu"),
])
def test_generate_bad_input_is_one_line_exit_2(run_dir, capsys, args, message):
    assert generate_main([str(run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_paths_and_formats_are_one_line_exit_2(run_dir, tmp_path, capsys):
    assert generate_main([str(tmp_path)]) == 2
    assert "not a run directory (no config.json)" in capsys.readouterr().err
    assert export_main([str(tmp_path), str(tmp_path / "x"), "--to", "hf"]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert export_main([str(run_dir), str(tmp_path / "x"), "--to", "hf", "--step", "7"]) == 2
    assert "available steps: 0, 1, 2" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_export_cli_round_trip(run_dir, tmp_path, capsys):
    out = tmp_path / "hf"
    assert export_main([str(run_dir), str(out), "--to", "hf"]) == 0
    hf = GPT2LMHeadModel.from_pretrained(out, local_files_only=True).eval()
    hf_tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    model, tokenizer, _ = load_run(run_dir)
    ids = tokenizer.encode("<|endoftext|>t1 t2 t3 t1 t2").ids
    assert hf_tok("<|endoftext|>t1 t2 t3 t1 t2")["input_ids"] == ids
    with torch.no_grad():
        torch.testing.assert_close(hf(torch.tensor([ids])).logits, model(torch.tensor([ids])), atol=1e-5, rtol=0)
    assert hf.config.eos_token_id == tokenizer.token_to_id("<|endoftext|>")
    capsys.readouterr()
    assert export_main([str(run_dir), str(out), "--to", "hf"]) == 2  # would overwrite: refused
    assert "--force" in capsys.readouterr().err
    assert (out / "model.safetensors").is_file()


def test_unknown_format_or_flag_is_one_line_exit_2(run_dir, tmp_path, capsys):
    assert export_main([str(run_dir), str(tmp_path / "x"), "--to", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "'onnx' is not a known format; accepted: hf" in err and err.count("\n") == 1
    for main, args in [(export_main, [str(run_dir), str(tmp_path / "x"), "--to", "hf", "--bogus"]),
                       (generate_main, [str(run_dir), "--temperature", "hot"])]:
        with pytest.raises(SystemExit) as exit_:
            main(args)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1, err
    assert "invalid float value: 'hot'" in err
    assert not (tmp_path / "x").exists()
