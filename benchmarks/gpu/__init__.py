"""The GPU benchmark, `python -m benchmarks gpu`: the CUDA training path measured by one command in one process.

Four parts, each a module with one job, run in this order under one time budget (`budget`):
`throughput` (tokens/s, MFU and peak memory of the real training step; ours against transformers'
GPT2LMHeadModel; fp16 + GradScaler, bf16, TF32, fp32; eager and torch.compile), `recording` (the
cost of a record step of the default `--record` groups, and the device syncs each group forces),
`numerics` (loss curves of fp16, bf16 and fp32 from one seed; an injected inf), and `peaks` (the
peak table, MFU and the projection of the seed's plan). `harness` builds what they share; `report`
writes the JSON and the Markdown; `cli` is the command line. See benchmarks/RESULTS.md, section GPU.
"""
