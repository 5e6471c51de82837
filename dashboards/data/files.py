"""Reading a run's plain files read-only: metrics.jsonl, samples.jsonl, config.json and checkpoint sidecars."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards.data.runs import SAMPLES, STORE


@st.cache_data(show_spinner=False, max_entries=32)
def load_metrics(run_dir: str, sig: tuple) -> pd.DataFrame:
    """metrics.jsonl as a table (one row per line; `event` is "step" or "eval"); a torn last line is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # the line training is writing right now
    df = pd.DataFrame(rows)
    if not df.empty and "event" not in df:
        df["event"] = "step"
    return df


@st.cache_data(show_spinner=False, max_entries=32)
def load_samples(run_dir: str, sig: tuple) -> pd.DataFrame | None:
    """samples.jsonl as a table, one row per completion: step, tokens, decoding, prompt, completion, and `ended`
    (the model produced end-of-text before the token limit).

    None when the run has no samples.jsonl (trained before it existed, or with --samples off). A torn last
    line (training is writing it) is skipped. Read as JSON here, without torch or seedling."""
    path = Path(run_dir) / SAMPLES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    rows = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        limit = (rec.get("settings") or {}).get("max_new_tokens")
        for sample in rec.get("samples") or []:
            if isinstance(sample, dict):
                n = sample.get("n_tokens")
                rows.append({"step": rec.get("step"), "tokens": rec.get("tokens"), "decoding": sample.get("decoding"),
                             "prompt": sample.get("prompt"), "completion": sample.get("completion"),
                             "ended": n is not None and limit is not None and n < limit})
    return pd.DataFrame(rows, columns=["step", "tokens", "decoding", "prompt", "completion", "ended"])


def load_config(run_dir: str) -> dict:
    """The resolved config (config.json, else the store's root attributes), or {}."""
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        meta = Path(run_dir) / STORE / "zarr.json"
        try:
            return json.loads(meta.read_text()).get("attributes", {}).get("config", {}) or {}
        except (OSError, ValueError):
            return {}


def checkpoints(run_dir: str) -> pd.DataFrame:
    """Checkpoints found in the run (step, file, and what their JSON sidecars say)."""
    run_dir = Path(run_dir)
    rows = []
    # Not a recursive glob: records.zarr holds thousands of chunk files.
    candidates = sorted({*run_dir.glob("*.pt"), *run_dir.glob("checkpoints/*.pt"), *run_dir.glob("checkpoints/*.json")})
    for path in candidates:
        if path.suffix == ".json" and path.with_suffix(".pt").exists():
            continue  # described with its .pt
        sidecar = path.with_suffix(".json")
        info = {}
        if sidecar.exists():
            try:
                info = json.loads(sidecar.read_text())
            except ValueError:
                info = {}
        info = info if isinstance(info, dict) else {}
        digits = re.findall(r"\d+", path.stem)
        step = info.get("step", int(digits[-1]) if digits else None)
        if step is None:
            continue
        rows.append({"step": step, "file": str(path.relative_to(run_dir)), **info})
    return pd.DataFrame(rows).sort_values("step").reset_index(drop=True) if rows else pd.DataFrame()
