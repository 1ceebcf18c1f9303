"""Full fine-tuning in one call, and the command line that runs it under ``accelerate launch``.

    python -m helpers.finetune --preset pocket --output-dir runs/full_ft
    accelerate launch --config_file helpers/accelerate_configs/multi_gpu.yaml -m helpers.finetune --preset course ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from accelerate import PartialState

from . import config, data, device, models
from .files import write_atomic
from .tokenizing import summary_dataset
from .train import TrainConfig, TrainResult, run


def fine_tune(preset, output_dir: str | Path, train_examples: int | None = None, model=None, tokenizer=None,
              eval_examples: int | None = None, **overrides) -> TrainResult:
    """Full fine-tuning of the preset's model on its summarization train split (validation split for eval loss).

    ``train_examples`` (None = the preset's; 0 = whole split), ``eval_examples`` (validation rows for the loss;
    None = whole split) and TrainConfig ``overrides`` change the sizes.
    """
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
    settings = dict(output_dir=Path(output_dir), epochs=cfg.train_epochs, batch_size=cfg.batch_size,
                    grad_accum=cfg.grad_accum, learning_rate=cfg.learning_rate, eval_batch_size=cfg.eval_batch_size)
    settings.update(overrides)
    return run(model, tokenizer, train_ds, eval_ds, TrainConfig(**settings))


def search_settings(preset) -> dict:
    """The short runs of a learning-rate search at lab 03's batches: one epoch, 10% warm-up (labs 05 and 06 search
    with these, so one search serves both)."""
    k = config.knobs("03", preset)
    return dict(epochs=1.0, batch_size=k["batch_size"], grad_accum=k["grad_accum"], warmup_ratio=0.1,
                eval_batch_size=preset.eval_batch_size)


def _rows_digest(*datasets) -> str:
    """Which tokenized rows a search saw: a hash of every row's input ids and labels."""
    h = hashlib.sha256()
    for ds in datasets:
        for row in ds:
            h.update(json.dumps([list(map(int, row["input_ids"])), list(map(int, row["labels"]))]).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


def learning_rate_search(make_model, tokenizer, train_ds, eval_ds, rates: list[float], output_dir: str | Path,
                         keep_best: bool = False, model_id: str | None = None,
                         **settings) -> tuple[list[dict], float, TrainResult | None]:
    """Pick a learning rate on the validation split: one short run per rate, the lowest final validation loss wins.

    Every run starts from a fresh ``make_model()`` and trains on the same rows in the same order (same seed) with the
    same TrainConfig ``settings``, so the rate is the only difference. The test split is never looked at. Returns one
    row per rate ({learning_rate, eval_loss, train_loss, steps, seconds}), the best rate, and with ``keep_best`` the
    best run's TrainResult (its model trained), else None.

    With ``model_id`` (which model and adapter ``make_model`` builds) the result is stored in ``output_dir`` and
    reused by a later search with the same model, rates, rows, settings and precision, instead of being run again.
    """
    if not rates:
        raise ValueError("give at least one learning rate to try, e.g. [1e-4, 2e-4, 4e-4]")
    if eval_ds is None or len(eval_ds) == 0:
        raise ValueError("the search needs validation rows (eval_ds): the rate is chosen on them, never on the test split")
    stored, key = Path(output_dir) / "search.json", None
    if model_id is not None and not keep_best:
        key = {"model": model_id, "rates": [float(r) for r in rates], "rows": _rows_digest(train_ds, eval_ds),
               "settings": settings, "precision": device.precision(settings.get("precision"))}
        saved = json.loads(stored.read_text()) if stored.exists() else None
        if saved and saved["key"] == key:
            print(f"learning-rate search: reusing the one stored in {stored} (same model, rates, rows and settings)")
            _say_if_at_edge(rates, saved["chosen"])
            return saved["table"], saved["chosen"], None
    table, best, best_run = [], None, None
    for rate in rates:
        result = run(make_model(), tokenizer, train_ds, eval_ds,
                     TrainConfig(output_dir=Path(output_dir) / f"lr_{rate:g}", learning_rate=rate, save_model=False,
                                 **settings))
        row = {"learning_rate": rate, "eval_loss": result.eval_log[-1]["eval_loss"], "train_loss": result.final_loss,
               "steps": result.steps, "seconds": result.seconds}
        table.append(row)
        if best is None or row["eval_loss"] < best["eval_loss"]:
            best = row
            best_run = result if keep_best else None
        if not keep_best:
            result.model = None
    if key is not None:
        write_atomic(stored, json.dumps({"key": key, "table": table, "chosen": best["learning_rate"]}, indent=1))
    _say_if_at_edge(rates, best["learning_rate"])
    return table, best["learning_rate"], best_run


def at_edge(rates: list[float], chosen: float) -> bool:
    """True when a search over several rates chose its smallest or largest: a rate beyond it was never tried."""
    return len(rates) > 1 and chosen in (min(rates), max(rates))


def _say_if_at_edge(rates: list[float], chosen: float) -> None:
    if at_edge(rates, chosen):
        side = "largest" if chosen == max(rates) else "smallest"
        print(f"learning-rate search: the chosen rate {chosen:g} is the {side} tried ({[float(r) for r in rates]}): "
              "a rate beyond it might do better; widen the grid (the lab's grid parameter) to find out")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers.finetune",
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
    p.add_argument("--precision", choices=list(device.CHOICES), default=None,
                   help="compute precision (default: $WORKBOOK_PRECISION, else auto: bf16 where the hardware runs "
                        "it fast). It replaces the accelerate config's mixed_precision.")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> TrainResult:
    a = parser().parse_args(argv)
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
                       eval_examples=a.eval_examples, max_steps=a.max_steps, eval_every=a.eval_every,
                       save_every=a.save_every, stop_after=a.stop_after, seed=a.seed, precision=a.precision,
                       resume=a.resume, progress=not a.no_progress)
    if PartialState().is_main_process:
        eval_loss = result.eval_log[-1]["eval_loss"] if result.eval_log else None
        print(json.dumps({"steps": result.steps, "total_steps": result.total_steps, "final_loss": result.final_loss,
                          "eval_loss": eval_loss, "precision": result.precision,
                          "seconds": round(result.seconds, 2), "tokens_per_second": round(result.tokens_per_second, 1),
                          "stopped_early": result.stopped_early, "output_dir": str(result.output_dir),
                          "processes": PartialState().num_processes}))
        print(f"trained {result.steps}/{result.total_steps} steps in {result.seconds:.1f} s in {result.precision}, "
              f"final loss {result.final_loss:.4f}" + (f", eval loss {eval_loss:.4f}" if eval_loss is not None else ""))
    return result


if __name__ == "__main__":
    main()
