"""The training engine: an Accelerate loop for seq2seq and decoder-only models.

In the style of transformers' ``run_summarization_no_trainer.py``: gradient accumulation, mixed precision chosen
from the device, gradient clipping, AdamW with warmup and decay, validation loss every N steps, a seed, a JSON log
of every optimizer step, ``save_state`` checkpoints in an explicit folder, exact resume on CPU.

    cfg = TrainConfig(output_dir=artifacts_dir() / "full_ft", epochs=1.0, batch_size=8, learning_rate=1e-4)
    result = run(model, tokenizer, train_ds, eval_ds, cfg)   # datasets with input_ids/attention_mask/labels
    result.log            # per optimizer step: step, epoch, loss, lr, grad_norm, tokens, useful_tokens, seconds
    result.eval_log       # step, eval_loss
    result.model          # the trained (unwrapped) model; also saved as safetensors in cfg.output_dir

Layout of ``output_dir``: the saved model and tokenizer (load with ``models.load_pretrained(output_dir, kind)``),
``train_log.json`` (rewritten atomically at most every ``log_every_s`` seconds, after every evaluation and
checkpoint, and at the end) and ``checkpoints/step_NNNNNN/`` (``save_state``).

Command line (one process, or many with ``accelerate launch``)::

    python -m helpers.train --preset pocket --output-dir runs/full_ft
    accelerate launch --config_file helpers/accelerate_configs/multi_gpu.yaml -m helpers.train --preset course
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .record import write_atomic
from .tokenizing import IGNORE, Collator

LOG_FILE = "train_log.json"
STATE_FILE = "trainer_state.json"


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
    eval_every: int = 0  # 0 = only at the end
    save_every: int = 0  # 0 = only at the end
    seed: int = 0
    mixed_precision: str | None = None  # None = helpers.device.precision()
    group_by_length: bool = True
    resume: bool = False
    progress: bool = True
    # added fields
    scheduler: str = "linear"  # warmup then "linear" or "cosine" decay, or "constant" after warmup
    eval_batch_size: int | None = None  # None = batch_size
    keep_checkpoints: int = 1  # newest checkpoints kept on disk
    save_model: bool = True  # save the final model (+ tokenizer) as safetensors in output_dir
    stop_after: int | None = None  # stop (checkpointed, as if interrupted) after this many steps: resume demos
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% slower
    # pad each batch's length up to a multiple of this; None = 64 on a GPU, 1 (no extra padding) on a CPU. On a GPU
    # every new batch shape makes cuDNN attention build a new plan: measured on an H100 (SmolLM2-135M architecture,
    # batch 4, 64 steps), exact lengths ran at 4,617 useful tokens/s and multiples of 64 at 9,040.
    pad_to_multiple_of: int | None = None
    cpu: bool = False  # force the CPU even where a GPU is present
    # rewrite train_log.json at most this often (it is also written after every evaluation, checkpoint and at the
    # end): each write is fsync'ed and the file grows with every step; 0 writes it after every step.
    log_every_s: float = 10.0

    def validate(self) -> None:
        for key in ("epochs", "batch_size", "grad_accum", "learning_rate"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TrainConfig.{key} must be a positive number, got {value!r}")
        for key in ("max_steps", "stop_after", "eval_batch_size"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"TrainConfig.{key} must be a positive integer or None, got {value!r}")
        for key in ("eval_every", "save_every"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 0:
                raise ValueError(f"TrainConfig.{key} must be an integer >= 0 (0 = only at the end), "
                                 f"got {getattr(self, key)!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.scheduler not in ("linear", "cosine", "constant"):
            raise ValueError(f"TrainConfig.scheduler must be 'linear', 'cosine' or 'constant', got {self.scheduler!r}")
        if self.mixed_precision not in (None, "no", "fp16", "bf16"):
            raise ValueError(f"TrainConfig.mixed_precision must be None, 'no', 'fp16' or 'bf16', "
                             f"got {self.mixed_precision!r}")
        if isinstance(self.log_every_s, bool) or not isinstance(self.log_every_s, (int, float)) or self.log_every_s < 0:
            raise ValueError(f"TrainConfig.log_every_s must be a number >= 0 (0 = after every step), "
                             f"got {self.log_every_s!r}")
        if self.pad_to_multiple_of is not None and (not isinstance(self.pad_to_multiple_of, int)
                                                    or isinstance(self.pad_to_multiple_of, bool)
                                                    or self.pad_to_multiple_of < 1):
            raise ValueError(f"TrainConfig.pad_to_multiple_of must be a positive integer or None (64 on a GPU, "
                             f"1 on a CPU), got {self.pad_to_multiple_of!r}")
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
    # added fields
    steps: int = 0  # optimizer steps done (including those before a resume)
    total_steps: int = 0  # steps the schedule was planned for
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


# --- batches --------------------------------------------------------------------------------------------------


class LengthGroupedBatches:
    """Batches of similar length (little padding), in an order reshuffled every epoch from ``seed`` + epoch.

    As in transformers' LengthGroupedSampler: shuffle, cut into mega-batches of ``mega`` batches, sort each by
    length, split into batches, shuffle the batches; the longest batch goes first so an out-of-memory error shows
    at once.
    With ``group=False`` it is a plain shuffled batch sampler.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, group: bool = True, mega: int = 50):
        self.lengths, self.batch_size, self.seed, self.group, self.mega = list(lengths), batch_size, seed, group, mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if not self.group:
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        size = self.batch_size * self.mega
        out = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start:start + size], key=lambda i: -self.lengths[i])
            out += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(out)  # batches in a new order every epoch, not always longest to shortest
        longest = max(range(len(out)), key=lambda b: max(self.lengths[i] for i in out[b]))
        out[0], out[longest] = out[longest], out[0]
        return out

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def _columns(ds) -> list[dict]:
    """The rows as plain dicts of the three model columns (a Dataset or a list of dicts)."""
    need = ("input_ids", "attention_mask", "labels")
    if hasattr(ds, "column_names"):
        missing = [c for c in need if c not in ds.column_names]
        if missing:
            raise ValueError(f"the dataset lacks column(s) {missing}; build it with helpers.tokenizing.build_dataset")
        cols = {c: ds[c] for c in need}
        return [{c: cols[c][i] for c in need} for i in range(len(ds))]
    rows = list(ds)
    if rows and any(c not in rows[0] for c in need):
        raise ValueError(f"rows need {need}; build them with helpers.tokenizing.build / build_dataset")
    return rows


