"""The course's seq2seq path on whatever device is here, with no hub: ``python -m bench.seq2seq_check``.

The model is FLAN-T5-base's architecture (``bench/flan_t5_base.json``: the values of its published config.json,
12 + 12 layers, d_model 768, gated GELU, an untied output layer, a 32,128-token vocabulary) with random weights; the
tokenizer is the T5-style one the ``tiny-seq2seq`` preset builds from the pocket text (``helpers.models``: <pad>=0,
</s>=1, <unk>=2), whose ids all lie inside that vocabulary. The shapes are the real model's, so speed and memory
stand for FLAN-T5-base; losses and generated text do not.

It runs what the ``course`` preset runs, on pocket dialogues at the course's budgets (512 source, 128 target tokens):
a few steps of full fine-tuning with the course's settings (lr 1e-5, batch 8), LoRA as the course sets it (r = 32,
alpha = 32, q and v, dropout 0.05, lr 1e-3), and batched greedy generation. It checks that every encoder input ends
with </s>, that the losses are finite and that every prompt got an answer, records the precision the policy chose for
T5 (bf16 from compute capability 8.0, else fp32), tokens/s, peak memory and generation speed, and exits 1 if a check
fails. ``--tiny`` swaps in the tiny-seq2seq sizes: the same path on a CPU in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

from helpers import config, data, device, generate, lora, memory, models, prompts, tokenizing, train

CONFIG = Path(__file__).with_name("flan_t5_base.json")
MIB = 2 ** 20


def untie_output_layer(model) -> None:
    """Give the output layer weights of its own, as FLAN-T5 has: transformers 5's T5Config turns
    ``tie_word_embeddings: false`` into True, so a model built from the config shares them with the input embeddings
    (24.7M parameters fewer than FLAN-T5-base, and less memory)."""
    if model.lm_head.weight is model.shared.weight:
        model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())


def build(tiny: bool, seed: int = 0):
    """(model, tokenizer): FLAN-T5-base's shapes (or the tiny ones) with seeded random weights."""
    tokenizer = AutoTokenizer.from_pretrained(models.tiny_seq2seq_folder())
    cfg = models.t5_config(tokenizer) if tiny else T5Config.from_json_file(CONFIG)
    if len(tokenizer) > cfg.vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} ids but the model only {cfg.vocab_size}")
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(cfg).eval()
    if not tiny:
        untie_output_layer(model)
    return model, tokenizer


def train_side(model, tokenizer, rows, steps: int, batch: int, lr: float, dev) -> dict:
    """A few optimizer steps with helpers.train; speed, losses and the peak memory they added."""
    with tempfile.TemporaryDirectory() as tmp, memory.PeakMemory(dev) as peak:
        res = train.run(model, tokenizer, rows, None, train.TrainConfig(
            output_dir=Path(tmp), max_steps=steps, batch_size=batch, learning_rate=lr, save_model=False, progress=False))
    losses = [e["loss"] for e in res.log]
    return {"steps": res.steps, "seconds": res.seconds, "tokens_per_s": res.tokens_per_second,
            "useful_tokens_per_s": res.useful_tokens_per_second, "first_loss": losses[0], "final_loss": losses[-1],
            "losses_finite": all(math.isfinite(x) for x in losses), "peak_added_mib": peak.added / MIB}


def check(steps: int = 30, batch: int = 8, gen_examples: int = 64, gen_batch: int = 32, tiny: bool = False) -> dict:
    """Train (full and LoRA) and generate; the measurements and the checks, as one dict."""
    course = config.get("course")
    dev = device.pick()
    model, tokenizer = build(tiny)
    rows = tokenizing.summary_dataset(tokenizer, "seq2seq", data.load_dialogsum("pocket", "train", limit=steps * batch),
                                      course.max_source_tokens, course.max_target_tokens)
    out = {"device": device.describe(dev), "precision": device.precision(dev=dev, kind="seq2seq"),
           "model": "tiny-seq2seq sizes" if tiny else "FLAN-T5-base architecture (bench/flan_t5_base.json)",
           "n_params": models.n_params(model), "train_rows": len(rows)}
    out["full"] = train_side(model, tokenizer, rows, steps, batch, 1e-5, dev)  # the course's full fine-tuning lr
    base, _ = build(tiny)
    peft_model = get_peft_model(base, LoraConfig(r=32, lora_alpha=32, lora_dropout=0.05, target_modules=["q", "v"],
                                                 task_type=TaskType.SEQ_2_SEQ_LM))  # the course's LoRA
    out["lora"] = {**train_side(peft_model, tokenizer, rows, steps, batch, 1e-3, dev), **lora.count(peft_model)}
    test = data.load_dialogsum("pocket", "test", limit=gen_examples)
    texts = [prompts.for_model(tokenizer, prompts.summary_prompt(r["dialogue"]), "seq2seq") for r in test]
    tuned = model.to(dev)
    generate.batch(tuned, tokenizer, texts[:gen_batch], max_new_tokens=8, batch_size=gen_batch, progress=False)  # warm-up
    t0 = time.perf_counter()
    answers = generate.batch(tuned, tokenizer, texts, max_new_tokens=course.max_target_tokens, batch_size=gen_batch,
                             progress=False)
    seconds = time.perf_counter() - t0
    out["generation"] = {"examples": len(texts), "batch_size": gen_batch, "max_new_tokens": course.max_target_tokens,
                         "seconds": seconds, "examples_per_s": len(texts) / seconds}
    out["checks"] = {"encoder_inputs_end_with_eos": all(x[-1] == tokenizer.eos_token_id for x in rows["input_ids"]),
                     "losses_finite": out["full"]["losses_finite"] and out["lora"]["losses_finite"],
                     "every_prompt_answered": len(answers) == len(texts) and all(isinstance(a, str) for a in answers)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.seq2seq_check", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps of each training (full, LoRA)")
    ap.add_argument("--batch-size", type=int, default=8, help="rows a step (the course's Trainer default)")
    ap.add_argument("--gen-examples", type=int, default=64, help="test dialogues generated")
    ap.add_argument("--gen-batch-size", type=int, default=32)
    ap.add_argument("--tiny", action="store_true", help="the tiny-seq2seq sizes instead of FLAN-T5-base's")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    a = ap.parse_args(argv)
    results = check(a.steps, a.batch_size, a.gen_examples, a.gen_batch_size, a.tiny)
    text = json.dumps(results, indent=1)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    failed = [name for name, ok in results["checks"].items() if not ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
