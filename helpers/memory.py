"""Memory budget of full fine-tuning: weights, gradients, AdamW states and activations, estimated and measured.

The estimate is the usual back-of-the-envelope one (per parameter: weights in the training precision plus an fp32
master copy under mixed precision, gradients, two AdamW moments; activations from the layer shapes), good to a
factor well under 2, which is what a learner needs to see why a 7B model does not fit on one GPU. ``per_gpu_bytes``
and ``zero_table`` divide the same bill over data-parallel GPUs as DDP and ZeRO stages 1-3 do.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading
from dataclasses import dataclass

import psutil  # installed with accelerate
import torch

from .models import n_params

try:
    import resource  # the process's peak RSS where /proc is absent (macOS)
except ImportError:  # Windows has no resource module: peak_bytes reads psutil's peak working set there
    resource = None

GIB = 1024 ** 3
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# Common accelerator memory sizes (GiB) the extrapolation is compared against.
GPUS = {"T4 16 GB": 16, "A10G 24 GB": 24, "L4 24 GB": 24, "A100 40 GB": 40, "A100/H100 80 GB": 80}


@dataclass
class Estimate:
    """Bytes of each part of full fine-tuning with AdamW."""

    params: int
    precision: str
    weights: float
    master_weights: float
    gradients: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.master_weights + self.gradients + self.optimizer + self.activations

    @property
    def static(self) -> float:
        """Everything but activations: what stays whatever the batch size."""
        return self.total - self.activations

    def rows(self) -> list[tuple[str, float]]:
        return [("weights", self.weights), ("fp32 master weights", self.master_weights), ("gradients", self.gradients),
                ("AdamW states (m, v)", self.optimizer), ("activations", self.activations), ("total", self.total)]

    def table(self) -> str:
        """Markdown table in MiB / GiB."""
        lines = ["| part | bytes | GiB |", "|---|---|---|"]
        lines += [f"| {name} | {value:,.0f} | {value / GIB:.3f} |" for name, value in self.rows()]
        return "\n".join(lines)


def _check_precision(precision: str) -> str:
    """The precision's key in BYTES ('no', accelerate's name for none, is fp32); anything else is refused."""
    if precision not in ("no", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'no'/'fp32' (float32), 'bf16' or 'fp16', got {precision!r}")
    return "fp32" if precision == "no" else precision


def activation_bytes(batch: int, seq: int, hidden: int, layers: int, heads: int, vocab: int,
                     intermediate: int | None = None,
                     precision: str = "fp32", gradient_checkpointing: bool = False) -> float:
    """Activations kept for backward by a decoder-only transformer (SDPA attention, SwiGLU MLP).

    Per layer and token, roughly: the attention block keeps ~4·h (inputs to q/k/v/o and the norms) and the MLP
    ~(2·h + 3·i) (inputs to the three projections and the gate activations); the logits and their softmax keep
    2·vocab per token in fp32. With gradient checkpointing only each layer's input (h per token) is kept.
    """
    if min(batch, seq, hidden, layers, heads, vocab) <= 0:
        raise ValueError("batch, seq, hidden, layers, heads and vocab must all be positive")
    b = BYTES[_check_precision(precision)]
    inter = intermediate or 4 * hidden
    tokens = batch * seq
    per_layer = (hidden if gradient_checkpointing else (6 * hidden + 3 * inter)) * tokens * b
    logits = 2 * vocab * tokens * 4
    return layers * per_layer + logits


def estimate(params: int, precision: str = "fp32", activations: float = 0.0) -> Estimate:
    """Bytes for full fine-tuning of ``params`` parameters; ``precision`` 'fp32'/'no', 'bf16' or 'fp16' (mixed).

    The ZeRO paper's accounting: fp32 training keeps weights and gradients in fp32 (4 + 4 bytes a parameter);
    mixed precision keeps half-precision weights and gradients (2 + 2) plus an fp32 master copy (4); AdamW adds two
    fp32 moments (8). Either way 16 bytes a parameter before activations. (``torch.autocast`` over an fp32 model, as
    accelerate does, keeps fp32 gradients and casts the weights on the fly: about the same total.)
    """
    if params <= 0:
        raise ValueError(f"params must be positive, got {params}")
    precision = _check_precision(precision)
    b = BYTES[precision]
    master = params * 4.0 if precision != "fp32" else 0.0
    return Estimate(params, precision, params * b, master, params * b, params * 8.0, float(activations))


def estimate_for(model, batch: int, seq: int, precision: str = "fp32", gradient_checkpointing: bool = False) -> Estimate:
    """The estimate for a transformers model's config and a batch of ``batch`` x ``seq`` tokens."""
    c = model.config
    hidden = getattr(c, "hidden_size", None) or getattr(c, "d_model")
    layers = getattr(c, "num_hidden_layers", None) or getattr(c, "num_layers")
    if getattr(c, "is_encoder_decoder", False):
        layers += getattr(c, "num_decoder_layers", layers)
    heads = getattr(c, "num_attention_heads", None) or getattr(c, "num_heads")
    inter = getattr(c, "intermediate_size", None) or getattr(c, "d_ff", None)
    act = activation_bytes(batch, seq, hidden, layers, heads, c.vocab_size, inter, precision, gradient_checkpointing)
    return estimate(n_params(model), precision, act)


