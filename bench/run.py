"""Run every benchmark and write ``bench/results.json`` and ``bench/results.md``: ``python -m bench.run``.

Each comparison runs both sides in the same run, on the same model, data and machine, and reports the ratio
(absolute times on a shared 2-core machine are noisy; ratios much less so):

1. training: ``helpers.train`` against the course recipe as the course writes it (``transformers.Trainer``, fp32,
   every row padded to a fixed length) and against the best ``Trainer`` setting a careful user would pick on the
   same machine (the precision policy's bf16 where the hardware has it, ``group_by_length=True``, dynamic padding):
   wall time, total and useful (non-padding) tokens/s, peak memory;
2. compute: the training loop's achieved FLOP/s (6 x parameters x tokens) against a large matmul in the precision
   the loop used, timed in the same process just before it;
3. evaluation: ``helpers.generate.batch`` batched against one example at a time: examples/s, identical outputs;
4. memory: peak memory of full fine-tuning and of LoRA (``peft``) against ``helpers.memory``'s estimate;
5. the workbook: wall time per lab from the newest ``runs/*/timings.json`` (written by ``make labs``).

Every training side runs in a fresh child process (``--worker``), so its peak memory is its own; the parent
starts them one after the other. ``--size tiny`` runs every code path on a random tiny model in seconds (tests).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, default_data_collator

from helpers import data, device, generate, memory, models, prompts, tokenizing, train
from helpers.files import write_atomic
from helpers.tokenizing import IGNORE

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench"
REFERENCE = REPO / "results"  # the committed reference run (`make results`)
README = REPO / "README.md"
BF16_WHERE = "(a CPU with AVX-512 BF16 or AMX, or a GPU)"
README_BLOCK = re.compile(r"(<!-- bench-targets -->\n).*?(<!-- /bench-targets -->)", re.S)
MARK = "BENCH_RESULT "
SIDES = ("course", "best", "ours", "lora")
CHILD_ENV = {"WORKBOOK_HEADLESS": "1", "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error",
             "HF_HUB_DISABLE_PROGRESS_BARS": "1", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}

# The targets: (key in the results, comparison, threshold, what it means)
TARGETS = [
    ("training.ratios.useful_tokens_per_s", ">=", 2.5, "training: useful tokens/s vs the course recipe"),
    ("training.ratios.useful_tokens_per_s_vs_best_trainer", ">=", 1.0,
     "training: useful tokens/s vs the best Trainer setting (never slower than the library used well)"),
    ("compute.share_of_matmul_peak", ">=", 0.4, "training FLOP/s as a share of the matmul peak in the precision used"),
    ("generation.ratios.examples_per_s", ">=", 3.0, "evaluation: batched vs one at a time, examples/s"),
    ("memory.ratios.lora_over_full_peak", "<=", 0.7, "LoRA peak memory as a share of full fine-tuning's"),
    ("labs.total_minutes", "<=", 30.0, "make labs (default preset, all labs), minutes"),
]


@dataclass
class Sizes:
    """How big each benchmark is; ``pocket`` keeps the whole run near 10 minutes on a 2-core CPU."""
    model: str = "pocket"  # "pocket" (the embedded SmolLM2-135M), "tiny" (random, for tests) or a local model folder
    train_examples: int = 32
    batch_size: int = 4
    max_source: int = 384  # the pocket preset's budgets; the course recipe pads every row to their sum
    max_target: int = 96
    learning_rate: float = 1e-4
    lora_rank: int = 8
    gen_examples: int = 24
    gen_batch_size: int = 8
    max_new_tokens: int = 64
    matmul_n: int = 2048
    matmul_repeats: int = 5

    @property
    def fixed_length(self) -> int:
        return self.max_source + self.max_target

    def validate(self) -> None:
        if self.model not in ("pocket", "tiny") and not (Path(self.model) / "config.json").is_file():
            raise ValueError(f"Sizes.model must be 'pocket', 'tiny' or a folder holding a saved model "
                             f"(config.json, safetensors weights, tokenizer), got {self.model!r}")
        for key, value in asdict(self).items():
            if key != "model" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"benchmark size {key} must be a positive number, got {value!r}")


SIZES = {
    "pocket": Sizes(),
    "tiny": Sizes(model="tiny", train_examples=8, batch_size=4, max_source=64, max_target=16, lora_rank=4,
                  gen_examples=6, gen_batch_size=3, max_new_tokens=8, matmul_n=256, matmul_repeats=3),
}


# --- measuring ------------------------------------------------------------------------------------------------


def peak_bytes() -> int:
    """Peak memory of this process (``helpers.memory.peak_bytes`` on the device training uses)."""
    return memory.peak_bytes("cuda" if torch.cuda.is_available() else "cpu")


def matmul_peak(n: int, repeats: int) -> dict:
    """FLOP/s of an n x n matmul on this device, in the precision training uses there (``helpers.device`` policy):
    the best of ``repeats`` timed runs (after a warm-up)."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = device.dtype(dev=torch.device(dev))
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    times = []
    for i in range(repeats + 1):
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        torch.mm(a, b)
        if dev == "cuda":
            torch.cuda.synchronize()
        if i:  # the first run warms up
            times.append(time.perf_counter() - t0)
    flops = 2 * n ** 3
    times.sort()
    return {"n": n, "repeats": repeats, "best_flops": flops / times[0],
            "median_flops": flops / times[len(times) // 2], "threads": torch.get_num_threads(),
            "dtype": str(dtype).replace("torch.", "")}


# --- the training worker (runs in a child process) ------------------------------------------------------------


def _model(sizes: Sizes):
    if sizes.model == "tiny":
        return models.tiny("causal", seed=0)
    if sizes.model == "pocket":
        return models.load("pocket")
    return models.load_pretrained(sizes.model, "causal")


def _train_rows(tokenizer, sizes: Sizes):
    rows = data.load_dialogsum("pocket", "train", limit=sizes.train_examples)
    return tokenizing.summary_dataset(tokenizer, "causal", rows, sizes.max_source, sizes.max_target)


def _pad_fixed(ds, pad_id: int, length: int):
    """The course recipe's rows: every row padded (on the right) to ``length``; padding masked in the labels."""
    out = []
    for r in ds:
        k = length - len(r["input_ids"])
        if k < 0:
            raise ValueError(f"a row has {len(r['input_ids'])} tokens, more than the fixed length {length}")
        out.append({"input_ids": r["input_ids"] + [pad_id] * k, "attention_mask": r["attention_mask"] + [0] * k,
                    "labels": r["labels"] + [IGNORE] * k})
    return Dataset.from_list(out)


def _group_by_length(on: bool) -> dict:
    """Trainer's length grouping: ``train_sampling_strategy`` in transformers 5, ``group_by_length`` before."""
    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        return {"train_sampling_strategy": "group_by_length" if on else "random"}
    return {"group_by_length": on}


def _train_trainer(model, tokenizer, ds, sizes: Sizes, tmp: Path, best: bool) -> dict:
    """transformers' Trainer: as the course's lab uses it (fp32, every row padded to a fixed length), or ``best``:
    the precision policy's precision, batches grouped by length, each padded to its own longest row."""
    precision = device.precision() if best else "fp32"
    if best:
        rows, collate = ds, DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)
        counted = {"tokens": 0, "useful_tokens": 0}

        def collator(features):  # count what each batch really computes
            batch = collate(features)
            counted["tokens"] += batch["input_ids"].numel()
            counted["useful_tokens"] += int(batch["attention_mask"].sum())
            return batch
    else:
        rows, collator = _pad_fixed(ds, tokenizer.pad_token_id, sizes.fixed_length), default_data_collator
    args = TrainingArguments(output_dir=str(tmp / "trainer"), per_device_train_batch_size=sizes.batch_size,
                             num_train_epochs=1, learning_rate=sizes.learning_rate, save_strategy="no",
                             logging_strategy="no", report_to="none", disable_tqdm=True, seed=0,
                             bf16=precision == "bf16", fp16=precision == "fp16", dataloader_num_workers=0,
                             use_cpu=not torch.cuda.is_available(),  # Trainer's bf16 on a CPU needs it said
                             **_group_by_length(best))
    model.train()
    t0 = time.perf_counter()
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
    out = trainer.train()
    wall = time.perf_counter() - t0
    if best:
        tokens, useful = counted["tokens"], counted["useful_tokens"]
    else:
        tokens, useful = len(rows) * sizes.fixed_length, int(sum(map(sum, rows["attention_mask"])))
    return {"wall_s": wall, "loop_s": float(out.metrics["train_runtime"]), "loss": float(out.training_loss),
            "tokens": tokens, "useful_tokens": useful, "steps": int(out.global_step), "precision": precision}