def loader(rows: list[dict], tokenizer, batch_size: int, seed: int = 0, group: bool = True, shuffle: bool = True,
           multiple_of: int = 1):
    """A DataLoader with dynamic padding (``Collator``) and, for training, length-grouped shuffled batches."""
    from torch.utils.data import DataLoader

    collate = Collator(tokenizer.pad_token_id, side="right", multiple_of=multiple_of)
    if shuffle:
        sampler = LengthGroupedBatches([len(r["input_ids"]) for r in rows], batch_size, seed, group)
        return DataLoader(rows, batch_sampler=sampler, collate_fn=collate)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))  # eval: sorted, least padding
    return DataLoader([rows[i] for i in order], batch_size=batch_size, shuffle=False, collate_fn=collate)


# --- loss -----------------------------------------------------------------------------------------------------


def token_loss_sums(logits: torch.Tensor, labels: torch.Tensor, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row summed cross-entropy and number of labelled tokens (causal: predict token t+1 from position t)."""
    if causal:
        logits, labels = logits[:, :-1], labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=IGNORE, reduction="none").view(labels.shape)
    return loss.sum(1), (labels != IGNORE).sum(1)


@torch.no_grad()
def evaluate_loss(model, eval_loader, accelerator=None, causal: bool = True) -> float:
    """Mean validation loss per labelled token over the whole set (exact across processes)."""
    was_training = model.training
    model.eval()
    sums, counts = [], []
    for batch in eval_loader:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        s, n = token_loss_sums(out.logits, batch["labels"], causal)
        if accelerator is not None:
            s, n = accelerator.gather_for_metrics((s, n))
        sums.append(s.double().cpu())
        counts.append(n.cpu())
    model.train(was_training)
    total = torch.cat(counts).sum().item()
    return float(torch.cat(sums).sum().item() / max(total, 1))


def peak_memory_bytes(device: torch.device | None = None) -> int:
    """Peak memory so far: ``max_memory_allocated`` on CUDA, peak resident set size of the process on CPU."""
    if device is not None and device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


# --- checkpoints ----------------------------------------------------------------------------------------------


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints in ``output_dir/checkpoints``, oldest first (a folder counts once its state file exists)."""
    root = Path(output_dir) / "checkpoints"
    if not root.exists():
        return []
    return sorted(p for p in root.glob("step_*")
                  if p.is_dir() and not p.name.endswith(".tmp") and (p / STATE_FILE).exists())


def _save_checkpoint(accelerator, output_dir: Path, state: dict, keep: int) -> Path:
    """save_state into a temporary folder, then rename: a run killed mid-save leaves the previous one intact."""
    root = Path(output_dir) / "checkpoints"
    final = root / f"step_{state['step']:06d}"
    tmp = root / (final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_atomic(tmp / STATE_FILE, json.dumps(state))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _schedule(optimizer, name: str, warmup: int, total: int):
    from transformers import get_scheduler

    name = "constant_with_warmup" if name == "constant" else name
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total)


def _optimizer(model, lr: float, weight_decay: float):
    """AdamW; no weight decay on biases and norm weights (as the reference script)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() or name.endswith("bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


# --- the loop -------------------------------------------------------------------------------------------------


def run(model, tokenizer, train_ds, eval_ds, cfg: TrainConfig) -> TrainResult:
    """Train ``model`` on ``train_ds`` (rows with input_ids/attention_mask/labels), validating on ``eval_ds``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from . import device as device_mod
    from .models import kind_of
    from .progress import tqdm

    cfg = dataclasses.replace(cfg, output_dir=Path(cfg.output_dir))
    cfg.validate()
    train_rows = _columns(train_ds)
    if not train_rows:
        raise ValueError("the training set is empty")
    eval_rows = _columns(eval_ds) if eval_ds is not None else []
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token = tokenizer.eos_token first")

    # several processes without a GPU (accelerate launch on a CPU machine): DDP over gloo needs cpu=True
    cpu = cfg.cpu or (not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1)
    precision = cfg.mixed_precision or ("no" if cpu else device_mod.precision())
    accelerator = Accelerator(gradient_accumulation_steps=cfg.grad_accum, mixed_precision=precision, cpu=cpu)
    set_seed(cfg.seed)
    causal = kind_of(model) == "causal"
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
    train_dl = loader(train_rows, tokenizer, cfg.batch_size, cfg.seed, cfg.group_by_length,
                      multiple_of=multiple)
    eval_dl = loader(eval_rows, tokenizer, cfg.eval_batch_size or cfg.batch_size, shuffle=False,
                     multiple_of=multiple) if eval_rows else None

    # steps per epoch as each process sees them (the batches are shared among the processes)
    batches_per_epoch = math.ceil(len(train_dl) / accelerator.num_processes)
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / cfg.grad_accum))
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    warmup = int(cfg.warmup_ratio * total_steps)
    # a prepared scheduler steps once per process for every optimizer step (accelerate's convention)
    scheduler = _schedule(optimizer, cfg.scheduler, warmup * accelerator.num_processes,
                          total_steps * accelerator.num_processes)
    sampler = train_dl.batch_sampler  # set_epoch on it directly: the prepared loader may wrap it
    prepared = accelerator.prepare(model, optimizer, train_dl, scheduler, *([eval_dl] if eval_dl else []))
    model, optimizer, train_dl, scheduler = prepared[:4]
    eval_dl = prepared[4] if eval_dl else None

    log: list[dict] = []
    eval_log: list[dict] = []
    step, epoch, skip = 0, 0, 0
    resumed_from = None
    last_ckpt = None
    if cfg.resume:
        found = checkpoints(out_dir)
        if found:
            resumed_from = last_ckpt = found[-1]
            accelerator.load_state(str(resumed_from))
            state = json.loads((resumed_from / STATE_FILE).read_text())
            step, epoch, skip = state["step"], state["epoch"], state["batches_done"]
            log, eval_log = state["log"], state["eval_log"]
            if state.get("total_steps") != total_steps:
                raise ValueError(f"{resumed_from} was planned for {state.get('total_steps')} steps, this run for "
                                 f"{total_steps}: resume with the same data, batch size, epochs and max_steps")
            accelerator.print(f"resuming from {resumed_from} (step {step} of {total_steps})")
        else:
            accelerator.print(f"resume=True but no checkpoint in {out_dir / 'checkpoints'}: starting from scratch")

    def snapshot(batches_done: int) -> dict:
        return {"step": step, "epoch": epoch, "batches_done": batches_done, "total_steps": total_steps,
                "log": log, "eval_log": eval_log, "config": _config_dict(cfg)}

    last_write = [time.perf_counter()]

    def write_log(force: bool = True) -> None:
        if not force and time.perf_counter() - last_write[0] < cfg.log_every_s:
            return
        last_write[0] = time.perf_counter()
        if accelerator.is_main_process:
            write_atomic(out_dir / LOG_FILE, json.dumps({"config": _config_dict(cfg), "total_steps": total_steps,
                                                         "log": log, "eval_log": eval_log}, indent=1))

    def run_eval() -> None:
        if eval_dl is not None and (not eval_log or eval_log[-1]["step"] != step):
            eval_log.append({"step": step, "eval_loss": evaluate_loss(model, eval_dl, accelerator, causal)})

    if eval_dl is not None and step == 0:
        run_eval()  # the loss before training: the baseline the curve starts from
    bar = tqdm(total=total_steps, initial=step, desc="training", unit="step",
               disable=not (cfg.progress and accelerator.is_main_process))
    t_start = time.perf_counter()
    t_step = time.perf_counter()
    acc = torch.zeros(4, dtype=torch.float64, device=accelerator.device)  # loss sum, micro-batches, tokens, useful
    stopped_early = False
    while step < total_steps and not stopped_early:
        # the prepared loader re-applies its own epoch counter on every iter(): keep all of them equal to ours
        train_dl.set_epoch(epoch)
        sampler.set_epoch(epoch)
        batches = train_dl
        if skip:  # resuming mid-epoch: the same batch order, without the batches already trained on
            batches = accelerator.skip_first_batches(train_dl, skip)
            if hasattr(batches, "set_epoch"):
                batches.set_epoch(epoch)
        done = skip
        skip = 0
        for batch in batches:
            done += 1
            with accelerator.accumulate(model):
                try:
                    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                labels=batch["labels"])
                    loss = out.loss
                    accelerator.backward(loss)
                except torch.OutOfMemoryError as e:
                    bar.close()
                    raise MemoryError(
                        f"out of memory at step {step + 1} with a batch of {tuple(batch['input_ids'].shape)} tokens: "
                        f"lower batch_size (now {cfg.batch_size}) and raise grad_accum (now {cfg.grad_accum}) to keep "
                        f"the effective batch, or set gradient_checkpointing=True. Last good checkpoint: "
                        f"{last_ckpt or 'none'}.") from e
                acc += torch.tensor([loss.detach().double().item(), 1, batch["input_ids"].numel(),
                                     batch["attention_mask"].sum().item()], dtype=torch.float64, device=acc.device)
                grad_norm = None
                if accelerator.sync_gradients:
                    totals = accelerator.reduce(acc.clone(), "sum")
                    step_loss = totals[0].item() / max(totals[1].item(), 1)
                    if cfg.max_grad_norm:
                        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        grad_norm = float(grad_norm) if grad_norm is not None else None
                    bad_norm = grad_norm is not None and not math.isfinite(grad_norm) and precision != "fp16"
                    if not math.isfinite(step_loss) or bad_norm:
                        bar.close()
                        what = f"loss {step_loss}" if not math.isfinite(step_loss) else f"gradient norm {grad_norm}"
                        raise NonFiniteLoss(
                            f"{what} at step {step + 1} of {total_steps}: training stopped before the update. "
                            f"Last good checkpoint: {last_ckpt or 'none (set save_every to keep some)'}. "
                            f"Try a lower learning_rate (now {cfg.learning_rate}), a higher warmup_ratio, "
                            f"mixed_precision='no', or check the data for empty labels.")
                    optimizer.step()
                    scheduler.step()
                optimizer.zero_grad()
            if not accelerator.sync_gradients:
                continue
            step += 1
            now = time.perf_counter()
            seconds = now - t_step
            t_step = now
            entry = {"step": step, "epoch": round(epoch + done / max(len(train_dl), 1), 4), "loss": step_loss,
                     "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm, "tokens": int(totals[2].item()),
                     "useful_tokens": int(totals[3].item()), "seconds": seconds}
            log.append(entry)
            acc.zero_()
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{entry['tokens'] / max(seconds, 1e-9):.0f}")
            evaluated = bool(cfg.eval_every and step % cfg.eval_every == 0)
            if evaluated:
                run_eval()
            last = step >= total_steps
            stopped_early = cfg.stop_after is not None and step >= cfg.stop_after and not last
            epoch_done = done >= len(train_dl)
            checkpointed = bool(cfg.save_every and step % cfg.save_every == 0) or stopped_early
            if checkpointed:
                state = snapshot(0 if epoch_done else done)
                if epoch_done:
                    state["epoch"] = epoch + 1
                last_ckpt = _save_checkpoint(accelerator, out_dir, state, cfg.keep_checkpoints)
            # after an evaluation or a checkpoint the log is written at once; the end of the run writes it anyway
            write_log(force=evaluated or checkpointed)
            if last or stopped_early:
                break
        else:
            epoch += 1
            continue
        if done >= len(train_dl):
            epoch += 1
    bar.close()
    seconds = time.perf_counter() - t_start

    if not stopped_early:
        run_eval()
        if cfg.save_every:
            last_ckpt = _save_checkpoint(accelerator, out_dir, snapshot(0), cfg.keep_checkpoints)
    write_log()
    unwrapped = accelerator.unwrap_model(model)
    if cfg.gradient_checkpointing:
        unwrapped.gradient_checkpointing_disable()
        if hasattr(unwrapped.config, "use_cache"):
            unwrapped.config.use_cache = True
    if cfg.save_model and not stopped_early:
        accelerator.wait_for_everyone()
        weights = accelerator.get_state_dict(model)  # gathers shards under FSDP / DeepSpeed; every process calls it
        if accelerator.is_main_process:
            unwrapped.save_pretrained(out_dir, state_dict=weights, safe_serialization=True)
            tokenizer.save_pretrained(out_dir)
        accelerator.wait_for_everyone()
    unwrapped.eval()
    fed = sum(e["tokens"] for e in log)
    return TrainResult(model=unwrapped, log=log, eval_log=eval_log, seconds=seconds, tokens=fed,
                       useful_tokens=sum(e["useful_tokens"] for e in log), output_dir=out_dir, steps=step,
                       total_steps=total_steps, resumed_from=resumed_from, stopped_early=stopped_early,
                       checkpoint=last_ckpt, peak_memory_bytes=peak_memory_bytes(accelerator.device))


