"""Pick the compute device (cuda, then mps, then cpu) and the one precision policy every lab follows.

``precision="auto"`` (the default) picks bf16 autocast where the hardware runs it fast (a CUDA GPU of compute
capability >= 8.0; a CPU whose torch build has bf16 kernels for it), fp16 on older GPUs for decoder-only models,
and fp32 everywhere else. Weights stay float32 in every case: autocast computes matmuls in the low precision and
keeps the master weights and AdamW states in float32. Set ``WORKBOOK_PRECISION`` (or pass ``precision=``) to force
``fp32``, ``bf16`` or ``fp16``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import time
from pathlib import Path

import torch

CHOICES = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
ENV = "WORKBOOK_PRECISION"
PROBE_FILE = "cpu_bf16_probe.json"
PROBE_MIN_SPEEDUP = 1.3  # bf16 must beat fp32 by this much on a 1024x1024 matmul to be worth it


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
        print(f"device: {describe(dev)}; precision: {precision(dev=dev)}")
    return dev


def _torch_at_least(major: int, minor: int) -> bool:
    parts = torch.__version__.split("+")[0].split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)


def cache_dir() -> Path:
    """Where converted models and per-machine probes live: $WORKBOOK_CACHE, else ~/.cache/instruction-finetuning-workbook."""
    return Path(os.environ.get("WORKBOOK_CACHE") or Path.home() / ".cache" / "instruction-finetuning-workbook")


def precision(choice: str | None = None, dev: torch.device | None = None, kind: str = "causal") -> str:
    """The precision a run uses: 'fp32', 'bf16' or 'fp16'.

    ``choice`` None reads $WORKBOOK_PRECISION (default 'auto'). ``kind`` matters on older GPUs only: T5-family
    (seq2seq) models overflow in fp16, so they stay fp32 there.
    """
    choice = os.environ.get(ENV, "auto") if choice is None else choice
    if choice not in CHOICES:
        raise ValueError(f"unknown precision {choice!r}; choose one of: {', '.join(CHOICES)}")
    dev = dev or pick(verbose=False)
    if choice == "auto":
        if bf16_fast(dev):
            return "bf16"
        if dev.type == "cuda" and kind == "causal":
            return "fp16"
        return "fp32"
    if choice == "bf16" and not bf16_fast(dev):
        raise ValueError(f"bf16 was asked for, but {describe(dev)} has no fast bf16 kernels (a CUDA GPU of compute "
                         f"capability >= 8.0, or a CPU with AVX-512 BF16 / AMX). Use precision='auto' (picks what "
                         f"this hardware runs well) or 'fp32'.")
    if choice == "fp16" and dev.type != "cuda":
        raise ValueError(f"fp16 mixed precision needs a CUDA GPU, not {describe(dev)}: use precision='auto' or 'fp32'.")
    return choice


def dtype(choice: str | None = None, dev: torch.device | None = None, kind: str = "causal") -> torch.dtype:
    """The torch dtype of :func:`precision`."""
    return DTYPES[precision(choice, dev, kind)]


def autocast(choice: str | None = None, dev: torch.device | None = None, kind: str = "causal"):
    """A context that computes in the policy's precision (a no-op for fp32); weights stay as they are."""
    dev = dev or pick(verbose=False)
    dt = dtype(choice, dev, kind)
    if dt == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=dt)


def bf16_fast(dev: torch.device | None = None) -> bool:
    """Whether bf16 runs faster than fp32 here: compute capability >= 8.0 on CUDA (``is_bf16_supported()`` is True
    on a T4 through emulation, so it is not the test), :func:`cpu_bf16` on a CPU, never on mps."""
    dev = dev or pick(verbose=False)
    if dev.type == "cuda":
        return torch.cuda.get_device_capability(dev)[0] >= 8
    if dev.type == "cpu":
        return cpu_bf16()
    return False


@functools.lru_cache(maxsize=None)
def cpu_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls fast, from what torch reports, and a cached measurement where it is unclear.

    No oneDNN bf16 support: no. AMX: yes. AVX-512 is unclear (AVX-512 BF16 runs bf16 natively, plain AVX-512
    emulates it): a short matmul probe decides, cached per CPU model and torch version.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if not torch.backends.mkldnn.is_available() or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    if "AMX" in capability:
        return True
    return probe_speedup() >= PROBE_MIN_SPEEDUP


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_speedup(n: int = 1024, reps: int = 6) -> float:
    """fp32 time over bf16 time of an n x n matmul on this CPU (measured once, then read from the cache)."""
    key = f"{_cpu_name()} | {torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__} | n={n}"
    path = cache_dir() / PROBE_FILE
    try:
        cached = json.loads(path.read_text())
        if key in cached:
            return float(cached[key])
    except (OSError, ValueError):
        cached = {}
    times = {}
    for dt in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
        a @ b  # warm-up: oneDNN builds its kernel on the first call
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        times[dt] = best
    speedup = times[torch.float32] / times[torch.bfloat16]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cached[key] = round(speedup, 3)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(cached, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only means measuring again next time
    return speedup


def describe(dev: torch.device | None = None) -> str:
    """The device in words: GPU name, or CPU model and threads."""
    dev = dev or pick(verbose=False)
    if dev.type == "cuda":
        major, minor = torch.cuda.get_device_capability(dev)
        return f"cuda ({torch.cuda.get_device_name(dev)}, compute capability {major}.{minor})"
    if dev.type == "cpu":
        return f"cpu ({_cpu_name()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()})"
    return dev.type
