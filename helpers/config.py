"""Presets: one table holding every size knob, so a lab changes scale by changing one name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class Preset:
    """Which model and data a run uses, and how big each step is (built by keyword: each size says what it is)."""

    name: str
    model: str  # "embedded" or a Hub name / local folder
    model_kind: str  # "causal" (decoder-only) or "seq2seq"
    data: str  # "pocket" or "hub"
    context_limit: int  # tokens the model may see (prompt + answer)
    max_source_tokens: int  # prompt budget when tokenizing for training
    max_target_tokens: int  # completion budget (and max_new_tokens when generating)
    eval_examples: int  # test dialogues scored in the ICL and ROUGE labs
    train_examples: int  # training rows used by the fine-tuning labs (0 = whole split)
    train_epochs: float
    batch_size: int
    grad_accum: int
    learning_rate: float
    eval_batch_size: int
    probe_examples: int  # forgetting probes scored per model (0 = all)
    lora_rank: int
    description: str


# Each preset after the first says how it differs from the one it starts from; config.table() prints them all.
_POCKET = Preset(name="pocket", model="embedded", model_kind="causal", data="pocket",
                 context_limit=8192, max_source_tokens=384, max_target_tokens=96,
                 eval_examples=150, train_examples=0, train_epochs=1.0, batch_size=8, grad_accum=1,
                 learning_rate=1e-4, eval_batch_size=16, probe_examples=0, lora_rank=8,
                 description="Embedded SmolLM2-135M-Instruct on the pocket dialogues; every lab on a 2-core CPU.")
_SMOKE = dataclasses.replace(
    _POCKET, name="smoke", max_source_tokens=256, max_target_tokens=48, eval_examples=8, train_examples=48,
    batch_size=4, learning_rate=2e-4, eval_batch_size=8, probe_examples=24, lora_rank=4,
    description="Same model, tiny slices and step counts: CI runs every lab in about two minutes.")
# course: the course's lab 2 fine-tunes FLAN-T5-base at learning rate 1e-5 with Trainer's default batch of 8, no
# accumulation, and LoRA at rank 32 (config.LAB_KNOBS names the sources)
_COURSE = dataclasses.replace(
    _POCKET, name="course", model="google/flan-t5-base", model_kind="seq2seq", data="hub",
    context_limit=512, max_source_tokens=512, max_target_tokens=128, eval_examples=1500, grad_accum=1,
    learning_rate=1e-5, eval_batch_size=64, lora_rank=32,
    description="The course setup: FLAN-T5-base on DialogSum from the Hub, GPU sizes.")
# modern: learning rate and lab 03's batch: see [smollm2] in LAB_KNOBS
_MODERN = dataclasses.replace(
    _COURSE, name="modern", model="HuggingFaceTB/SmolLM2-360M-Instruct", model_kind="causal",
    context_limit=8192, max_source_tokens=768, grad_accum=4, learning_rate=5e-5, lora_rank=16,
    description="A small modern chat model from the Hub on DialogSum, GPU sizes.")
_TINY_SEQ2SEQ = dataclasses.replace(
    _SMOKE, name="tiny-seq2seq", model="tiny-seq2seq", model_kind="seq2seq", context_limit=512,
    description="A tiny T5-style model built here (random weights, T5 special tokens, a tokenizer trained on the "
                "pocket text): CI runs every lab's seq2seq path at smoke sizes. Its ROUGE means nothing.")
PRESETS: dict[str, Preset] = {p.name: p for p in (_POCKET, _SMOKE, _COURSE, _MODERN, _TINY_SEQ2SEQ)}

DEFAULT = "pocket"
_POSITIVE = ("context_limit", "max_source_tokens", "max_target_tokens", "eval_examples", "batch_size",
             "grad_accum", "eval_batch_size", "lora_rank", "learning_rate", "train_epochs")


def get(name: str = DEFAULT, **overrides) -> Preset:
    """The preset called ``name``, with any size knob overridden; bad names and sizes raise ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    known = {f.name for f in fields(Preset)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown preset field(s) {sorted(unknown)}; valid fields: {', '.join(sorted(known))}")
    preset = dataclasses.replace(PRESETS[name], **overrides)
    validate(preset)
    return preset


def validate(preset: Preset) -> None:
    """Raise ValueError naming the first size knob that is not a positive number."""
    for key in _POSITIVE:
        value = getattr(preset, key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"preset {preset.name!r}: {key} must be a positive number, got {value!r}")
    for key in ("train_examples", "probe_examples"):
        value = getattr(preset, key)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"preset {preset.name!r}: {key} must be an integer >= 0 (0 = all), got {value!r}")
    if preset.model_kind not in ("causal", "seq2seq"):
        raise ValueError(f"preset {preset.name!r}: model_kind must be 'causal' or 'seq2seq', got {preset.model_kind!r}")
    if preset.data not in ("pocket", "hub"):
        raise ValueError(f"preset {preset.name!r}: data must be 'pocket' or 'hub', got {preset.data!r}")
    if preset.model_kind == "seq2seq" and preset.max_source_tokens > preset.context_limit:
        raise ValueError(f"preset {preset.name!r}: max_source_tokens {preset.max_source_tokens} exceeds context_limit {preset.context_limit}")
    if preset.model_kind == "causal" and preset.max_source_tokens + preset.max_target_tokens > preset.context_limit:
        raise ValueError(f"preset {preset.name!r}: max_source_tokens + max_target_tokens "
                         f"({preset.max_source_tokens + preset.max_target_tokens}) exceeds context_limit {preset.context_limit}")