def _train_ours(model, tokenizer, ds, sizes: Sizes, tmp: Path, name: str) -> dict:
    cfg = train.TrainConfig(output_dir=tmp / name, epochs=1.0, batch_size=sizes.batch_size,
                            learning_rate=sizes.learning_rate, save_model=False, progress=False, seed=0)
    t0 = time.perf_counter()
    res = train.run(model, tokenizer, ds, None, cfg)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "loop_s": res.seconds, "loss": res.final_loss, "tokens": res.tokens,
            "useful_tokens": res.useful_tokens, "steps": res.steps, "precision": res.precision}


def _lora(model, sizes: Sizes):
    cfg = LoraConfig(r=sizes.lora_rank, lora_alpha=2 * sizes.lora_rank, lora_dropout=0.0,
                     target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def worker(side: str, sizes: Sizes) -> dict:
    """One training side: 'course' (Trainer as the course uses it), 'best' (Trainer used well), 'ours'
    (helpers.train), 'lora' (helpers.train + peft)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    rss_runtime = memory.rss_bytes()  # Python, torch and transformers imported; no model yet
    model, tokenizer = _model(sizes)
    if torch.cuda.is_available():
        model.to("cuda")
    ds = _train_rows(tokenizer, sizes)
    params = models.n_params(model)
    longest = sizes.fixed_length if side == "course" else max(len(x) for x in ds["input_ids"])
    out: dict = {"side": side, "params": params, "examples": len(ds), "rss_runtime": rss_runtime,
                 "longest_batch": [sizes.batch_size, longest]}
    if side in ("ours", "lora"):
        out["estimate"] = estimate_bytes(model, sizes.batch_size, longest, lora=side == "lora", sizes=sizes)
    if side == "ours":  # the limit, measured in the same process right before the loop
        out["matmul"] = matmul_peak(sizes.matmul_n, sizes.matmul_repeats)
    if side == "lora":
        model = _lora(model, sizes)
        out["trainable_params"] = models.n_params(model, trainable_only=True)
    else:
        out["trainable_params"] = params

    gc.collect()
    out["rss_before"] = memory.rss_bytes()  # weights and data loaded, training not started
    if torch.cuda.is_available():  # the peak is GPU memory then: compare it with GPU memory, which had no runtime
        out["rss_runtime"], out["rss_before"] = 0, int(torch.cuda.memory_allocated())
    exact = memory.reset_peak("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        if side in ("course", "best"):
            out.update(_train_trainer(model, tokenizer, ds, sizes, Path(tmp), best=side == "best"))
        else:
            out.update(_train_ours(model, tokenizer, ds, sizes, Path(tmp), side))
    out["peak_bytes"] = peak_bytes()
    out["peak_exact"] = exact  # False: the peak may include memory used before this side started
    out["memory_kind"] = "cuda max_memory_allocated" if torch.cuda.is_available() else "peak RSS (VmHWM)"
    return out


def estimate_bytes(model, batch: int, seq: int, lora: bool, sizes: Sizes) -> dict:
    """``helpers.memory``'s estimate for a batch of ``batch`` x ``seq`` tokens.

    helpers.memory estimates full fine-tuning; for LoRA the same parts are composed: every weight, gradients and
    AdamW states for the adapter's parameters only, and the same activations.
    """
    precision = device.precision()
    full = memory.estimate_for(model, batch, seq, precision)
    if not lora:
        return {"bytes": full.total, "parts": dict(full.rows()), "batch": batch, "seq": seq}
    trainable = lora_params(model, sizes)
    adapter = memory.estimate(trainable, precision)
    parts = {"weights": full.weights, "fp32 master weights": adapter.master_weights, "gradients": adapter.gradients,
             "AdamW states (m, v)": adapter.optimizer, "activations": full.activations}
    parts["total"] = sum(parts.values())
    return {"bytes": parts["total"], "parts": parts, "batch": batch, "seq": seq}


def lora_params(model, sizes: Sizes) -> int:
    """Trainable parameters LoRA adds to ``model`` (q_proj and v_proj, rank sizes.lora_rank), counted without peft."""
    n = 0
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in ("q_proj", "v_proj"):
            n += sizes.lora_rank * (m.in_features + m.out_features)
    return n


def launch(side: str, sizes: Sizes, isolate: bool = True) -> dict:
    """Run one side in a fresh child process (default) or in this one; return its measurements."""
    if not isolate:
        return worker(side, sizes)
    spec = json.dumps({"side": side, "sizes": asdict(sizes)})
    env = {**os.environ, **CHILD_ENV}
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--worker", spec], cwd=REPO, env=env,
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark side {side!r} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(MARK):])


# --- the five benchmarks --------------------------------------------------------------------------------------


def _rate(n: float, s: float) -> float:
    return n / s if s > 0 else float("nan")


def _with_rates(side: dict) -> dict:
    side["tokens_per_s"] = _rate(side["tokens"], side["wall_s"])
    side["useful_tokens_per_s"] = _rate(side["useful_tokens"], side["wall_s"])
    side["padding_share"] = 1 - side["useful_tokens"] / side["tokens"] if side["tokens"] else float("nan")
    return side


def bench_training(course: dict, ours: dict, best: dict) -> dict:
    course, ours, best = _with_rates(course), _with_rates(ours), _with_rates(best)
    return {"course": course, "ours": ours, "best_trainer": best, "ratios": {
        "wall_time_speedup": course["wall_s"] / ours["wall_s"],
        "tokens_per_s": ours["tokens_per_s"] / course["tokens_per_s"],
        "useful_tokens_per_s": ours["useful_tokens_per_s"] / course["useful_tokens_per_s"],
        "useful_tokens_per_s_vs_best_trainer": ours["useful_tokens_per_s"] / best["useful_tokens_per_s"],
        "tokens_computed": ours["tokens"] / course["tokens"],
        "tokens_computed_vs_best_trainer": ours["tokens"] / best["tokens"],
        "peak_memory": ours["peak_bytes"] / course["peak_bytes"],
    }, "same_useful_tokens": course["useful_tokens"] == ours["useful_tokens"] == best["useful_tokens"]}


def bench_compute(ours: dict, course: dict) -> dict:
    peak = ours["matmul"]["best_flops"]
    fed = 6 * ours["params"] * ours["tokens"] / ours["loop_s"]
    useful = 6 * ours["params"] * ours["useful_tokens"] / ours["loop_s"]
    course_fed = 6 * course["params"] * course["tokens"] / course["loop_s"]
    return {"matmul": ours["matmul"], "params": ours["params"], "achieved_flops": fed, "useful_flops": useful,
            "course_achieved_flops": course_fed, "share_of_matmul_peak": fed / peak,
            "useful_share_of_matmul_peak": useful / peak, "course_share_of_matmul_peak": course_fed / peak,
            "note": "FLOPs = 6 x parameters x tokens fed (padding included) per second of the training loop; "
                    "the useful share counts non-padding tokens only"}


def bench_generation(sizes: Sizes, model=None, tokenizer=None) -> dict:
    """helpers.generate.batch with sizes.gen_batch_size against batch_size=1 on the same test prompts, in the
    precision policy's precision; where that is not fp32, the batched run is also timed in fp32."""
    if model is None:

        model, tokenizer = _model(sizes)
        if torch.cuda.is_available():
            model.to("cuda")
    rows = data.load_dialogsum("pocket", "test", limit=sizes.gen_examples)
    texts = [prompts.for_model(tokenizer, prompts.summary_prompt(r["dialogue"]), "causal") for r in rows]
    generate.batch(model, tokenizer, texts[:1], max_new_tokens=4, batch_size=1, progress=False)  # warm-up
    t0 = time.perf_counter()
    single = [generate.batch(model, tokenizer, [t], max_new_tokens=sizes.max_new_tokens, batch_size=1,
                             progress=False)[0] for t in texts]
    t_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    batched = generate.batch(model, tokenizer, texts, max_new_tokens=sizes.max_new_tokens,
                             batch_size=sizes.gen_batch_size, progress=False)
    t_batched = time.perf_counter() - t0
    # the same calls for one new token time the prompts' prefill alone, one at a time and batched
    t0 = time.perf_counter()
    for t in texts:
        generate.batch(model, tokenizer, [t], max_new_tokens=1, batch_size=1, progress=False)
    t_prefill_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    generate.batch(model, tokenizer, texts, max_new_tokens=1, batch_size=sizes.gen_batch_size, progress=False)
    t_prefill_batched = time.perf_counter() - t0
    same = [a == b for a, b in zip(single, batched)]
    differ = [{"single": a, "batched": b} for a, b in zip(single, batched) if a != b][:3]
    n = len(texts)
    out = {"examples": n, "batch_size": sizes.gen_batch_size, "max_new_tokens": sizes.max_new_tokens,
           "precision": device.precision(), "single": {"seconds": t_single, "examples_per_s": n / t_single},
           "batched": {"seconds": t_batched, "examples_per_s": n / t_batched},
           "prefill": {"single_seconds": t_prefill_single, "batched_seconds": t_prefill_batched,
                       "share_of_single": t_prefill_single / t_single},
           "ratios": {"examples_per_s": t_single / t_batched, "prefill": t_prefill_single / t_prefill_batched,
                      "decoding": (t_single - t_prefill_single) / max(t_batched - t_prefill_batched, 1e-9)},
           "identical_outputs": sum(same), "identical_share": sum(same) / n, "differing_examples": differ}
    if out["precision"] != "fp32":  # what the precision policy buys: the same batched run in fp32
        t0 = time.perf_counter()
        fp32 = generate.batch(model, tokenizer, texts, max_new_tokens=sizes.max_new_tokens,
                              batch_size=sizes.gen_batch_size, progress=False, precision="fp32")
        t_fp32 = time.perf_counter() - t0
        out["batched_fp32"] = {"seconds": t_fp32, "examples_per_s": n / t_fp32,
                               "identical_to_policy": sum(x == y for x, y in zip(fp32, batched))}
        out["ratios"]["policy_over_fp32_examples_per_s"] = t_fp32 / t_batched
    return out


def bench_memory(full: dict, lora: dict, sizes: Sizes) -> dict:
    out = {"full": {"peak_bytes": full["peak_bytes"], "rss_before": full["rss_before"],
                    "trainable_params": full["trainable_params"]},
           "lora": {"peak_bytes": lora["peak_bytes"], "rss_before": lora["rss_before"],
                    "trainable_params": lora["trainable_params"], "rank": sizes.lora_rank,
                    "wall_s": lora["wall_s"], "useful_tokens_per_s": _rate(lora["useful_tokens"], lora["wall_s"])},
           "memory_kind": full["memory_kind"], "exact": bool(full["peak_exact"] and lora["peak_exact"])}
    out["ratios"] = {"lora_over_full_peak": lora["peak_bytes"] / full["peak_bytes"],
                     "lora_over_full_increment": (lora["peak_bytes"] - lora["rss_before"])
                     / max(full["peak_bytes"] - full["rss_before"], 1),
                     "lora_over_full_speed": out["lora"]["useful_tokens_per_s"]
                     / _rate(full["useful_tokens"], full["wall_s"])}
    for name, side in (("full", full), ("lora", lora)):
        est = side.get("estimate")
        out[name]["estimate"] = est
        out[name]["rss_runtime"] = side.get("rss_runtime")
        if est and side.get("rss_runtime") is not None:
            # the estimate covers the model and training state, not the Python/torch runtime: compare like with like
            out["ratios"][f"measured_over_estimate_{name}"] = (side["peak_bytes"] - side["rss_runtime"]) / est["bytes"]
    if full.get("estimate") and lora.get("estimate"):
        out["ratios"]["estimate_lora_over_full"] = lora["estimate"]["bytes"] / full["estimate"]["bytes"]
    return out


def bench_labs(runs: Path, reference: Path = REFERENCE) -> dict:
    """Per-lab wall time of the newest complete ``make labs`` run on the default preset: ``runs/*/timings.json``,
    else the committed reference run (``results/timings.json``, copied there by ``make results``)."""
    found = sorted(runs.glob("*/timings.json"), key=lambda p: p.parent.name) if runs.exists() else []
    ref = reference / "timings.json"
    if not found and not ref.exists():
        return {"available": False, "note": f"no {runs.name}/*/timings.json yet: run `make labs` first"}

    def summary_field(path: Path, field: str) -> str | None:
        summary = path.parent / "summary.md"
        m = re.search(rf"{field}: `([^`]+)`", summary.read_text()) if summary.exists() else None
        return m.group(1) if m else None

    labs = {p.stem for p in (REPO / "labs").glob("[0-9][0-9]_*.ipynb")}
    pocket = [p for p in found if summary_field(p, "Preset") == "pocket"]
    whole = [p for p in pocket if labs <= set(json.loads(p.read_text()))]
    # the newest complete pocket run here, else the committed reference run (complete by construction), else the
    # newest pocket run, else the newest of any preset (each named in the results)
    path = (whole or ([ref] if ref.exists() else []) or pocket or found)[-1]
    times = json.loads(path.read_text())
    run = json.loads((reference / "run.json").read_text())["run"] if path == ref else path.parent.name
    return {"available": True, "run": run, "source": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
            "preset": summary_field(path, "Preset"), "precision": summary_field(path, "precision"),
            "all_labs": labs <= set(times), "seconds": {k: float(v) for k, v in times.items()},
            "total_s": float(sum(times.values())), "total_minutes": float(sum(times.values())) / 60}


# --- report ---------------------------------------------------------------------------------------------------


def _get(results: dict, dotted: str):
    cur = results
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def check_targets(results: dict) -> list[dict]:
    out = []
    for key, op, threshold, what in TARGETS:
        value = _get(results, key)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out.append({"target": what, "key": key, "op": op, "threshold": threshold, "measured": value, "met": met})
    return out


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB"


def _md_training(r: dict, m: dict, s: dict) -> list[str]:
    lines: list[str] = []
    tr = r["training"]
    lines += ["", "## 1. Training: `helpers.train` vs `transformers.Trainer`", "",
              f"{s['train_examples']} pocket training examples, batch {s['batch_size']}, one epoch, the "
              f"`{s['model']}` model. Course recipe: `Trainer` as the course uses it, fp32, every row padded to "
              f"{s['max_source'] + s['max_target']} tokens. Best Trainer: `group_by_length=True`, dynamic padding "
              f"(`DataCollatorForSeq2Seq`), {tr['best_trainer'].get('precision', 'fp32')}. Ours: dynamic padding, "
              f"length-grouped batches, {tr['ours'].get('precision', 'fp32')} (the precision policy's choice here).",
              "", "| | course recipe | best Trainer | helpers.train | ours vs course | ours vs best |",
              "|---|---|---|---|---|---|"]
    c, b, o, q = tr["course"], tr["best_trainer"], tr["ours"], tr["ratios"]
    lines += [f"| precision | {c.get('precision', 'fp32')} | {b.get('precision', 'fp32')} | {o.get('precision', 'fp32')} | | |",
              f"| wall time | {c['wall_s']:.1f} s | {b['wall_s']:.1f} s | {o['wall_s']:.1f} s | "
              f"{q['wall_time_speedup']:.2f}x faster | {b['wall_s'] / o['wall_s']:.2f}x faster |",
              f"| tokens computed | {c['tokens']:,} | {b['tokens']:,} | {o['tokens']:,} | {q['tokens_computed']:.2f} | "
              f"{q['tokens_computed_vs_best_trainer']:.2f} |",
              f"| padding share | {c['padding_share']:.0%} | {b['padding_share']:.0%} | {o['padding_share']:.0%} | | |",
              f"| useful tokens/s | {c['useful_tokens_per_s']:,.0f} | {b['useful_tokens_per_s']:,.0f} | "
              f"{o['useful_tokens_per_s']:,.0f} | **{q['useful_tokens_per_s']:.2f}x** | "
              f"**{q['useful_tokens_per_s_vs_best_trainer']:.2f}x** |",
              f"| peak memory ({c['memory_kind']}) | {_mb(c['peak_bytes'])} | {_mb(b['peak_bytes'])} | "
              f"{_mb(o['peak_bytes'])} | {q['peak_memory']:.2f} | |",
              f"| mean training loss | {c['loss']:.3f} | {b['loss']:.3f} | {o['loss']:.3f} (last step) | | |"]
    if all("load_1min" in x for x in (c, b, o)):
        lines.append("| load average (1 min) before, after | " + " | ".join(
            f"{x['load_1min'][0]:.1f}, {x['load_1min'][1]:.1f}" for x in (c, b, o)) + " | | |")
    return lines


def _md_compute(r: dict, m: dict, s: dict) -> list[str]:
    lines: list[str] = []
    cp = r["compute"]
    mm = cp["matmul"]
    lines += ["", "## 2. Compute efficiency", "",
              f"{mm.get('dtype', 'float32')} matmul {mm['n']}x{mm['n']}, best of {mm['repeats']}: **{mm['best_flops'] / 1e9:.1f} GFLOP/s** "
              f"(median {mm['median_flops'] / 1e9:.1f}), timed in the training process just before the loop.", "",
              "| | GFLOP/s | share of the matmul peak |", "|---|---|---|",
              f"| helpers.train, all tokens fed (6 x {cp['params'] / 1e6:.1f}M x tokens/s) | "
              f"{cp['achieved_flops'] / 1e9:.1f} | **{cp['share_of_matmul_peak']:.0%}** |",
              f"| helpers.train, useful tokens only | {cp['useful_flops'] / 1e9:.1f} | {cp['useful_share_of_matmul_peak']:.0%} |",
              f"| course recipe, all tokens fed | {cp['course_achieved_flops'] / 1e9:.1f} | {cp['course_share_of_matmul_peak']:.0%} |"]
    return lines


def _md_generation(r: dict, m: dict, s: dict) -> list[str]:
    lines: list[str] = []
    g = r["generation"]
    lines += ["", "## 3. Evaluation: batched generation", "",
              f"{g['examples']} pocket test prompts (chat template), greedy, up to {g['max_new_tokens']} new tokens.", "",
              "| | seconds | examples/s |", "|---|---|---|",
              f"| one at a time | {g['single']['seconds']:.1f} | {g['single']['examples_per_s']:.2f} |",
              f"| batched (batch {g['batch_size']}, left padding) | {g['batched']['seconds']:.1f} | "
              f"{g['batched']['examples_per_s']:.2f} |",
              f"| ratio | | **{g['ratios']['examples_per_s']:.2f}x** |", ""]
    if "prefill" in g:
        pf = g["prefill"]
        lines += [f"Where the time goes: the same calls for one new token (the prompts' prefill) took "
                  f"{pf['single_seconds']:.1f} s one at a time ({pf['share_of_single']:.0%} of the whole) and "
                  f"{pf['batched_seconds']:.1f} s batched ({g['ratios']['prefill']:.2f}x); the decoding steps after "
                  f"it gained {g['ratios']['decoding']:.2f}x.", ""]
    lines += [f"Identical greedy outputs (batched vs one at a time, both {g.get('precision', 'fp32')}): "
              f"{g['identical_outputs']} of {g['examples']}."]
    if "batched_fp32" in g:
        f = g["batched_fp32"]
        lines += ["", f"The same batched run in fp32: {f['seconds']:.1f} s ({f['examples_per_s']:.2f} examples/s): "
                  f"{g.get('precision')} is **{g['ratios']['policy_over_fp32_examples_per_s']:.2f}x** faster; "
                  f"{f['identical_to_policy']} of {g['examples']} summaries are identical across the two "
                  f"precisions (greedy text may differ token by token)."]
    return lines


def _md_memory(r: dict, m: dict, s: dict) -> list[str]:
    lines: list[str] = []
    mem = r["memory"]
    q = mem["ratios"]

    def est(side: dict) -> str:
        return _mb(side["estimate"]["bytes"]) if side.get("estimate") else "n/a"

    lines += ["", "## 4. Memory: full fine-tuning vs LoRA", "",
              f"Same examples and batch as benchmark 1, both with `helpers.train`; LoRA (peft) rank "
              f"{mem['lora']['rank']} on q_proj and v_proj. {mem['memory_kind']}"
              f"{' of a fresh process each' if m['isolated_processes'] else ' (one process: approximate)'}.", "",
              "| | trainable params | runtime alone | model + data loaded | peak | estimate (helpers.memory) |",
              "|---|---|---|---|---|---|"]
    for name, label in (("full", "full fine-tuning"), ("lora", "LoRA")):
        m_ = mem[name]
        lines.append(f"| {label} | {m_['trainable_params']:,} | "
                     f"{_mb(m_['rss_runtime']) if m_.get('rss_runtime') else 'n/a'} | {_mb(m_['rss_before'])} | "
                     f"{_mb(m_['peak_bytes'])} | {est(m_)} |")
    lines += ["", f"LoRA / full: peak **{q['lora_over_full_peak']:.0%}**, growth during training "
              f"{q['lora_over_full_increment']:.0%}, useful tokens/s {q['lora_over_full_speed']:.2f}x."]
    if "measured_over_estimate_full" in q:
        lines += ["", f"Measured (peak minus the runtime alone) over the estimate: full fine-tuning "
                  f"{q['measured_over_estimate_full']:.2f}, LoRA {q.get('measured_over_estimate_lora', float('nan')):.2f}; "
                  f"the estimate puts LoRA at {q['estimate_lora_over_full']:.0%} of full fine-tuning. "
                  "helpers.memory estimates full fine-tuning; the LoRA estimate composes its parts (all weights, "
                  "gradients and AdamW states of the adapter only, the same activations)."]
    return lines


def _md_labs(r: dict, m: dict, s: dict) -> list[str]:
    lines: list[str] = []
    lb = r["labs"]
    lines += ["", "## 5. The workbook: wall time per lab", ""]
    if lb.get("available"):
        lines += [f"From `{lb['source']}`, run `{lb['run']}` (preset `{lb['preset']}`, "
                  f"{lb.get('precision') or 'precision not recorded'}"
                  f"{'' if lb.get('all_labs') else '; no pocket run of every lab was found, so some labs may be missing'}).",
                  "",
                  "| lab | minutes |", "|---|---|"]
        lines += [f"| {k} | {v / 60:.1f} |" for k, v in lb["seconds"].items()]
        lines += [f"| **all** | **{lb['total_s'] / 60:.1f}** |"]
    else:
        lines += [lb["note"]]
    return lines


def _shown(t: dict) -> tuple[str, str]:
    """A target's measured value and goal as they read: shares in %, ratios as 1.35x, minutes as 79.2 min."""
    key, value = t["key"], t["measured"]
    if "share" in key or "lora_over" in key:
        return ("n/a" if value is None else f"{value:.0%}"), f"{t['op']} {t['threshold']:.0%}"
    unit = " min" if key.endswith("minutes") else "x"
    shown = "n/a" if value is None else f"{value:.1f} min" if unit == " min" else f"{value:.2f}x"
    return shown, f"{t['op']} {t['threshold']:g}{unit}"


def why_missed(r: dict, key: str) -> str:
    """Why a missed target was missed, from this run's own measurements (and the GPU run's, where it is cited)."""
    tr, cp, g = r.get("training"), r.get("compute"), r.get("generation")
    if key == "training.ratios.useful_tokens_per_s" and tr:
        p, precision = tr["course"]["padding_share"], tr["ours"].get("precision", "fp32")
        return (f"in {precision} a CPU's time follows the tokens it computes, so ours can win at most the course "
                f"recipe's padding ({p:.0%} of its tokens: at most {1 / (1 - p):.2f}x)"
                + (f"; the rest needs bf16 {BF16_WHERE}" if precision == "fp32" else ""))
    if key == "training.ratios.useful_tokens_per_s_vs_best_trainer" and tr:
        b, o = tr["best_trainer"], tr["ours"]
        return (f"the best Trainer setting pads as little ({b['padding_share']:.0%} against ours "
                f"{o['padding_share']:.0%}) in the same precision; what is left is the loop itself: "
                f"{b['useful_tokens_per_s']:,.0f} against {o['useful_tokens_per_s']:,.0f} useful tokens/s")
    if key == "compute.share_of_matmul_peak" and cp:
        return (f"{cp['achieved_flops'] / 1e9:.0f} of {cp['matmul']['best_flops'] / 1e9:.0f} GFLOP/s: attention, "
                "softmax, norms and the optimizer step are not large matmuls")
    if key == "generation.ratios.examples_per_s" and g and "prefill" in g:
        text = (f"the prompts' prefill (the calls for one new token) took {g['prefill']['share_of_single']:.0%} of "
                f"the one-at-a-time time; batching sped the prefill up {g['ratios']['prefill']:.2f}x and the decoding "
                f"steps after it {g['ratios']['decoding']:.2f}x")
        gpu = OUT / "results-h100.json"
        if gpu.exists():
            h = json.loads(gpu.read_text())
            gain = h["generation"]["ratios"]["examples_per_s"]
            text += f"; on an H100 batching gave {gain:.2f}x (`bench/results-h100.json`)"
        return text
    if key == "memory.ratios.lora_over_full_peak" and "memory" in r:
        est = (r["memory"]["full"].get("estimate") or {})
        parts = est.get("parts", {})
        if parts:
            saved = parts["gradients"] + parts["AdamW states (m, v)"]
            return (f"at batch {est['batch']} x {est['seq']} tokens helpers.memory puts the activations (the "
                    f"vocabulary-wide logits among them) at about {parts['activations'] / 2**30:.1f} GiB, more "
                    f"than the {saved / 2**30:.1f} GiB of gradients and AdamW states that LoRA saves")
    if key == "labs.total_minutes" and r.get("labs", {}).get("available"):
        lb = r["labs"]
        slowest = max(lb["seconds"], key=lb["seconds"].get)
        precision = lb.get("precision") or "an unrecorded precision"
        return (f"run `{lb['run']}` computed in {precision}; the slowest lab, {slowest}, took "
                f"{lb['seconds'][slowest] / 60:.1f} min"
                + (f"; 30 min needs bf16 {BF16_WHERE}" if precision == "fp32" else ""))
    return ""


def targets_table(r: dict) -> str:
    """The targets with what this run measured, and why each missed one was missed (results.md and the README)."""
    lines = ["| target | measured | goal | met | why, where missed |", "|---|---|---|---|---|"]
    for t in r["targets"]:
        shown, goal = _shown(t)
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "no")
        why = why_missed(r, t["key"]) if t["met"] is False else ""
        lines.append(f"| {t['target']} | {shown} | {goal} | {met} | {why} |")
    return "\n".join(lines) + "\n"


