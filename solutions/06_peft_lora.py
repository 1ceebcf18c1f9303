"""Lab 06's exercises, solved: LoRA's trainable parameters by target and by rank, and merging."""

from __future__ import annotations

import copy

import torch
from peft import LoraConfig, get_peft_model

from helpers import lora, models

MLP = ("gate_proj", "up_proj", "down_proj")


def solve_06_1(preset: str = "smoke") -> dict:
    """Trainable parameters of rank-8 LoRA on q/v and on the MLP projections of the embedded model."""
    base, _ = models.load("pocket")
    counts = {}
    for name, targets in (("qv", ("q_proj", "v_proj")), ("mlp", MLP)):
        model = copy.deepcopy(base)
        lora.inject(model, targets, r=8, alpha=16)
        counts[name] = lora.count(model)["trainable"]
    print(f"q/v {counts['qv']:,}, MLP {counts['mlp']:,} trainable parameters")
    return counts


def solve_06_2(preset: str = "smoke") -> dict:
    """peft's trainable parameter count on q/v for r = 1, 4 and 16."""
    base, _ = models.load("pocket")
    counts = {}
    for r in (1, 4, 16):
        peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(r=r, lora_alpha=2 * r,
                                                                    target_modules=["q_proj", "v_proj"]))
        counts[r] = peft_model.get_nb_trainable_parameters()[0]
    return counts


@torch.no_grad()
def solve_06_3(preset: str = "smoke") -> dict:
    """The largest logit change an adapter with random B makes, and the largest change merging it makes."""
    model, tokenizer = models.load("pocket")
    batch = tokenizer("Summarize the following conversation.", return_tensors="pt")
    original = model(**batch).logits
    lora.inject(model, ("q_proj", "v_proj"), r=4, alpha=8)
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, lora.LoRALinear):
            torch.nn.init.normal_(module.lora_B, std=0.02)  # B starts at zero: give the adapter something to add
    adapted = model(**batch).logits
    merged = lora.merge(model)(**batch).logits
    return {"adapter_effect": (adapted - original).abs().max().item(),
            "merge_error": (merged - adapted).abs().max().item()}
