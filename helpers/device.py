"""Pick the compute device and precision once: cuda, then mps, then cpu."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=None)
def pick(verbose: bool = True) -> torch.device:
    """cuda if present; mps on torch >= 2.3 (older builds give wrong results in places); else cpu."""
    if torch.cuda.is_available():
        dev = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() and _torch_at_least(2, 3):
        dev = torch.device("mps")
    else:
        dev = torch.device("cpu")
    if verbose:
        print(f"device: {describe(dev)}; precision: {precision(dev)}")
    return dev


def _torch_at_least(major: int, minor: int) -> bool:
    parts = torch.__version__.split("+")[0].split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)


def precision(dev: torch.device | None = None) -> str:
    """'bf16' where the GPU supports it, 'fp16' on older GPUs (T4), 'no' (fp32) on CPU and mps."""
    dev = dev or pick(verbose=False)
    if dev.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def dtype(dev: torch.device | None = None) -> torch.dtype:
    """The torch dtype matching :func:`precision`."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "no": torch.float32}[precision(dev)]


def describe(dev: torch.device | None = None) -> str:
    dev = dev or pick(verbose=False)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return dev.type
