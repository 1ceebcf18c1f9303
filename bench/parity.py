"""bf16 against fp32 on the embedded model: the same fine-tuning and evaluation in both precisions.

``python -m bench.parity`` (``make parity``) fine-tunes the pocket model twice with lab 03's settings (same rows,
seed, batches and steps), once in fp32 and once in bf16 autocast, then generates lab 04's test summaries with each
model in its own precision and scores them. It writes ``bench/parity.json`` and ``bench/parity.md``: final training
and validation loss of both runs, and ROUGE-1 of both with the paired 95% interval of the difference. Labs 03 and 04
print the table. It needs a CPU or GPU with fast bf16 (see ``helpers.device``); elsewhere it stops and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from helpers import config, data, device, finetune, generate, metrics, models, prompts
from helpers.files import write_atomic

OUT = Path(__file__).resolve().parent
PRECISIONS = ("fp32", "bf16")


def run_one(precision: str, cfg: config.Preset, work: Path, train_examples: int | None = None,
            eval_examples: int | None = None) -> dict:
    """Lab 03's fine-tuning and lab 04's evaluation, both in ``precision`` (sizes: the labs', unless given)."""
    knobs_03 = config.knobs("03", cfg, train_examples=train_examples)
    knobs_04 = config.knobs("04", cfg, eval_examples=eval_examples)
    model, tokenizer = models.load(cfg)
    t0 = time.perf_counter()
    result = finetune.fine_tune(cfg, work / precision, model=model, tokenizer=tokenizer,
                                train_examples=knobs_03["train_examples"],
                                eval_examples=knobs_03["eval_examples"], epochs=knobs_03["epochs"],
                                learning_rate=knobs_03["learning_rate"], batch_size=knobs_03["batch_size"],
                                grad_accum=knobs_03["grad_accum"], precision=precision, save_model=False)
    train_s = time.perf_counter() - t0
    test = data.load(cfg, "test", limit=knobs_04["eval_examples"] or None)
    kind = models.kind_of(result.model)
    texts = [prompts.for_model(tokenizer, prompts.summary_prompt(r["dialogue"]), kind) for r in test]
    t0 = time.perf_counter()
    predictions = generate.batch(result.model, tokenizer, texts, max_new_tokens=knobs_04["max_new_tokens"],
                                 batch_size=knobs_04["gen_batch_size"], precision=precision)
    gen_s = time.perf_counter() - t0
    scores = metrics.per_example(predictions, [r["references"] for r in test])
    return {"precision": result.precision, "steps": result.steps, "final_train_loss": result.final_loss,
            "final_eval_loss": result.eval_log[-1]["eval_loss"], "train_seconds": train_s,
            "generate_seconds": gen_s, "rouge1": scores["rouge1"], "predictions": predictions,
            "mean_rouge1": sum(scores["rouge1"]) / len(scores["rouge1"])}


def markdown(r: dict) -> str:
    a, b, d = r["fp32"], r["bf16"], r["rouge1_diff"]
    return "\n".join([
        "# Precision parity: bf16 autocast against fp32", "",
        f"`{r['command']}` on {r['device']}, {r['date']}: lab 03's fine-tuning recipe ({a['steps']} steps, same "
        f"rows, seed and batches) and lab 04's evaluation ({r['n']} test dialogues), once in each precision. Times "
        f"are one run each on a machine that may have been shared (load average {r['load'][0]:.1f} before, "
        f"{r['load'][1]:.1f} after): `make bench` measures speed side by side.", "",
        "| | fp32 | bf16 | bf16 - fp32 |", "|---|---|---|---|",
        f"| final training loss (last step) | {a['final_train_loss']:.4f} | {b['final_train_loss']:.4f} | "
        f"{b['final_train_loss'] - a['final_train_loss']:+.4f} |",
        f"| final validation loss | {a['final_eval_loss']:.4f} | {b['final_eval_loss']:.4f} | "
        f"{b['final_eval_loss'] - a['final_eval_loss']:+.4f} |",
        f"| ROUGE-1 after fine-tuning | {a['mean_rouge1']:.4f} | {b['mean_rouge1']:.4f} | "
        f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] |",
        f"| fine-tuning time | {a['train_seconds']:.0f} s | {b['train_seconds']:.0f} s | "
        f"{a['train_seconds'] / b['train_seconds']:.2f}x faster |",
        f"| generation time | {a['generate_seconds']:.0f} s | {b['generate_seconds']:.0f} s | "
        f"{a['generate_seconds'] / b['generate_seconds']:.2f}x faster |", "",
        f"Identical generated summaries: {r['identical']} of {r['n']} (greedy text may differ token by token between "
        f"precisions). ROUGE-1 difference: {r['verdict']}.", ""])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.parity", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pocket", choices=list(config.PRESETS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--train-examples", type=int, help="training rows (default: lab 03's)")
    ap.add_argument("--eval-examples", type=int, help="test dialogues scored (default: lab 04's, the whole split)")
    a = ap.parse_args(argv)
    if not device.bf16_fast():
        raise SystemExit(f"{device.describe()} has no fast bf16 kernels: there is nothing to compare here")
    cfg = config.get(a.preset)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="parity_") as tmp:
        runs = {p: run_one(p, cfg, Path(tmp), a.train_examples, a.eval_examples) for p in PRECISIONS}
    diff = metrics.paired_difference(runs["fp32"]["rouge1"], runs["bf16"]["rouge1"])
    same = sum(x == y for x, y in zip(runs["fp32"]["predictions"], runs["bf16"]["predictions"]))
    verdict = metrics.verdict(diff["low"], diff["high"], "bf16", "fp32")
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "device": device.describe(),
              "command": " ".join(["python -m bench.parity", *(argv if argv is not None else sys.argv[1:])]),
              "load": [load_before, os.getloadavg()[0]],
              "preset": cfg.name, "n": len(runs["fp32"]["rouge1"]), "rouge1_diff": diff, "identical": same,
              "verdict": verdict, **{p: {k: v for k, v in r.items() if k != "predictions"} for p, r in runs.items()}}
    write_atomic(a.out / "parity.json", json.dumps(result, indent=1))
    write_atomic(a.out / "parity.md", markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
