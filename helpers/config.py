"""Presets: one table holding every size knob, so a lab changes scale by changing one name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Preset:
    """Which model and data a run uses, and how big each step is."""

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


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("pocket", "embedded", "causal", "pocket", 8192, 384, 96, 150, 0, 1.0, 8, 1, 1e-4, 16, 0, 8,
               "Embedded SmolLM2-135M-Instruct on the pocket dialogues; every lab on a 2-core CPU."),
        Preset("smoke", "embedded", "causal", "pocket", 8192, 256, 48, 8, 48, 1.0, 4, 1, 2e-4, 8, 24, 4,
               "Same model, tiny slices and step counts: CI runs every lab in about two minutes."),
        Preset("course", "google/flan-t5-base", "seq2seq", "hub", 512, 512, 128, 1500, 0, 1.0, 8, 4, 5e-4, 64, 0, 32,
               "The course setup: FLAN-T5-base on DialogSum from the Hub, GPU sizes."),
        Preset("modern", "HuggingFaceTB/SmolLM2-360M-Instruct", "causal", "hub", 8192, 768, 128, 1500, 0, 1.0, 8, 4, 5e-5, 64, 0, 16,
               "A small modern chat model from the Hub on DialogSum, GPU sizes."),
    ]
}

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
# Every lab has one entry; presets missing from an entry fall back to "pocket" (course/modern) or fail loudly.
LAB_KNOBS: dict[str, dict[str, dict]] = {
    "01": {"pocket": {}, "smoke": {}},
    "02": {"pocket": {}, "smoke": {}},
    "03": {"pocket": {}, "smoke": {}},
    "04": {"pocket": {}, "smoke": {}},
    "05": {"pocket": {}, "smoke": {}},
    "06": {"pocket": {}, "smoke": {}},
}


def knobs(lab: str, preset: Preset | str, **overrides) -> dict:
    """The lab's knobs for a preset, with the parameters cell's non-None overrides applied."""
    name = preset.name if isinstance(preset, Preset) else preset
    table_ = LAB_KNOBS.get(lab)
    if table_ is None:
        raise ValueError(f"no knobs for lab {lab!r}; labs with knobs: {', '.join(LAB_KNOBS)}")
    base = table_.get(name, table_.get("pocket") if name in ("course", "modern") else None)
    if base is None:
        raise ValueError(f"lab {lab} has no knobs for preset {name!r}; known: {', '.join(table_)}")
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