def table(names: list[str] | None = None) -> str:
    """The presets as a markdown table (labs/00 prints it)."""
    cols = ["name", "model", "data", "eval_examples", "train_examples", "train_epochs", "batch_size",
            "grad_accum", "learning_rate", "max_source_tokens", "max_target_tokens"]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for p in (PRESETS[n] for n in (names or PRESETS)):
        rows.append("| " + " | ".join(str(getattr(p, c)) for c in cols) + " |")
    return "\n".join(rows)


# Knobs a single lab needs beyond the Preset fields, per preset; a lab's parameters cell may override any of them.
# Every lab has an entry for every preset: a preset without one fails loudly (config.knobs), never borrows another's.
# Sources of the course and modern settings:
#   [course]  the course's lab 2 (FLAN-T5-base on DialogSum): full fine-tuning TrainingArguments(learning_rate=1e-5),
#             batch size left at Trainer's default of 8; LoRA r=32, lora_alpha=32, target_modules ["q", "v"],
#             lora_dropout 0.05 at learning_rate 1e-3; generation with max_new_tokens=200 for ROUGE (lab 2), 50 in
#             its in-context learning lab (lab 1).
#   [smollm2] HuggingFace alignment-handbook, recipes/smollm2/sft/config_smol.yaml (SFT of SmolLM2-360M from the
#             base model on smol-smoltalk): learning_rate 1e-3, per-device batch 4 x 4 accumulation, warmup 0.1.
#             Fine-tuning the *instruct* model on one task, we take a 20x smaller step (5e-5): not tuned here.
#   [lora]    Hu et al. 2021 (LoRA), GPT-2 on E2E: learning rate 2e-4.
# lora_scaling is alpha / r: 2 for pocket, smoke and modern (alpha = 2r), 1 for the course (r = alpha = 32).

# Lab 05 at the course's sizes; modern changes only its generation length and LoRA scaling (see LAB_KNOBS["05"]).
_COURSE_05 = {"probe_examples": 0, "probe_tokens": 16, "eval_examples": 200, "max_new_tokens": 200,
              "lora_scaling": 1.0, "replay_share": 0.25, "other_task_share": 0.25,
              "demo_examples": 64, "demo_epochs": 5.0, "demo_factor": 10.0}

