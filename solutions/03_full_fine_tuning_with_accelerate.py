"""Lab 03's exercises, solved: ZeRO's memory per GPU, the embedded model's budget, training with the mask off."""

from __future__ import annotations

import copy
import tempfile

from helpers import config, data, memory, models, tokenizing, train
from helpers.batching import loader

GIB = 1024 ** 3


def solve_03_1(preset: str = "smoke", params: float = 13e9, gpus: int = 8) -> dict:
    """GiB per GPU of weights (2 bytes), gradients (2) and Adam states (12) under DDP and the ZeRO stages."""
    w, g, o = 2 * params, 2 * params, 12 * params
    per_gpu = {"ddp": w + g + o,  # every GPU keeps everything
               "zero1": w + g + o / gpus,  # optimizer states sharded
               "zero2": w + (g + o) / gpus,  # ... and gradients
               "zero3": (w + g + o) / gpus}  # ... and the weights
    out = {k: v / GIB for k, v in per_gpu.items()}
    print(", ".join(f"{k} {v:.1f} GiB" for k, v in out.items()))
    return out


def solve_03_2(preset: str = "smoke") -> dict:
    """Static memory and the activations of an 8 x 512 batch, with and without gradient checkpointing, in GiB."""
    model, _ = models.load("pocket")  # the embedded model
    c = model.config
    shape = dict(batch=8, seq=512, hidden=c.hidden_size, layers=c.num_hidden_layers, heads=c.num_attention_heads,
                 vocab=c.vocab_size, intermediate=c.intermediate_size)
    return {"static": memory.estimate(models.n_params(model), "fp32").static / GIB,
            "activations": memory.activation_bytes(**shape) / GIB,
            "activations_checkpointing": memory.activation_bytes(**shape, gradient_checkpointing=True) / GIB}


def _prompt_only(rows) -> list[dict]:
    """The rows with labels on the prompt positions only (where the training labels are -100)."""
    ignore = tokenizing.IGNORE
    return [{"input_ids": r["input_ids"], "attention_mask": r["attention_mask"],
             "labels": [t if lab == ignore else ignore for t, lab in zip(r["input_ids"], r["labels"])]} for r in rows]


def solve_03_3(preset: str = "smoke") -> dict:
    """Mean loss on the prompt tokens of validation rows: the original model, trained with the mask, without it."""
    cfg = config.get(preset)
    if cfg.model_kind != "causal":
        raise ValueError(f"exercise 03.3 is about decoder-only models, whose prompt and answer are one sequence; "
                         f"preset {preset!r} is {cfg.model_kind}: use 'smoke' or 'pocket'")
    knobs = config.knobs("03", cfg)
    original, tokenizer = models.load(cfg)

    def tokenized(split: str, limit: int):  # prompts cut to 96 tokens: the lesson needs no more, and it runs faster
        rows = data.load(cfg, split, limit=limit)
        return tokenizing.summary_dataset(tokenizer, "causal", rows, min(96, cfg.max_source_tokens),
                                          min(48, cfg.max_target_tokens))

    mask_on = tokenized("train", knobs["batch_size"])  # one batch, one optimizer step a run: enough to see it
    mask_off = mask_on.map(lambda r: {"labels": list(r["input_ids"])})  # every position in the loss
    scored = loader(_prompt_only(tokenized("validation", max(4, knobs["eval_examples"]))), tokenizer.pad_token_id,
                    knobs["batch_size"], shuffle=False)
    losses = {"before": train.evaluate_loss(original, scored)}
    for name, rows in (("mask_on", mask_on), ("mask_off", mask_off)):
        with tempfile.TemporaryDirectory() as out:
            cfg_train = train.TrainConfig(output_dir=out, epochs=knobs["epochs"], batch_size=knobs["batch_size"],
                                          learning_rate=knobs["learning_rate"], save_model=False, progress=False)
            result = train.run(copy.deepcopy(original), tokenizer, rows, None, cfg_train)
        losses[name] = train.evaluate_loss(result.model, scored)
    print(", ".join(f"{k} {v:.3f}" for k, v in losses.items()) + " (mean loss per prompt token)")
    return losses