def _config_dict(cfg: TrainConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["output_dir"] = str(cfg.output_dir)
    return d


def load_log(output_dir: str | Path) -> dict:
    """The JSON step log a run wrote: {'config', 'total_steps', 'log', 'eval_log'}."""
    return json.loads((Path(output_dir) / LOG_FILE).read_text())


# --- datasets and a one-call fine-tuning for the labs and the CLI ---------------------------------------------


def summary_dataset(tokenizer, kind: str, rows, max_source: int, max_target: int):
    """Tokenized summarization pairs: the chat-wrapped prompt (decoder-only) or the plain prompt (seq2seq)."""
    from . import prompts
    from .tokenizing import build_dataset

    to_prompt = lambda r: prompts.for_model(tokenizer, prompts.summary_prompt(r["dialogue"]), kind)  # noqa: E731
    return build_dataset(rows, tokenizer, kind, to_prompt, max_source, max_target)[0]


def fine_tune(preset, output_dir: str | Path, train_examples: int | None = None, model=None, tokenizer=None,
              eval_examples: int | None = None, **overrides) -> TrainResult:
    """Full fine-tuning of the preset's model on its summarization train split (validation split for eval loss).

    ``train_examples`` (None = the preset's; 0 = whole split), ``eval_examples`` (validation rows for the loss;
    None = whole split) and TrainConfig ``overrides`` change the sizes.
    """
    from . import config, data, models

    cfg = config.get(preset) if isinstance(preset, str) else preset
    if model is None:
        model, tokenizer = models.load(cfg)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer together with the model")
    kind = models.kind_of(model)
    n = cfg.train_examples if train_examples is None else train_examples
    train_rows = data.load(cfg, "train", limit=n or None)
    eval_rows = data.load(cfg, "validation", limit=eval_examples or None)
    train_ds = summary_dataset(tokenizer, kind, train_rows, cfg.max_source_tokens, cfg.max_target_tokens)
    eval_ds = summary_dataset(tokenizer, kind, eval_rows, cfg.max_source_tokens, cfg.max_target_tokens)
    tc = dict(output_dir=Path(output_dir), epochs=cfg.train_epochs, batch_size=cfg.batch_size,
              grad_accum=cfg.grad_accum, learning_rate=cfg.learning_rate, eval_batch_size=cfg.eval_batch_size)
    tc.update(overrides)
    return run(model, tokenizer, train_ds, eval_ds, TrainConfig(**tc))


# --- command line ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> TrainResult:
    from . import config, models

    p = argparse.ArgumentParser(prog="python -m helpers.train",
                                description="Full fine-tuning on dialogue summarization; run it under "
                                            "`accelerate launch` for several processes, GPUs or nodes.")
    p.add_argument("--preset", default=config.DEFAULT, choices=list(config.PRESETS))
    p.add_argument("--output-dir", required=True, type=Path, help="model, train_log.json and checkpoints/ go here")
    p.add_argument("--model", default=None, help="'tiny' (random tiny model, for tests) or a local folder / Hub name")
    p.add_argument("--train-examples", type=int, default=None, help="training rows (0 = whole split)")
    p.add_argument("--eval-examples", type=int, default=None, help="validation rows for the loss (default: all)")
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--max-source-tokens", type=int)
    p.add_argument("--max-target-tokens", type=int)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--save-every", type=int, default=0)
    p.add_argument("--stop-after", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"])
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)

    sizes = {k: v for k, v in dict(train_epochs=a.epochs, batch_size=a.batch_size, grad_accum=a.grad_accum,
                                   learning_rate=a.learning_rate, max_source_tokens=a.max_source_tokens,
                                   max_target_tokens=a.max_target_tokens).items() if v is not None}
    cfg = config.get(a.preset, **sizes)
    model = tokenizer = None
    if a.model == "tiny":
        model, tokenizer = models.tiny(cfg.model_kind, seed=a.seed)
    elif a.model:
        model, tokenizer = models.load_pretrained(a.model, cfg.model_kind)
    result = fine_tune(cfg, a.output_dir, a.train_examples, model=model, tokenizer=tokenizer,
                       eval_examples=a.eval_examples, max_steps=a.max_steps,
                       eval_every=a.eval_every, save_every=a.save_every, stop_after=a.stop_after, seed=a.seed,
                       mixed_precision=a.mixed_precision, resume=a.resume, progress=not a.no_progress)
    from accelerate import PartialState

    if PartialState().is_main_process:
        ev = f", eval loss {result.eval_log[-1]['eval_loss']:.4f}" if result.eval_log else ""
        print(json.dumps({"steps": result.steps, "total_steps": result.total_steps, "final_loss": result.final_loss,
                          "eval_loss": result.eval_log[-1]["eval_loss"] if result.eval_log else None,
                          "seconds": round(result.seconds, 2), "tokens_per_second": round(result.tokens_per_second, 1),
                          "stopped_early": result.stopped_early, "output_dir": str(result.output_dir),
                          "processes": PartialState().num_processes}))
        print(f"trained {result.steps}/{result.total_steps} steps in {result.seconds:.1f} s, "
              f"final loss {result.final_loss:.4f}{ev}")
    return result


if __name__ == "__main__":
    main()