LAB_KNOBS: dict[str, dict[str, dict]] = {
    # size_models: other sizes of the lab's model family whose zero- against k-shot gain is measured beside it (Hub
    # models, so only the GPU presets name any: offline the embedded model is the only one there is)
    "01": {"pocket": {"n_eval": 100, "k_values": [0, 1, 2], "k_counted": [0, 1, 2, 3, 5, 8, 12, 16, 24, 32, 48],
                      "plain_k": [0], "shot_max_tokens": 180, "max_new_tokens": 64, "batch_size": 25, "batch_tokens": 8000,
                      "n_decoding": 30, "temperatures": [0.7, 1.3], "size_models": []},
           "smoke": {"n_eval": 4, "k_values": [0, 1, 2], "k_counted": [0, 1, 2, 3, 5, 8], "plain_k": [0],
                     "shot_max_tokens": 180, "max_new_tokens": 24, "batch_size": 8, "batch_tokens": 8000, "n_decoding": 2,
                     "temperatures": [0.7, 1.3], "size_models": []},
           # FLAN-T5's encoder reads 512 tokens: from k = 2 on most DialogSum prompts no longer fit and are skipped
           "course": {"n_eval": 200, "k_values": [0, 1, 2, 3], "k_counted": [0, 1, 2, 3, 5, 8], "plain_k": [0],
                      "shot_max_tokens": 200, "max_new_tokens": 50, "batch_size": 32, "batch_tokens": 65536,
                      "n_decoding": 30, "temperatures": [0.7, 1.3],  # max_new_tokens: [course] lab 1
                      "size_models": ["google/flan-t5-small", "google/flan-t5-large"]},
           "modern": {"n_eval": 200, "k_values": [0, 1, 2, 3, 5], "k_counted": [0, 1, 2, 3, 5, 8, 12, 16, 24, 32, 48],
                      "plain_k": [0], "shot_max_tokens": 200, "max_new_tokens": 64, "batch_size": 32,
                      "batch_tokens": 65536, "n_decoding": 30, "temperatures": [0.7, 1.3],
                      "size_models": ["HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-1.7B-Instruct"]},
           "tiny-seq2seq": {"n_eval": 4, "k_values": [0, 1, 2], "k_counted": [0, 1, 2, 3], "plain_k": [0],
                            "shot_max_tokens": 120, "max_new_tokens": 16, "batch_size": 8, "batch_tokens": 8000,
                            "n_decoding": 2, "temperatures": [0.7, 1.3], "size_models": []}},
    "02": {"pocket": {"timing_batches": 2, "n_show": 3},
           "smoke": {"timing_batches": 1, "n_show": 2},
           "course": {"timing_batches": 4, "n_show": 3},
           "modern": {"timing_batches": 4, "n_show": 3},
           "tiny-seq2seq": {"timing_batches": 1, "n_show": 1}},
    "03": {"pocket": {"train_examples": 128, "epochs": 1.0, "learning_rate": 2e-4, "batch_size": 4, "grad_accum": 1,
                      "eval_every": 16, "eval_examples": 24, "memory_batch": 4, "draft_steps": 2,
                      "lr_grid": [1e-4, 2e-4, 4e-4], "lr_search_examples": 16},
           "smoke": {"train_examples": 8, "epochs": 1.0, "learning_rate": 2e-4, "batch_size": 4, "grad_accum": 1,
                     "eval_every": 1, "eval_examples": 2, "memory_batch": 2, "draft_steps": 1,
                     "lr_grid": [2e-4, 1e-3], "lr_search_examples": 4},
           # the whole DialogSum train split (12,460 dialogues); lr and batch: [course]
           "course": {"train_examples": 0, "epochs": 1.0, "learning_rate": 1e-5, "batch_size": 8, "grad_accum": 1,
                      "eval_every": 200, "eval_examples": 500, "memory_batch": 8, "draft_steps": 2,
                      "lr_grid": [5e-6, 1e-5, 2e-5], "lr_search_examples": 2000},  # the grid is centred on [course]
           # batch 4 x 4 accumulation: [smollm2]; lr 5e-5: see [smollm2] above
           "modern": {"train_examples": 0, "epochs": 1.0, "learning_rate": 5e-5, "batch_size": 4, "grad_accum": 4,
                      "eval_every": 100, "eval_examples": 500, "memory_batch": 4, "draft_steps": 2,
                      "lr_grid": [2.5e-5, 5e-5, 1e-4], "lr_search_examples": 2000},
           # random weights learn fast at a large step; only the code path matters here
           "tiny-seq2seq": {"train_examples": 8, "epochs": 1.0, "learning_rate": 1e-3, "batch_size": 4, "grad_accum": 1,
                            "eval_every": 1, "eval_examples": 2, "memory_batch": 2, "draft_steps": 1,
                            "lr_grid": [1e-3, 3e-3], "lr_search_examples": 4}},
    "04": {"pocket": {"eval_examples": 100, "gen_batch_size": 16, "max_new_tokens": 96, "speed_examples": 6,
                      "n_boot": 1000, "show_examples": 3},
           "smoke": {"eval_examples": 8, "gen_batch_size": 8, "max_new_tokens": 24, "speed_examples": 2,
                     "n_boot": 200, "show_examples": 2},
           # the whole test split (1,500 dialogues) with max_new_tokens 200: [course] lab 2
           "course": {"eval_examples": 0, "gen_batch_size": 64, "max_new_tokens": 200, "speed_examples": 16,
                      "n_boot": 1000, "show_examples": 3},
           "modern": {"eval_examples": 0, "gen_batch_size": 64, "max_new_tokens": 128, "speed_examples": 16,
                      "n_boot": 1000, "show_examples": 3},
           "tiny-seq2seq": {"eval_examples": 4, "gen_batch_size": 4, "max_new_tokens": 16, "speed_examples": 2,
                            "n_boot": 50, "show_examples": 1}},
    # Lab 05 trains its models at lab 03's size (rows, epochs, batch, learning rate) unless forgetting does not show
    # there; then all three methods train in the "aggressive" setting: demo_examples rows for demo_epochs, each at its
    # own learning rate times demo_factor. max_new_tokens is lab 04's, so the ROUGE of lab 04's models is reused.
    # LoRA's learning rate is chosen on validation from lab 06's grid (lora_scaling is lab 06's too), in one search
    # that lab 06 then reuses.
    "05": {"pocket": {"probe_examples": 0, "probe_tokens": 16, "eval_examples": 100, "max_new_tokens": 96,
                      "lora_scaling": 2.0, "replay_share": 0.25, "other_task_share": 0.25,
                      "demo_examples": 16, "demo_epochs": 3.0, "demo_factor": 5.0},
           "smoke": {"probe_examples": 16, "probe_tokens": 8, "eval_examples": 4, "max_new_tokens": 24,
                     "lora_scaling": 2.0, "replay_share": 0.25, "other_task_share": 0.25,
                     "demo_examples": 8, "demo_epochs": 1.0, "demo_factor": 2.5},
           # alpha = r: [course] (its LoRA learning rate, 1e-3, is in lab 06's grid)
           "course": _COURSE_05,
           "modern": {**_COURSE_05, "max_new_tokens": 128, "lora_scaling": 2.0},
           "tiny-seq2seq": {"probe_examples": 12, "probe_tokens": 8, "eval_examples": 2, "max_new_tokens": 16,
                            "lora_scaling": 2.0, "replay_share": 0.25, "other_task_share": 0.25, "demo_examples": 4,
                            "demo_epochs": 1.0, "demo_factor": 1.0}},
    # Lab 06 trains LoRA on lab 03's rows for lab 03's epochs and batches, and searches its learning rate with lab 03's
    # search budget (as many rates, lr_search_examples rows); max_new_tokens is lab 04's, so ROUGE is reused.
    # pocket's grid: [5e-4, 1e-3, 2e-3] chose 2e-3, its top edge (run 20261202T134056Z), so it moved up one step.
    "06": {"pocket": {"lora_lr_grid": [1e-3, 2e-3, 4e-3], "lora_scaling": 2.0, "scratch_steps": 3, "timing_steps": 3,
                      "eval_examples": 100, "max_new_tokens": 96, "sweep_ranks": [2, 8, 32], "sweep_examples": 16,
                      "sweep_eval_examples": 30, "prompt_tokens": 20, "prompt_lr_grid": [1e-2, 3e-2],
                      "prompt_examples": 16},
           "smoke": {"lora_lr_grid": [1e-3, 3e-3], "lora_scaling": 2.0, "scratch_steps": 1, "timing_steps": 1,
                     "eval_examples": 4, "max_new_tokens": 24, "sweep_ranks": [1, 4], "sweep_examples": 4,
                     "sweep_eval_examples": 2, "prompt_tokens": 20, "prompt_lr_grid": [1e-2, 3e-2], "prompt_examples": 4},
           # LoRA r 32 (the preset), alpha = r, lr 1e-3 in the middle of the grid; ROUGE with max_new_tokens 200: [course]
           "course": {"lora_lr_grid": [5e-4, 1e-3, 2e-3], "lora_scaling": 1.0, "scratch_steps": 20, "timing_steps": 20,
                      "eval_examples": 500, "max_new_tokens": 200, "sweep_ranks": [4, 16, 32], "sweep_examples": 2000,
                      "sweep_eval_examples": 200, "prompt_tokens": 20, "prompt_lr_grid": [3e-3, 1e-2, 3e-2],
                      "prompt_examples": 2000},
           "modern": {"lora_lr_grid": [1e-4, 2e-4, 4e-4], "lora_scaling": 2.0, "scratch_steps": 20, "timing_steps": 20,
                      "eval_examples": 500, "max_new_tokens": 128, "sweep_ranks": [4, 16, 64], "sweep_examples": 2000,
                      "sweep_eval_examples": 200, "prompt_tokens": 20, "prompt_lr_grid": [3e-3, 1e-2, 3e-2],
                      "prompt_examples": 2000},  # LoRA lr: [lora]
           "tiny-seq2seq": {"lora_lr_grid": [1e-3, 3e-3], "lora_scaling": 2.0, "scratch_steps": 1, "timing_steps": 1,
                            "eval_examples": 2, "max_new_tokens": 16, "sweep_ranks": [1, 4], "sweep_examples": 4,
                            "sweep_eval_examples": 2, "prompt_tokens": 4, "prompt_lr_grid": [1e-2, 3e-2],
                            "prompt_examples": 4}},
}

def knobs(lab: str, preset: Preset | str, **overrides) -> dict:
    """The lab's knobs for a preset, with the parameters cell's non-None overrides applied."""
    name = preset.name if isinstance(preset, Preset) else preset
    table_ = LAB_KNOBS.get(lab)
    if table_ is None:
        raise ValueError(f"no knobs for lab {lab!r}; labs with knobs: {', '.join(LAB_KNOBS)}")
    base = table_.get(name)
    if base is None:
        raise ValueError(f"lab {lab} has no knobs for preset {name!r} (presets with knobs: {', '.join(table_)}); "
                         f"add an entry for it to config.LAB_KNOBS[{lab!r}]")
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in base:
            raise ValueError(f"lab {lab}: unknown knob {key!r}; knobs: {', '.join(base) or '(none)'}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise ValueError(f"lab {lab}: knob {key} must be positive, got {value!r}")
        out[key] = value
    return out
