"""The GPU benchmark's outputs: `gpu.json` (everything measured) and `gpu.md` (the tables), in the --out folder.

The rows are the suite's `Row`s and print through the suite's own `table` and `markdown`, one
"benchmark" per part (throughput, recording, numerics, projection), so the figures read like the
rest of benchmarks/RESULTS.md. The JSON is rewritten after every part, so a run cut short keeps
what it measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import write_json
from benchmarks.suite import markdown

__all__ = ["JSON_NAME", "MD_NAME", "render_markdown", "write"]

JSON_NAME, MD_NAME = "gpu.json", "gpu.md"


def _sync_table(doc: dict[str, Any]) -> list[str]:
    groups = doc.get("details", {}).get("recording", {}).get("groups", [])
    if doc["device"].get("type") != "cuda" or not groups:
        return []
    out = ["", "### Device syncs of a record step, by group", "",
           "Each group alone after a real step; sites are the project lines that called a synchronising operation.", "",
           "| group | seconds | syncs | sites (count) |", "|---|---|---|---|"]
    for g in groups:
        if "skipped" in g:
            out.append(f"| {g['group']} | - | - | skipped: {g['skipped']} |")
            continue
        sites = "<br>".join(f"`{k}` x{v}" for k, v in g["sites"].items()) or "none"
        out.append(f"| {g['group']} | {g['seconds']:.3f} | {g['syncs']} | {sites} |")
    return out


def render_markdown(doc: dict[str, Any]) -> str:
    dev, shape = doc["device"], doc["shape"]
    lines = [f"# GPU benchmark: {dev['name']}, {doc['started']}", ""]
    if doc["dry_run"]:
        lines += ["**Dry run**: the same code on the CPU at the tiny shape. It checks that every part runs and "
                  "that the arithmetic holds; its figures say nothing about a GPU.", ""]
    peak = f"peak table entry {dev['peak_entry']} ({dev['peak_source']})" if dev.get("peak_entry") else \
        "no peak table entry: MFU and the T4 projection are left out"
    extra = f", compute capability {dev['capability']}, {dev['memory_gib']} GiB, CUDA {dev['cuda']}" if dev["type"] == "cuda" else ""
    lines += [f"- Device: {dev['name']}{extra}; {peak}.",
              f"- Software: torch {doc['machine']['torch']}, transformers {doc['machine']['transformers']}, "
              f"Python {doc['machine']['python']}.",
              f"- Shape: {shape['name']}: {shape['n_layers']} layers, d_model {shape['d_model']}, context {shape['n_ctx']}, "
              f"vocabulary {shape['d_vocab']:,}; {shape['seqs_per_step']} sequences per optimizer step; "
              f"micro-batch {doc['details'].get('throughput', {}).get('micro', '-')} (largest that fit, doubling "
              f"from {shape['first_micro']}).",
              f"- Budget {doc['budget_s']:.0f} s; wall {doc.get('wall_s', 0):.0f} s.", "",
              markdown(doc["sections"])]
    lines += _sync_table(doc)
    return "\n".join(lines) + "\n"


def write(out: Path, doc: dict[str, Any]) -> tuple[Path, Path]:
    """Write gpu.json and gpu.md into `out`; their paths."""
    json_path, md_path = out / JSON_NAME, out / MD_NAME
    write_json(json_path, doc)
    md_path.write_text(render_markdown(doc))
    return json_path, md_path
