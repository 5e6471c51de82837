"""Peak matmul throughput by GPU and precision, model FLOPs utilisation, and the projection of a training plan.

Peaks are the vendors' dense figures (no 2:4 sparsity), in TFLOP/s: fp16 and bf16 are tensor-core
rates with fp32 accumulation (what cuBLAS uses under autocast), tf32 the TF32 tensor-core rate,
fp32 the plain CUDA-core rate (PyTorch's default for fp32 matmuls, TF32 off). A device whose name
matches no entry gets no MFU and no T4 projection, only tokens/s.

>>> lookup("Tesla T4").name, lookup("NVIDIA A10G").name, lookup("NVIDIA A100-SXM4-80GB").name
('T4', 'A10G', 'A100')
>>> lookup("NVIDIA H100 PCIe").tflops["bf16"], lookup("AMD EPYC 7B13") is None
(756.0, True)
>>> round(mfu(100_000.0, 3.5e8, 65.0), 4)  # 100k tokens/s x 350 MFLOP/token on a T4's 65 TFLOP/s
0.5385
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PEAKS", "T4", "DevicePeak", "lookup", "mfu", "plan_cost", "t4_tokens_per_s"]

PRECISIONS = ("fp16", "bf16", "tf32", "fp32")


@dataclass(frozen=True)
class DevicePeak:
    """One GPU model: the pattern its CUDA device name matches, dense TFLOP/s per precision, the source."""

    name: str
    pattern: str  # a regular expression searched in torch.cuda.get_device_name(), case-insensitive
    tflops: dict[str, float | None]  # precision -> dense TFLOP/s; None: the GPU has no such mode
    source: str

    def peak(self, precision: str) -> float | None:
        return self.tflops.get(precision)


def _p(fp16: float, bf16: float | None, tf32: float | None, fp32: float) -> dict[str, float | None]:
    return {"fp16": fp16, "bf16": bf16, "tf32": tf32, "fp32": fp32}


# More specific names first: "H100 PCIe" before "H100", "A100" and "A10G" before "A10", "L40S" before "L4".
PEAKS: tuple[DevicePeak, ...] = (
    DevicePeak("T4", r"\bT4\b", _p(65.0, None, None, 8.1), "NVIDIA T4 datasheet"),
    DevicePeak("V100S PCIe", r"V100S", _p(130.0, None, None, 16.4), "NVIDIA V100 datasheet"),
    DevicePeak("V100 PCIe", r"V100.*PCIE", _p(112.0, None, None, 14.0), "NVIDIA V100 datasheet"),
    DevicePeak("V100 SXM2", r"V100", _p(125.0, None, None, 15.7), "NVIDIA V100 datasheet"),
    DevicePeak("A100", r"A100", _p(312.0, 312.0, 156.0, 19.5), "NVIDIA A100 datasheet (SXM and PCIe alike)"),
    DevicePeak("A10G", r"A10G", _p(70.0, 70.0, 35.0, 31.2),
               "no NVIDIA datasheet (an AWS part); tensor rates as commonly quoted, about half an A10's: approximate"),
    DevicePeak("A10", r"\bA10\b", _p(125.0, 125.0, 62.5, 31.2), "NVIDIA A10 datasheet"),
    DevicePeak("L40S", r"L40S", _p(362.0, 362.0, 183.0, 91.6), "NVIDIA L40S datasheet"),
    DevicePeak("L4", r"\bL4\b", _p(121.0, 121.0, 60.0, 30.3), "NVIDIA L4 datasheet"),
    DevicePeak("H100 PCIe", r"H100.*PCIE", _p(756.0, 756.0, 378.0, 51.2), "NVIDIA H100 datasheet"),
    DevicePeak("H100 NVL", r"H100.*NVL", _p(835.0, 835.0, 418.0, 60.0), "NVIDIA H100 datasheet"),
    DevicePeak("H100 SXM", r"H100", _p(989.0, 989.0, 495.0, 67.0), "NVIDIA H100 datasheet"),
    DevicePeak("H200 NVL", r"H200.*NVL", _p(835.0, 835.0, 418.0, 60.0), "NVIDIA H200 datasheet"),
    DevicePeak("H200 SXM", r"H200", _p(989.0, 989.0, 495.0, 67.0), "NVIDIA H200 datasheet"),
    DevicePeak("RTX 3090", r"RTX 3090", _p(71.0, 71.0, 35.6, 35.6),
               "NVIDIA Ampere GA102 whitepaper (fp16/bf16 with fp32 accumulate)"),
    DevicePeak("RTX 4090", r"RTX 4090", _p(165.2, 165.2, 82.6, 82.6),
               "NVIDIA Ada Lovelace whitepaper (fp16/bf16 with fp32 accumulate)"),
)
T4 = PEAKS[0]


def lookup(device_name: str) -> DevicePeak | None:
    """The first entry whose pattern the device name matches, or None for an unknown device."""
    return next((p for p in PEAKS if re.search(p.pattern, device_name, re.IGNORECASE)), None)


def mfu(tokens_per_s: float, flops_per_token: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the device's peak for the precision, a fraction.

    MFU = tokens/s x FLOPs per token / (peak TFLOP/s x 1e12) (Chowdhery et al. 2022, PaLM, appendix B),
    with FLOPs per token = 6N + 12 L T d_model (`benchmarks.models.flops_per_token`).
    """
    return tokens_per_s * flops_per_token / (peak_tflops * 1e12)


def t4_tokens_per_s(tokens_per_s: float, here: DevicePeak | None, precision: str) -> tuple[float | None, str]:
    """A projection, not a measurement: this device's tokens/s scaled by the ratio of T4 peak to this peak.

    Assumes the same MFU on both. (tokens/s or None, a note saying which ratio, or why there is none.)
    """
    if here is None:
        return None, "unknown device: no peak to scale by"
    t4, ours = T4.peak(precision), here.peak(precision)
    if t4 is None:
        return None, f"a T4 has no {precision} tensor mode"
    if ours is None:
        return None, f"{here.name} has no {precision} mode"
    return tokens_per_s * t4 / ours, f"x {t4:g}/{ours:g} TFLOP/s ({precision} peaks), same MFU assumed"


def plan_cost(plan_tokens: float, tokens_per_s: float, usd_per_hour: float) -> tuple[float, float]:
    """(hours, US dollars) to train `plan_tokens` at `tokens_per_s` on a machine rented at `usd_per_hour`.

    >>> plan_cost(3.6e9, 1e6, 2.0)  # 3.6e9 tokens at 1M tokens/s: one hour
    (1.0, 2.0)
    """
    hours = plan_tokens / tokens_per_s / 3600.0
    return hours, hours * usd_per_hour
