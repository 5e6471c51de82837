"""Generate: completions from any checkpoint, with temperature and top-p (the only page that loads torch)."""

import json
from pathlib import Path

import streamlit as st

from dashboards import choices, data, ui

st.title("Generate")
st.caption("Ask a checkpoint to continue a prompt. Temperature rescales the logits (p_i proportional to "
           "exp(z_i / T)); top-p keeps the smallest set of tokens whose probabilities sum to p.")
runs = ui.run_choice()


@st.cache_resource(max_entries=2, show_spinner="Loading the checkpoint...")
def load_model(run_dir: str, step: int | None):
    """The model, tokenizer and config of one checkpoint (torch is imported here, not at page load)."""
    from seedling import load_run

    return load_run(run_dir, step=step)


def complete(run_dir: str, step: int | None, prompt: str, max_new: int, temperature: float, top_p: float,
             seed: int) -> dict:
    """One continuation of `prompt` from the checkpoint (seedling.generate.generate_text: text, ids, speed)."""
    from seedling.generate import Settings, generate_text

    model, tokenizer, _cfg = load_model(run_dir, step)
    settings = Settings(max_new_tokens=max_new, temperature=temperature, top_p=top_p, seed=seed)
    return generate_text(model, tokenizer, prompt, settings)


@st.cache_resource(max_entries=4, show_spinner=False)
def run_tokenizer(run_dir: str):
    """The run's tokenizer.json (the `tokenizers` library only: no torch), or None."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(Path(run_dir) / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - missing or unreadable: the check is skipped, generation reports its own error
        return None


def vocabulary_warning(run_dir: str, prompt: str) -> str | None:
    """A warning when the prompt holds words the run's tokenizer does not know (they become its unknown token):
    the synthetic induction task knows only its 64 symbols, so "Once upon a time" is four unknown tokens."""
    tok = run_tokenizer(run_dir)
    if tok is None or not prompt:
        return None
    model = json.loads(tok.to_str()).get("model", {})
    unk = model.get("unk_token")
    unk_id = tok.token_to_id(unk) if unk else None
    ids = tok.encode(prompt).ids
    n = choices.out_of_vocabulary(ids, unk_id, tok.get_vocab_size())
    if not n:
        return None
    known = ", ".join(sorted(tok.get_vocab(), key=len)[:6])
    return (f"{n} of the prompt's {len(ids)} tokens are outside this run's vocabulary ({tok.get_vocab_size()} "
            f"tokens, e.g. {known}): the model sees them as {unk!r}. Write the prompt in the run's own tokens.")


def page() -> None:
    run = str(runs[0])
    ckpts = data.checkpoints(run)
    if not ui.need(ckpts, "checkpoints"):
        return
    steps = sorted({int(s) for s in ckpts["step"]})  # best.pt repeats a step
    ui.valid_choice("gen_step", steps)
    step = st.selectbox("Checkpoint (step)", steps, index=len(steps) - 1, key="gen_step")
    prompt = st.text_area("Prompt", "Once upon a time", key="gen_prompt")
    if warning := vocabulary_warning(run, prompt):
        st.warning(warning)
    c1, c2, c3, c4 = st.columns(4)
    temperature = c1.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="gen_temp",
                            help="0 picks the most likely token every time")
    top_p = c2.slider("Top-p", 0.05, 1.0, 0.95, 0.05, key="gen_top_p")
    max_new = c3.number_input("New tokens", 1, 512, 64, key="gen_max")
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed")
    left, right = st.columns(2)
    if right.button("Generate at every checkpoint", key="gen_all",
                    help="the same prompt and settings at each checkpoint: how the completions change over training"):
        for ckpt_step in steps:
            try:
                record = complete(run, ckpt_step, prompt, int(max_new), float(temperature), float(top_p), int(seed))
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                st.error(f"step {ckpt_step}: {err}")
            else:
                st.markdown(f"**step {ckpt_step}:** {prompt}{record['text']}")
    if left.button("Generate", type="primary", key="gen_go"):
        try:
            record = complete(run, step, prompt, int(max_new), float(temperature), float(top_p), int(seed))
        except (OSError, ValueError, KeyError, RuntimeError) as err:  # ConfigError, CheckpointError
            st.error(f"Could not generate from the checkpoint at step {step}: {err}")
        else:
            st.markdown(f"**{prompt}**{record['text']}")
            st.caption(f"{record['n_tokens']} new tokens in {record['seconds']} s"
                       + (" (stopped at end of text)" if record["stopped_at_eot"] else ""))


if runs:
    ui.body(page)