def markdown(r: dict) -> str:
    m = r["meta"]
    lines = ["# Benchmarks", "",
             f"`python -m bench.run` (`make bench`) on {m.get('device', m['machine'])} ({m['threads']} torch threads, "
             f"precision {m['precision']}), {m['date']}, sizes `{m['size']}`, {m['seconds'] / 60:.1f} min in all. "
             f"Load average (1 min) {m['load_before'][0]:.1f} before, {m['load_after'][0]:.1f} after "
             "(a load above the core count means other jobs shared the CPU). Both sides of each comparison ran back to back, so "
             "ratios are steadier than absolute times, but a load that changes between the sides still moves them.", "",
             "## Targets", "", targets_table(r).rstrip("\n")]
    for name, section in (("training", _md_training), ("compute", _md_compute), ("generation", _md_generation),
                          ("memory", _md_memory), ("labs", _md_labs)):
        if name in r:
            lines += section(r, m, r["sizes"])
    return "\n".join(lines) + "\n"


def readme_with_targets(readme: str, r: dict) -> str:
    """The README with its targets block (between <!-- bench-targets --> and <!-- /bench-targets -->) from ``r``."""
    if not README_BLOCK.search(readme):
        raise ValueError("README.md has no <!-- bench-targets --> ... <!-- /bench-targets --> block for the targets")
    m = r["meta"]
    head = (f"Latest run: {m['date']} on {m.get('device', m['machine'])}, precision {m['precision']}, sizes "
            f"`{m['size']}`, {m['seconds'] / 60:.1f} min.\n\n")
    return README_BLOCK.sub(lambda mt: mt.group(1) + head + targets_table(r) + mt.group(2), readme, count=1)


