"""Peak memory (resident set size) of a few training steps of each model, each in a fresh process.

Each case (size x model) runs two training steps alone in its own process; the kernel's record of
that process's peak RSS is the figure. `baseline` is the RSS after imports, before the model is
built, so peak - baseline is what the model, its gradients, AdamW state and activations cost.
Ratio = ours / ref (lower is better for us). Units: MiB (2^20 bytes).
"""

from __future__ import annotations

from benchmarks.common import Options, Row, run_python_case
from benchmarks.models import SIZES

NAME = "memory"
SUMMARY = "peak RSS of 2 training steps, ours vs transformers GPT-2, one fresh process per case"


def run(opts: Options) -> list[Row]:
    rows = []
    sizes = ["tiny"] if opts.quick else list(SIZES)
    for name in sizes:
        res = {}
        for kind in ("ours", "ref"):
            args = ["train-steps", name, kind, "--steps", "2"] + (["--quick"] if opts.quick else [])
            args += ["--threads", str(opts.threads)] if opts.threads is not None else []
            res[kind] = run_python_case(args, timeout=300)
        (o, o_peak), (r, r_peak) = res["ours"], res["ref"]
        label = f"{name} (B={o['batch']}, T={o['n_ctx']})"
        rows.append(Row(case=label, metric="peak RSS, 2 train steps", ours=o_peak, ref=r_peak, ratio=o_peak / r_peak,
                        unit="MiB", note=f"after imports: ours {o['baseline_rss_mb']:.0f}, ref {r['baseline_rss_mb']:.0f} MiB"))
        o_net, r_net = o_peak - o["baseline_rss_mb"], r_peak - r["baseline_rss_mb"]
        rows.append(Row(case=label, metric="peak RSS above imports", ours=o_net, ref=r_net, ratio=o_net / r_net,
                        unit="MiB", note="model + grads + AdamW state + activations"))
    return rows
