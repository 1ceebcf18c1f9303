"""The training loop: one Accelerate loop for seq2seq and decoder-only models.

In the style of transformers' ``run_summarization_no_trainer.py``: gradient accumulation, the precision policy of
``helpers.device`` (bf16 autocast where the hardware runs it fast, float32 master weights and AdamW states always),
gradient clipping, AdamW with warmup and decay, validation loss every N steps, a seed, a JSON log of every optimizer
step, ``save_state`` checkpoints (``helpers.checkpoints``) and exact resume on CPU.

    cfg = TrainConfig(output_dir=artifacts_dir(preset) / "full_ft", epochs=1.0, batch_size=8, learning_rate=1e-4)
    result = run(model, tokenizer, train_ds, eval_ds, cfg)   # rows with input_ids/attention_mask/labels
    result.log            # per optimizer step: step, epoch, loss, lr, grad_norm, tokens, useful_tokens, seconds
    result.eval_log       # step, eval_loss
    result.model          # the trained (unwrapped) model; also saved as safetensors in cfg.output_dir

``output_dir`` holds the saved model and tokenizer (``models.load_pretrained(output_dir, kind)``), ``train_log.json``
(rewritten atomically at most every ``log_every_s`` seconds, after every evaluation and checkpoint, and at the end)
and ``checkpoints/``. The one-call recipe and the command line are in ``helpers.finetune``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from transformers import get_scheduler

from . import checkpoints, device
from .batching import loader, model_rows
from .memory import peak_bytes
from .models import kind_of
from .progress import tqdm
from .files import write_atomic
from .tokenizing import IGNORE

LOG_FILE = "train_log.json"
ACCELERATE_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


class NonFiniteLoss(RuntimeError):
    """The loss (or gradient norm) became NaN/inf; the message names the step and the last good checkpoint."""


@dataclass
class TrainConfig:
    output_dir: Path
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 8  # per process, per micro-batch
    grad_accum: int = 1
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    scheduler: str = "linear"  # warmup then "linear" or "cosine" decay, or "constant" after warmup
    eval_every: int = 0  # 0 = only at the end
    eval_batch_size: int | None = None  # None = batch_size
    save_every: int = 0  # 0 = only at the end
    keep_checkpoints: int = 1  # newest checkpoints kept on disk
    save_model: bool = True  # save the final model (+ tokenizer) as safetensors in output_dir
    seed: int = 0
    precision: str | None = None  # "auto" | "fp32" | "bf16" | "fp16"; None = $WORKBOOK_PRECISION, else "auto"
    group_by_length: bool = True
    resume: bool = False
    stop_after: int | None = None  # stop (checkpointed, as if interrupted) after this many steps: resume demos
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% slower
    # pad each batch's length up to a multiple of this; None = 64 on a GPU, 1 (no extra padding) on a CPU. On a GPU
    # every new batch shape makes cuDNN attention build a new plan: measured on an H100 (SmolLM2-135M architecture,
    # batch 4, 64 steps), exact lengths ran at 4,617 useful tokens/s and multiples of 64 at 9,040.
    pad_to_multiple_of: int | None = None
    cpu: bool = False  # force the CPU even where a GPU is present
    progress: bool = True
    # rewrite train_log.json at most this often (it is also written after every evaluation, checkpoint and at the
    # end): each write is fsync'ed and the file grows with every step; 0 writes it after every step.
    log_every_s: float = 10.0

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range, and the valid range."""
        for key in ("epochs", "batch_size", "grad_accum", "learning_rate"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TrainConfig.{key} must be a positive number, got {value!r}")
        for key in ("max_steps", "stop_after", "eval_batch_size", "pad_to_multiple_of"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"TrainConfig.{key} must be a positive integer or None, got {value!r}")
        for key in ("eval_every", "save_every"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 0:
                raise ValueError(f"TrainConfig.{key} must be an integer >= 0 (0 = only at the end), "
                                 f"got {getattr(self, key)!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.scheduler not in ("linear", "cosine", "constant"):
            raise ValueError(f"TrainConfig.scheduler must be 'linear', 'cosine' or 'constant', got {self.scheduler!r}")
        if self.precision is not None and self.precision not in device.CHOICES:
            raise ValueError(f"TrainConfig.precision must be None or one of {', '.join(device.CHOICES)}, "
                             f"got {self.precision!r}")
        if isinstance(self.log_every_s, bool) or not isinstance(self.log_every_s, (int, float)) or self.log_every_s < 0:
            raise ValueError(f"TrainConfig.log_every_s must be a number >= 0 (0 = after every step), "
                             f"got {self.log_every_s!r}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"TrainConfig.keep_checkpoints must be >= 1, got {self.keep_checkpoints!r}")


@dataclass
class TrainResult:
    model: object
    log: list[dict] = field(default_factory=list)
    eval_log: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0  # tokens fed (with padding)
    useful_tokens: int = 0  # non-padding tokens
    output_dir: Path | None = None
    steps: int = 0  # optimizer steps done (including those before a resume)
    total_steps: int = 0  # steps the schedule was planned for
    precision: str = "fp32"  # what the run computed in: "fp32", "bf16" or "fp16"
    resumed_from: Path | None = None  # the checkpoint a resumed run started from
    stopped_early: bool = False  # True when cfg.stop_after ended the run before total_steps
    checkpoint: Path | None = None  # the newest checkpoint on disk
    peak_memory_bytes: int = 0  # max_memory_allocated on CUDA, peak RSS of this process on CPU

    @property
    def final_loss(self) -> float:
        return self.log[-1]["loss"] if self.log else float("nan")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def useful_tokens_per_second(self) -> float:
        return self.useful_tokens / self.seconds if self.seconds else 0.0


# --- loss -----------------------------------------------------------------------------------------------------


def token_loss_sums(logits: torch.Tensor, labels: torch.Tensor, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row summed cross-entropy and number of labelled tokens (causal: predict token t+1 from position t).

    A prompt-tuned model (peft) puts its virtual tokens before the input, so its logits are longer than the labels
    by that many positions: those come first and predict nothing, and are dropped.
    """
    extra = logits.shape[1] - labels.shape[1]
    if extra < 0:
        raise ValueError(f"logits cover {logits.shape[1]} positions but the labels {labels.shape[1]}")
    logits = logits[:, extra:]
    if causal:
        logits, labels = logits[:, :-1], labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=IGNORE, reduction="none").view(labels.shape)
    return loss.sum(1), (labels != IGNORE).sum(1)


@torch.no_grad()
def evaluate_loss(model, eval_loader, accelerator=None, causal: bool = True) -> float:
    """Mean validation loss per labelled token over the whole set (exact across processes).

    The model is called without labels (so it does not compute a batch-mean loss of its own); a seq2seq decoder
    reads the labels shifted right, as in training.
    """
    was_training = model.training
    model.eval()
    base = accelerator.unwrap_model(model) if accelerator is not None else model
    sums, counts = [], []
    for batch in eval_loader:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if not causal:
            inputs["decoder_input_ids"] = base.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        s, n = token_loss_sums(model(**inputs).logits, batch["labels"], causal)
        if accelerator is not None:
            s, n = accelerator.gather_for_metrics((s, n))
        sums.append(s.double().cpu())
        counts.append(n.cpu())
    model.train(was_training)
    total = torch.cat(counts).sum().item()
    return float(torch.cat(sums).sum().item() / max(total, 1))


def _optimizer(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and norm weights (as the reference script)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() or name.endswith("bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def _check_finite(loss: float, grad_norm: float | None, precision: str, step: int, cfg: TrainConfig,
                  total_steps: int, last_ckpt) -> None:
    """Stop before the update when the loss or the gradient norm is NaN/inf (fp16's loss scaler skips its own)."""
    bad_norm = grad_norm is not None and not math.isfinite(grad_norm) and precision != "fp16"
    if math.isfinite(loss) and not bad_norm:
        return
    what = f"loss {loss}" if not math.isfinite(loss) else f"gradient norm {grad_norm}"
    raise NonFiniteLoss(
        f"{what} at step {step + 1} of {total_steps}: training stopped before the update. "
        f"Last good checkpoint: {last_ckpt or 'none (set save_every to keep some)'}. "
        f"Try a lower learning_rate (now {cfg.learning_rate}), a higher warmup_ratio, "
        f"precision='fp32', or check the data for empty labels.")


def _out_of_memory(e: Exception, step: int, shape, cfg: TrainConfig, last_ckpt) -> MemoryError:
    return MemoryError(
        f"out of memory at step {step + 1} with a batch of {tuple(shape)} tokens: lower batch_size (now "
        f"{cfg.batch_size}) and raise grad_accum (now {cfg.grad_accum}) to keep the effective batch, or set "
        f"gradient_checkpointing=True. Last good checkpoint: {last_ckpt or 'none'}.")


# --- the loop -------------------------------------------------------------------------------------------------


def run(model, tokenizer, train_ds, eval_ds, cfg: TrainConfig) -> TrainResult:
    """Train ``model`` on ``train_ds`` (rows with input_ids/attention_mask/labels), validating on ``eval_ds``.

    Long on purpose (about 180 lines): set-up, resume, the loop and the end are one flat read, top to bottom, as in
    transformers' no-trainer script and nanoGPT; the loop's state (step, epoch, batches_done, the logs, the sums of
    the current optimizer step) is named variables a reader can follow, not an object to look up.
    """
    cfg = dataclasses.replace(cfg, output_dir=Path(cfg.output_dir))
    cfg.validate()
    train_rows = model_rows(train_ds)
    if not train_rows:
        raise ValueError("the training set is empty")
    eval_rows = model_rows(eval_ds) if eval_ds is not None else []
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token = tokenizer.eos_token first")

    # several processes without a GPU (accelerate launch on a CPU machine): DDP over gloo needs cpu=True
    cpu = cfg.cpu or (not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1)
    causal = kind_of(model) == "causal"
    dev = torch.device("cpu") if cpu else device.pick(verbose=False)
    precision = device.precision(cfg.precision, dev, "causal" if causal else "seq2seq")
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # accelerate keeps one precision per process; a single process may compare precisions run after run
        AcceleratorState._reset_state()
    accelerator = Accelerator(gradient_accumulation_steps=cfg.grad_accum, cpu=cpu,
                              mixed_precision=ACCELERATE_PRECISION[precision])
    set_seed(cfg.seed)
    out_dir = cfg.output_dir
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if hasattr(model.config, "use_cache"):
            model.config.use_cache = False
    multiple = cfg.pad_to_multiple_of or (64 if accelerator.device.type == "cuda" else 1)
    model.train()
    optimizer = _optimizer(model, cfg.learning_rate, cfg.weight_decay)
    train_dl = loader(train_rows, tokenizer.pad_token_id, cfg.batch_size, cfg.seed, cfg.group_by_length,
                      multiple_of=multiple)
    eval_dl = loader(eval_rows, tokenizer.pad_token_id, cfg.eval_batch_size or cfg.batch_size, shuffle=False,
                     multiple_of=multiple) if eval_rows else None

    # steps per epoch as each process sees them (the batches are shared among the processes)
    batches_per_epoch = math.ceil(len(train_dl) / accelerator.num_processes)
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / cfg.grad_accum))
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    warmup = int(cfg.warmup_ratio * total_steps)
    # a prepared scheduler steps once per process for every optimizer step (accelerate's convention)
    scheduler = get_scheduler("constant_with_warmup" if cfg.scheduler == "constant" else cfg.scheduler, optimizer,
                              num_warmup_steps=warmup * accelerator.num_processes,
                              num_training_steps=total_steps * accelerator.num_processes)
    sampler = train_dl.batch_sampler  # set_epoch on it directly: the prepared loader may wrap it
    prepared = accelerator.prepare(model, optimizer, train_dl, scheduler, *([eval_dl] if eval_dl else []))
    model, optimizer, train_dl, scheduler = prepared[:4]
    eval_dl = prepared[4] if eval_dl else None

    # the loop's state: what a checkpoint saves and a resume restores
    step, epoch, batches_done = 0, 0, 0
    log: list[dict] = []
    eval_log: list[dict] = []
    resumed_from = last_ckpt = None
    if cfg.resume:
        found = checkpoints.checkpoints(out_dir)
        if found:
            resumed_from = last_ckpt = found[-1]
            state = checkpoints.load(accelerator, resumed_from)
            if state.get("total_steps") != total_steps:
                raise ValueError(f"{resumed_from} was planned for {state.get('total_steps')} steps, this run for "
                                 f"{total_steps}: resume with the same data, batch size, epochs and max_steps")
            step, epoch, batches_done = state["step"], state["epoch"], state["batches_done"]
            log, eval_log = state["log"], state["eval_log"]
            accelerator.print(f"resuming from {resumed_from} (step {step} of {total_steps})")
        else:
            accelerator.print(f"resume=True but no checkpoint in {out_dir / 'checkpoints'}: starting from scratch")
    config = {**_config_dict(cfg), "precision": precision}

    def write_log() -> None:
        if accelerator.is_main_process:
            write_atomic(out_dir / LOG_FILE, json.dumps({"config": config, "precision": precision,
                                                         "total_steps": total_steps, "log": log,
                                                         "eval_log": eval_log}, indent=1))

    def validate() -> None:
        if eval_dl is not None and (not eval_log or eval_log[-1]["step"] != step):
            eval_log.append({"step": step, "eval_loss": evaluate_loss(model, eval_dl, accelerator, causal)})

    if step == 0:
        validate()  # the loss before training: the baseline the curve starts from
    bar = tqdm(total=total_steps, initial=step, desc="training", unit="step",
               disable=not (cfg.progress and accelerator.is_main_process))
    t_start = t_step = t_log = time.perf_counter()
    # sums over the micro-batches of the current optimizer step
    loss_sum, micro_batches, tokens, useful = 0.0, 0, 0, 0
    stopped_early = False
    while step < total_steps and not stopped_early:
        # the prepared loader re-applies its own epoch counter on every iter(): keep all of them equal to ours
        train_dl.set_epoch(epoch)
        sampler.set_epoch(epoch)
        batches = train_dl
        if batches_done:  # resuming mid-epoch: the same batch order, without the batches already trained on
            batches = accelerator.skip_first_batches(train_dl, batches_done)
            if hasattr(batches, "set_epoch"):
                batches.set_epoch(epoch)
        for batch in batches:
            batches_done += 1
            with accelerator.accumulate(model):
                try:
                    loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 labels=batch["labels"]).loss
                    accelerator.backward(loss)
                except torch.OutOfMemoryError as e:
                    bar.close()
                    raise _out_of_memory(e, step, batch["input_ids"].shape, cfg, last_ckpt) from e
                loss_sum += loss.detach().double().item()
                micro_batches += 1
                tokens += batch["input_ids"].numel()
                useful += int(batch["attention_mask"].sum().item())
                if accelerator.sync_gradients:
                    totals = accelerator.reduce(torch.tensor([loss_sum, micro_batches, tokens, useful],
                                                             dtype=torch.float64, device=accelerator.device), "sum")
                    step_loss = totals[0].item() / max(totals[1].item(), 1)
                    grad_norm = None
                    if cfg.max_grad_norm:
                        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        grad_norm = float(grad_norm) if grad_norm is not None else None
                    try:
                        _check_finite(step_loss, grad_norm, precision, step, cfg, total_steps, last_ckpt)
                    except NonFiniteLoss:
                        bar.close()
                        raise
                    optimizer.step()
                    scheduler.step()
                optimizer.zero_grad()
            if not accelerator.sync_gradients:
                continue
            step += 1
            now = time.perf_counter()
            log.append({"step": step, "epoch": round(epoch + batches_done / max(len(train_dl), 1), 4),
                        "loss": step_loss, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                        "tokens": int(totals[2].item()), "useful_tokens": int(totals[3].item()),
                        "seconds": now - t_step})
            t_step = now
            loss_sum, micro_batches, tokens, useful = 0.0, 0, 0, 0
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{log[-1]['tokens'] / max(log[-1]['seconds'], 1e-9):.0f}")
            evaluated = bool(cfg.eval_every and step % cfg.eval_every == 0)
            if evaluated:
                validate()
            last = step >= total_steps
            stopped_early = cfg.stop_after is not None and step >= cfg.stop_after and not last
            epoch_done = batches_done >= len(train_dl)
            checkpointed = bool(cfg.save_every and step % cfg.save_every == 0) or stopped_early
            if checkpointed:
                last_ckpt = checkpoints.save(accelerator, out_dir, {
                    "step": step, "epoch": epoch + 1 if epoch_done else epoch,
                    "batches_done": 0 if epoch_done else batches_done, "total_steps": total_steps,
                    "log": log, "eval_log": eval_log, "config": config}, cfg.keep_checkpoints)
            # after an evaluation or a checkpoint the log is written at once; the end of the run writes it anyway
            if evaluated or checkpointed or now - t_log >= cfg.log_every_s:
                write_log()
                t_log = time.perf_counter()
            if last or stopped_early:
                break
        else:  # the epoch ran out
            epoch, batches_done = epoch + 1, 0
            continue
        if batches_done >= len(train_dl):  # the last step fell on the epoch's last batch
            epoch, batches_done = epoch + 1, 0
    bar.close()
    seconds = time.perf_counter() - t_start

    if not stopped_early:
        validate()
        if cfg.save_every:
            last_ckpt = checkpoints.save(accelerator, out_dir, {
                "step": step, "epoch": epoch, "batches_done": 0, "total_steps": total_steps,
                "log": log, "eval_log": eval_log, "config": config}, cfg.keep_checkpoints)
    write_log()
    unwrapped = _finish(accelerator, model, tokenizer, cfg, out_dir, save=cfg.save_model and not stopped_early)
    return TrainResult(model=unwrapped, log=log, eval_log=eval_log, seconds=seconds,
                       tokens=sum(e["tokens"] for e in log), useful_tokens=sum(e["useful_tokens"] for e in log),
                       output_dir=out_dir, steps=step, total_steps=total_steps, precision=precision,
                       resumed_from=resumed_from, stopped_early=stopped_early, checkpoint=last_ckpt,
                       peak_memory_bytes=peak_bytes(accelerator.device))


def _finish(accelerator, model, tokenizer, cfg: TrainConfig, out_dir: Path, save: bool):
    """The trained model, unwrapped (no autocast wrapper left on it), in eval mode; saved as safetensors if asked."""
    unwrapped = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if cfg.gradient_checkpointing:
        unwrapped.gradient_checkpointing_disable()
        if hasattr(unwrapped.config, "use_cache"):
            unwrapped.config.use_cache = True
    if save:
        accelerator.wait_for_everyone()
        weights = accelerator.get_state_dict(model)  # gathers shards under FSDP / DeepSpeed; every process calls it
        if accelerator.is_main_process:
            unwrapped.save_pretrained(out_dir, state_dict=weights, safe_serialization=True)
            tokenizer.save_pretrained(out_dir)
        accelerator.wait_for_everyone()
    return unwrapped.eval()


def _config_dict(cfg: TrainConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["output_dir"] = str(cfg.output_dir)
    return d


def load_log(output_dir: str | Path) -> dict:
    """The JSON step log a run wrote: {'config', 'precision', 'total_steps', 'log', 'eval_log'}."""
    return json.loads((Path(output_dir) / LOG_FILE).read_text())
