"""LoRA from scratch, for teaching: a frozen linear layer plus a trainable low-rank update (alpha/r)·B·A.

    y = W·x + b + (alpha / r) · B·(A·x)      A: r × in (random), B: out × r (zeros)

B starts at zero, so a freshly wrapped model computes exactly what the original did; only A and B train.
Lab 06 builds this by hand, then uses `peft` (which does the same thing, and more) for the real runs.
"""

from __future__ import annotations

import math

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from torch import nn

from .models import kind_of, n_params

DEFAULT_TARGETS = ("q_proj", "v_proj")  # the attention projections LoRA's paper adapts (Llama names)


class LoRALinear(nn.Module):
    """``base`` (frozen) plus a rank-``r`` update; ``merge()`` folds the update into one plain nn.Linear."""

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not isinstance(r, int) or r <= 0:
            raise ValueError(f"rank r must be a positive integer, got {r!r}")
        if r > min(base.in_features, base.out_features):
            raise ValueError(f"rank r={r} exceeds the layer's smaller side ({min(base.in_features, base.out_features)}); "
                             "a rank that large is no longer low-rank: pick a smaller r")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear (and peft) initialise A
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """The update the adapter adds to W: (alpha/r)·B·A, shape out × in."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merge(self) -> nn.Linear:
        """A plain nn.Linear with W + (alpha/r)·B·A: same outputs, no extra cost at inference."""
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.delta_weight())
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


def attention_targets(model: nn.Module) -> tuple[str, str]:
    """The query and value projections' names in this architecture: Llama ``q_proj``/``v_proj``, T5 ``q``/``v``."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for pair in (("q_proj", "v_proj"), ("q", "v"), ("query", "value")):
        if set(pair) <= names:
            return pair
    raise ValueError(f"no query/value projections found; the model's linear layers are called: {sorted(names)}")


def _set_child(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def inject(model: nn.Module, targets=DEFAULT_TARGETS, r: int = 8, alpha: float = 16.0,
           dropout: float = 0.0) -> list[str]:
    """Freeze every weight of ``model`` and wrap each nn.Linear whose name ends with one of ``targets``.

    Returns the wrapped layers' names; raises ValueError naming the linear layers there are if none matched.
    """
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, m in model.named_modules()
             if isinstance(m, nn.Linear) and any(n == t or n.endswith("." + t) for t in targets)]
    if not names:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear named {list(targets)} in the model; its linear layers are called: {linear}")
    for n in names:
        _set_child(model, n, LoRALinear(model.get_submodule(n), r=r, alpha=alpha, dropout=dropout))
    return names


def merge(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear in ``model`` with its merged nn.Linear (in place); returns the model."""
    names = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for n in names:
        _set_child(model, n, model.get_submodule(n).merge())
    return model


def count(model: nn.Module) -> dict:
    """Trainable and total parameters, and the trainable share."""
    total, trainable = n_params(model), n_params(model, trainable_only=True)
    return {"trainable": trainable, "total": total, "share": trainable / total if total else 0.0}


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter's tensors (lora_A, lora_B): what one saves instead of the whole model."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if ".lora_A" in k or ".lora_B" in k}


def peft_model(base: nn.Module, r: int, scaling: float, dropout: float = 0.05) -> PeftModel:
    """``base`` with peft LoRA adapters of rank ``r`` (alpha = scaling·r) on its query and value projections, the
    layers ``inject`` wraps by hand. Labs 05 and 06 build their LoRA models here, so they train the same adapter."""
    task = TaskType.CAUSAL_LM if kind_of(base) == "causal" else TaskType.SEQ_2_SEQ_LM
    return get_peft_model(base, LoraConfig(r=r, lora_alpha=scaling * r, lora_dropout=dropout,
                                           target_modules=list(attention_targets(base)), task_type=task))


def describe(model: PeftModel) -> str:
    """A LoRA model's base and adapter in one line (which weights and settings a stored result belongs to)."""
    c = model.peft_config[model.active_adapter]
    return (f"{c.base_model_name_or_path or type(model.get_base_model()).__name__}: LoRA r={c.r}, "
            f"lora_alpha={c.lora_alpha:g}, lora_dropout={c.lora_dropout:g}, target_modules={sorted(c.target_modules)}")

