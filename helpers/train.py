"""The training engine: an Accelerate loop for seq2seq and decoder-only models (to be implemented).

API contract used by the labs:

    cfg = TrainConfig(output_dir=artifacts_dir() / "full_ft", epochs=1.0, batch_size=8, learning_rate=1e-4)
    result = run(model, tokenizer, train_ds, eval_ds, cfg)   # datasets with input_ids/attention_mask/labels
    result.log            # one dict per optimizer step: step, loss, lr, tokens, seconds (also JSON on disk)
    result.eval_log       # step, eval_loss
    result.model          # the trained (unwrapped) model
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainConfig:
    output_dir: Path
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_every: int = 0  # 0 = only at the end
    save_every: int = 0  # 0 = only at the end
    seed: int = 0
    mixed_precision: str | None = None  # None = helpers.device.precision()
    group_by_length: bool = True
    resume: bool = False
    progress: bool = True


@dataclass
class TrainResult:
    model: object
    log: list[dict] = field(default_factory=list)
    eval_log: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0  # tokens fed (with padding)
    useful_tokens: int = 0  # non-padding tokens
    output_dir: Path | None = None


def run(model, tokenizer, train_ds, eval_ds, cfg: TrainConfig) -> TrainResult:
    raise NotImplementedError("helpers.train.run is being written")
