"""Batched greedy generation: left padding for decoder-only models, KV cache, stop at eos."""

from __future__ import annotations

import torch

from .models import kind_of
from .progress import tqdm


@torch.no_grad()
def batch(model, tokenizer, prompts: list[str], max_new_tokens: int = 64, batch_size: int = 8,
          progress: bool = True, **gen_kwargs) -> list[str]:
    """Answers to ``prompts`` (already in the form the model reads), in the input order.

    Prompts are sorted by length so each batch pads little; decoder-only batches pad on the left so
    every row's answer starts right after its last prompt token.
    """
    if batch_size <= 0 or max_new_tokens <= 0:
        raise ValueError(f"batch_size and max_new_tokens must be positive, got {batch_size}, {max_new_tokens}")
    kind = kind_of(model)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list[str | None] = [None] * len(prompts)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left" if kind == "causal" else "right"
    gen_kwargs = {"do_sample": False, "use_cache": True, **gen_kwargs}
    if not gen_kwargs["do_sample"]:
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    was_training = model.training
    model.eval()
    try:
        steps = range(0, len(order), batch_size)
        for start in tqdm(steps, desc="generating", unit="batch", disable=not progress or len(steps) < 2):
            idx = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                            add_special_tokens=(kind == "seq2seq")).to(model.device)
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **gen_kwargs)
            new = ids[:, enc["input_ids"].shape[1]:] if kind == "causal" else ids
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
                out[i] = text.strip()
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    return out  # type: ignore[return-value]