def extrapolate(sizes: dict[str, float] | None = None, precision: str = "bf16") -> list[dict]:
    """Static bytes (weights, gradients, AdamW) of full fine-tuning for bigger models, and which GPUs they fit."""
    sizes = sizes or {"135M": 135e6, "1B": 1e9, "7B": 7e9, "70B": 70e9}
    out = []
    for name, n in sizes.items():
        e = estimate(int(n), precision)
        gib = e.static / GIB
        fits = [g for g, mem in GPUS.items() if gib <= mem]
        out.append({"model": name, "params": int(n), "gib": gib, "bytes_per_param": e.static / n,
                    "fits": fits, "gpus_80gb_needed": int(-(-gib // 80))})
    return out


# --- ZeRO: sharding the model states over data-parallel GPUs ---------------------------------------------------

GB = 1e9  # the ZeRO paper's gigabyte (10^9 bytes)
# The ZeRO paper's names: stage 0 is plain data parallelism (DDP), stage n shards one more kind of model state.
ZERO_STAGES = {0: "DDP", 1: "ZeRO-1", 2: "ZeRO-2", 3: "ZeRO-3"}


def per_gpu_bytes(params: int | float, n_gpus: int, stage: int, weight_bytes: int = 2, grad_bytes: int = 2,
                  optimizer_bytes: int = 12) -> float:
    """Bytes of model states each GPU holds in mixed-precision AdamW training, under DDP (stage 0) or ZeRO 1/2/3.

    The ZeRO paper's accounting (Rajbhandari et al. 2020, section 3): per parameter, fp16/bf16 weights (2 bytes),
    fp16/bf16 gradients (2) and optimizer states K = 12 (the fp32 master copy, momentum and variance, 4 each), so 16
    bytes with DDP. Stage 1 divides the optimizer states over the ``n_gpus``, stage 2 the gradients as well, stage 3
    the weights as well. Activations, temporary buffers and fragmentation are not counted.
    """
    if isinstance(params, bool) or not isinstance(params, (int, float)) or not params > 0:
        raise ValueError(f"params must be a positive number of parameters, got {params!r}")
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, int) or n_gpus < 1:
        raise ValueError(f"n_gpus must be an integer >= 1 (the data-parallel GPUs sharing the states), got {n_gpus!r}")
    if isinstance(stage, bool) or stage not in ZERO_STAGES:
        raise ValueError(f"stage must be 0 (DDP), 1, 2 or 3 (ZeRO stages), got {stage!r}")
    for name, value in (("weight_bytes", weight_bytes), ("grad_bytes", grad_bytes),
                        ("optimizer_bytes", optimizer_bytes)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number of bytes per parameter >= 0, got {value!r}")
    weights = weight_bytes / (n_gpus if stage >= 3 else 1)
    grads = grad_bytes / (n_gpus if stage >= 2 else 1)
    states = optimizer_bytes / (n_gpus if stage >= 1 else 1)
    return params * (weights + grads + states)


def zero_rows(sizes: dict[str, float] | None = None, gpus: tuple[int, ...] = (1, 8, 64),
              optimizer_bytes: int = 12) -> list[dict]:
    """Per-GPU bytes of every stage for each model size and GPU count: one dict a (model, n_gpus) pair."""
    sizes = {"135M": 135e6, "1B": 1e9, "7B": 7e9, "13B": 13e9, "70B": 70e9} if sizes is None else sizes
    if not sizes or not gpus:
        raise ValueError("zero_rows needs at least one model size and one GPU count")
    return [{"model": name, "params": n, "n_gpus": g,
             **{ZERO_STAGES[s]: per_gpu_bytes(n, g, s, optimizer_bytes=optimizer_bytes) for s in ZERO_STAGES}}
            for name, n in sizes.items() for g in gpus]


def _gb(value: float) -> str:
    """Bytes as GB with one decimal, or two below 10 GB so that small shards do not print as 0.0."""
    gb = value / GB
    return f"{gb:,.1f}" if gb >= 10 else f"{gb:.2f}"


def zero_table(sizes: dict[str, float] | None = None, gpus: tuple[int, ...] = (1, 8, 64),
               optimizer_bytes: int = 12) -> str:
    """Markdown table of :func:`zero_rows` in GB (10^9 bytes, as the paper) per GPU, activations excluded."""
    names = list(ZERO_STAGES.values())
    lines = ["| model | GPUs | " + " | ".join(f"{n} GB/GPU" for n in names) + " |", "|---|---|" + "---|" * len(names)]
    for r in zero_rows(sizes, gpus, optimizer_bytes):
        lines.append(f"| {r['model']} | {r['n_gpus']} | " + " | ".join(_gb(r[n]) for n in names) + " |")
    return "\n".join(lines)


# --- measurement ----------------------------------------------------------------------------------------------


def _malloc_trim():
    """glibc's ``malloc_trim``, which hands freed heap memory back to the OS; None where there is none (macOS)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


_TRIM = _malloc_trim()


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return int(psutil.Process().memory_info().rss)


def in_use(device: torch.device | str = "cpu") -> int:
    """Bytes in use now: memory allocated by tensors on a CUDA device, else the process's resident set size."""
    device = torch.device(device)
    return int(torch.cuda.memory_allocated(device)) if device.type == "cuda" else rss_bytes()


def high_water_mark() -> int | None:
    """The kernel's peak RSS of this process (VmHWM, Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak(device: torch.device | str = "cpu") -> bool:
    """Start a new peak: CUDA's peak counter on a GPU, else the kernel's peak RSS (Linux), reset to what is in use.

    Returns False where the peak cannot be reset (a CPU without /proc): ``peak_bytes`` then still reports the
    peak of the whole process so far.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes(device: torch.device | str | None = None) -> int:
    """Peak memory since the last ``reset_peak`` (or since the process started): ``max_memory_allocated`` on CUDA,
    else the process's peak resident set size (the kernel's high-water mark)."""
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    hwm = high_water_mark()
    if hwm is not None:
        return hwm
    if resource is not None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on the BSDs
    return int(getattr(psutil.Process().memory_info(), "peak_wset", rss_bytes()))


class PeakMemory:
    """Peak memory while the block runs (``.peak``; ``.added`` above the start), in bytes.

    On CUDA, ``max_memory_allocated``. On a Linux CPU the kernel's own peak RSS is reset at the start and read at the
    end, so even a brief peak is seen; elsewhere a thread samples the RSS every ``interval`` seconds and can miss one.
    Freed heap memory is handed back to the OS first (glibc), so reusing it cannot hide a rise.
    """

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.005):
        self.device = torch.device(device)
        self.interval = interval
        self.start = self.peak = 0
        self._exact = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self):
        gc.collect()
        if _TRIM is not None:
            _TRIM(0)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._exact = reset_peak(self.device)
        self.start = self.peak = in_use(self.device)
        if not self._exact:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self.peak = max(self.peak, in_use(self.device), peak_bytes(self.device) if self._exact else 0)
        return False

    @property
    def added(self) -> int:
        """Peak bytes above what was in use when the block started."""
        return self.peak - self.start


def measure_step(model, batch: dict, device: torch.device | str = "cpu", precision: str = "no",
                 lr: float = 1e-5) -> dict:
    """Measured memory of one AdamW training step on ``batch`` (the optimizer states are created inside).

    Returns bytes: 'params' (the model already in memory), 'step_peak_added' (gradients + AdamW + activations,
    peak above the start) and 'after_step_added' (what stays: gradients and AdamW states). The model's weights
    are changed by the step: measure on a copy you do not need.
    """
    device = torch.device(device)
    model.to(device).train()
    batch = {k: v.to(device) for k, v in batch.items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    with PeakMemory(device) as peak:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        after = in_use(device) - peak.start
    opt.zero_grad(set_to_none=True)
    del opt
    gc.collect()
    return {"params": params, "step_peak_added": peak.added, "after_step_added": after, "loss": float(loss)}