# --- main -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="pocket", choices=list(SIZES), help="pocket (real) or tiny (tests)")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for results.json and results.md")
    ap.add_argument("--runs", type=Path, default=REPO / "runs", help="where `make labs` wrote its runs")
    ap.add_argument("--reference", type=Path, default=REFERENCE,
                    help="the committed reference run, read when runs/ holds no complete run")
    ap.add_argument("--only", default="", help="comma-separated subset of: training,compute,generation,memory,labs")
    ap.add_argument("--in-process", action="store_true", help="run the training sides in this process (faster, "
                    "but peak memory is then only approximate)")
    ap.add_argument("--model", help="a local model folder to benchmark instead of the size's model (e.g. a GPU "
                    "machine without the embedded wheel)")
    ap.add_argument("--matmul-n", type=int, help="side of the square matmul that measures the peak (GPUs want 8192)")
    ap.add_argument("--train-examples", type=int)
    ap.add_argument("--gen-examples", type=int)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        spec = json.loads(a.worker)
        result = worker(spec["side"], Sizes(**spec["sizes"]))
        print(MARK + json.dumps(result), flush=True)
        return result


    sizes = SIZES[a.size]
    over = {k: v for k, v in {"train_examples": a.train_examples, "gen_examples": a.gen_examples,
                              "model": a.model, "matmul_n": a.matmul_n}.items() if v is not None}
    sizes = Sizes(**{**asdict(sizes), **over})
    sizes.validate()
    known = ("training", "compute", "generation", "memory", "labs")
    only = [s for s in a.only.split(",") if s] or list(known)
    bad = [s for s in only if s not in known]
    if bad:
        raise ValueError(f"--only: unknown benchmark(s) {bad}; choose from {', '.join(known)}")
    os.environ.update(CHILD_ENV)

    t_all = time.perf_counter()
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "size": a.size,
            "machine": f"{platform.machine()} {os.cpu_count()}-core {platform.system()}"
                       + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
            "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_before": list(os.getloadavg()), "isolated_processes": not a.in_process,
            "device": device.describe()}

    meta["precision"] = device.precision()
    results: dict = {"meta": meta, "sizes": asdict(sizes)}
    sides: dict = {}

    def side(name: str) -> dict:
        if name not in sides:
            print(f"[bench] training side {name!r} ...", flush=True)
            t0, load0 = time.perf_counter(), os.getloadavg()[0]
            sides[name] = launch(name, sizes, isolate=not a.in_process)
            sides[name]["load_1min"] = [load0, os.getloadavg()[0]]  # other jobs on the machine, before and after
            print(f"[bench] {name!r} done in {time.perf_counter() - t0:.0f} s", flush=True)
        return sides[name]

    if "training" in only or "compute" in only:
        course, ours = side("course"), side("ours")
        if "training" in only:
            results["training"] = bench_training(dict(course), dict(ours), dict(side("best")))
        if "compute" in only:
            results["compute"] = bench_compute(ours, course)
    if "generation" in only:
        print("[bench] generation ...", flush=True)
        results["generation"] = bench_generation(sizes)
    if "memory" in only:
        results["memory"] = bench_memory(side("ours"), side("lora"), sizes)
    if "labs" in only:
        results["labs"] = bench_labs(a.runs, a.reference)
    meta["load_after"] = list(os.getloadavg())
    meta["seconds"] = time.perf_counter() - t_all
    results["targets"] = check_targets(results)


    a.out.mkdir(parents=True, exist_ok=True)
    write_atomic(a.out / "results.json", json.dumps(results, indent=2, default=float))
    write_atomic(a.out / "results.md", markdown(results))
    if a.out.resolve() == OUT.resolve() and a.size == "pocket" and set(only) == set(known):
        write_atomic(README, readme_with_targets(README.read_text(), results))  # the README shows this run's targets
    print(markdown(results))
    print(f"[bench] wrote {a.out / 'results.json'} and {a.out / 'results.md'}")
    return results


if __name__ == "__main__":
    main()
