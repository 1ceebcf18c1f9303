"""The exercises that end every lab: the task, and a checker that answers PASS or a hint (never the answer).

    exercises.check("03.1", answer)   # prints PASS or a hint, returns True or False
    exercises.markdown("03")          # lab 03's exercises as one markdown text

A checker tests the learner's measured answer against what it must satisfy, computed here from the helpers, the
data or a formula: never against numbers that one particular run happened to produce. Worked solutions are in
``solutions/`` at the repository root; ``tests/test_exercises.py`` runs each one through its checker.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from rouge_score import rouge_scorer
from transformers import AutoConfig, AutoModelForCausalLM

from . import config, data, device, memory, metrics, models, probes, prompts, tokenizing

GIB = 1024 ** 3


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``checker(answer)`` returns None when the answer holds, else a hint."""

    id: str
    title: str
    task: str  # markdown, a few lines
    expects: str  # the answer's form, in words (shown when it has the wrong type)
    types: tuple  # the Python types an answer may have
    checker: Callable[[Any], str | None]


class Malformed(ValueError):
    """The answer has the right type but not the right shape (a key missing, a list too short)."""


# ---- shared reference values, computed from the helpers (cached: a checker may run many times) ------------------

@functools.lru_cache(maxsize=1)
def _tokenizer():
    return models.embedded_tokenizer()


@functools.lru_cache(maxsize=1)
def _embedded_config():
    return AutoConfig.from_pretrained(models.embedded_folder())


@functools.lru_cache(maxsize=1)
def _embedded_params() -> int:
    """Parameters of the embedded model, counted on a weightless copy built from its config (no weights loaded)."""
    with torch.device("meta"):
        return models.n_params(AutoModelForCausalLM.from_config(_embedded_config()))


@functools.lru_cache(maxsize=None)
def _split(name: str) -> list[dict]:
    return list(data.load_dialogsum("pocket", name))


def _first_test_and_shots(k: int, max_tokens: int | None = None) -> tuple[dict, list[dict]]:
    shots = prompts.draw_shots(_split("train"), 1, k, seed=0, max_tokens=max_tokens, tokenizer=_tokenizer())[0]
    return _split("test")[0], shots


def _n_tokens(text: str) -> int:
    return prompts.count_tokens(_tokenizer(), [text])[0]


def _human_rouge1() -> list[float]:
    """ROUGE-1 of each test dialogue's second human summary against its first."""
    test = _split("test")
    return metrics.per_example([r["references"][1] for r in test], [r["references"][0] for r in test])["rouge1"]


# ---- small checks that give a hint, never the value -------------------------------------------------------------

def _keys(answer: dict, keys, numbers: bool = True) -> None:
    """Raise Malformed unless ``answer`` has every key (each holding a number, when ``numbers``)."""
    missing = [k for k in keys if k not in answer]
    if missing:
        raise Malformed(f"the answer needs the key(s) {missing}; it has {list(answer)}")
    bad = [k for k in keys if numbers and (isinstance(answer[k], bool) or not isinstance(answer[k], (int, float)))]
    if bad:
        raise Malformed(f"the value(s) of {bad} should be numbers")


def _close(got, want: float, rel: float = 0.01, abs_: float = 1e-9) -> bool:
    return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(got, want, rel_tol=rel,
                                                                                        abs_tol=abs_)


def _first_wrong(answer: dict, expected: dict, rel: float = 0.01) -> str | None:
    """The first key whose value is off, as a hint naming the key only."""
    for key, want in expected.items():
        if not _close(answer[key], want, rel):
            return f"{key!r} is not right yet"
    return None


# ---- lab 00 --------------------------------------------------------------------------------------------------------

def _check_00_1(a: dict) -> str | None:
    _keys(a, ("total", "embedding"))
    cfg = _embedded_config()
    emb = cfg.vocab_size * cfg.hidden_size
    if a["embedding"] != emb:
        return "'embedding': count the elements of model.get_input_embeddings().weight (vocabulary x hidden size)"
    if a["total"] == _embedded_params() + emb:
        return "'total' counts the tied embedding twice: models.n_params counts a shared matrix once"
    if isinstance(a["total"], float) or a["total"] < 1e6:
        return "'total' should be the exact integer models.n_params returns, not millions"
    if a["total"] != _embedded_params():
        return "'total' is off: call models.n_params(model) on the model models.load('pocket') returns"
    return None


def _check_00_2(a: dict) -> str | None:
    _keys(a, ("causal", "seq2seq"), numbers=False)
    for kind in ("causal", "seq2seq"):
        if a[kind] not in device.DTYPES:
            return f"{kind!r} should be one of {list(device.DTYPES)}"
        if a[kind] != device.precision(kind=kind):
            return (f"{kind!r} is not what the policy picks on this machine: ask device.precision(kind={kind!r}) here "
                    "(it depends on the hardware and on $WORKBOOK_PRECISION)")
    return None


def _check_00_3(a: dict) -> str | None:
    missing, extra = set(config.PRESETS) - set(a), set(a) - set(config.PRESETS)
    if missing or extra:
        return f"give every preset once: missing {sorted(missing)}, unknown {sorted(extra)}"
    wrong = [n for n, p in config.PRESETS.items() if a[n] != p.eval_examples]
    return f"the value of {wrong[0]!r} is not its eval_examples: see config.table()" if wrong else None


def _check_00_4(a: dict) -> str | None:
    _keys(a, ("chat", "added"))
    plain = prompts.summary_prompt(_split("test")[0]["dialogue"])
    chat = _n_tokens(prompts.chat(_tokenizer(), plain))
    if a["chat"] != chat:
        return ("'chat' is off: count prompts.chat(tokenizer, prompts.summary_prompt(dialogue)) "
                "with prompts.count_tokens")
    if a["added"] != chat - _n_tokens(plain):
        return "'added' is the chat prompt's count minus the plain prompt's count"
    return None


# ---- lab 01 --------------------------------------------------------------------------------------------------------

def _check_01_1(a: list) -> str | None:
    if len(a) != 4:
        raise Malformed(f"give 4 counts (k = 0, 1, 2, 3), got {len(a)}")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in a):
        raise Malformed("the counts should be integers")
    row, shots = _first_test_and_shots(3)
    want = [_n_tokens(prompts.icl_prompt(_tokenizer(), shots[:k], row, "chat")) for k in range(4)]
    if any(b <= c for c, b in zip(a, a[1:])):
        return "every shot adds tokens: the counts must grow with k"
    if list(a) != want:
        return ("the counts are off: build each prompt with prompts.icl_prompt(tokenizer, shots[:k], row, 'chat') "
                "and count it with prompts.count_tokens")
    return None


def _check_01_2(a: dict) -> str | None:
    _keys(a, ("template", "tokens"))
    row, shots = _first_test_and_shots(2)
    counts = [_n_tokens(prompts.icl_prompt(_tokenizer(), shots, row, "chat", template=t))
              for t in prompts.SUMMARY_TEMPLATES]
    if a["template"] not in range(len(counts)):
        return f"'template' is an index into prompts.SUMMARY_TEMPLATES (0..{len(counts) - 1})"
    if a["tokens"] != counts[a["template"]]:
        return "'tokens' is not the count of that template's 2-shot prompt"
    if counts[a["template"]] != min(counts):
        return "another template gives a shorter 2-shot prompt: count all of them"
    return None


def _check_01_3(a: dict) -> str | None:
    _keys(a, (512, 8192))
    row, shots = _first_test_and_shots(48, max_tokens=180)
    for limit in (512, 8192):
        want = prompts.max_shots(_tokenizer(), shots, row, limit, max_new_tokens=64, fmt="chat")
        if a[limit] != want:
            return (f"the {limit}-token window is not right: the prompt plus 64 new tokens must fit "
                    f"(prompts.max_shots, or count each k yourself)")
    return None


def _check_01_4(a: dict) -> str | None:
    _keys(a, ("template", "predictions", "rouge1"), numbers=False)
    if a["template"] in (0, prompts.SUMMARY_TEMPLATES[0]):
        return "use another template than the lab's (template 0)"
    preds, r1 = a["predictions"], a["rouge1"]
    if not isinstance(preds, dict) or not isinstance(r1, dict):
        raise Malformed("'predictions' and 'rouge1' are dicts keyed by k (0 and 1)")
    _keys(preds, (0, 1), numbers=False)
    _keys(r1, (0, 1))
    n = len(preds[0])
    if n < 2 or len(preds[1]) != n or not all(isinstance(p, str) for k in (0, 1) for p in preds[k]):
        return "'predictions' needs two equally long lists of strings (k = 0 and k = 1), at least 2 dialogues each"
    refs = [r["references"] for r in _split("test")[:n]]
    for k in (0, 1):
        want = float(np.mean(metrics.per_example(preds[k], refs)["rouge1"]))
        if not _close(r1[k], want, rel=1e-4, abs_=1e-6):
            return (f"'rouge1'[{k}] does not match your predictions: score them against the first {n} test "
                    "dialogues' references with metrics.rouge")
    return None


# ---- lab 02 --------------------------------------------------------------------------------------------------------

def _first_train_pair() -> dict:
    row = _split("train")[0]
    prompt = prompts.chat(_tokenizer(), prompts.summary_prompt(row["dialogue"]))
    return tokenizing.build(_tokenizer(), prompt, row["summary"], "causal", 1024, 256)


def _check_02_1(a: dict) -> str | None:
    _keys(a, ("masked", "unmasked"))
    ex = _first_train_pair()
    if a["masked"] != sum(x != tokenizing.IGNORE for x in ex["labels"]):
        return "'masked' counts the labels that are not -100 in the row tokenizing.build returns"
    if a["unmasked"] != len(ex["input_ids"]):
        return "'unmasked': with the mask off every position has a label (labels = input_ids)"
    return None


def _check_02_2(a: dict) -> str | None:
    _keys(a, ("prompt", "completion"), numbers=False)
    if not all(isinstance(a[k], str) for k in ("prompt", "completion")):
        raise Malformed("'prompt' and 'completion' are strings")
    row = _split("train")[0]
    if a["completion"].strip() != row["summary"].strip():
        return "the completion is the first train row's summary"
    if row["dialogue"] not in a["prompt"]:
        return "the prompt must hold the whole dialogue: put {dialogue} in your template"
    if a["prompt"] in {prompts.render(t, row) for t in prompts.SUMMARY_TEMPLATES}:
        return "that prompt comes from one of prompts.SUMMARY_TEMPLATES: write a template of your own"
    if len(a["prompt"].replace(row["dialogue"], "").split()) < 3:
        return "the template needs an instruction around the dialogue (a few words at least)"
    return None


def _check_02_3(a: dict) -> str | None:
    _keys(a, (4, 16))
    tok = _tokenizer()
    ds = tokenizing.summary_dataset(tok, "causal", _split("train")[:64], 1024, 128)
    lengths = tokenizing.row_lengths(ds, "causal")
    for size in (4, 16):
        if not _close(a[size], tokenizing.padding_cost(lengths, size)["saved"], rel=1e-3):
            return (f"the share saved at batch size {size} is off: tokenizing.padding_cost(lengths, {size})['saved'] "
                    "with lengths from tokenizing.row_lengths of the first 64 rows, tokenized as the task says")
    return None


# ---- lab 03 --------------------------------------------------------------------------------------------------------

def zero_gib(params: float, gpus: int) -> dict[str, float]:
    """Per-GPU GiB of weights, gradients and Adam states with mixed precision under DDP and ZeRO-1/2/3
    (``helpers.memory.per_gpu_bytes``, the ZeRO paper's accounting)."""
    return {key: memory.per_gpu_bytes(params, gpus, stage) / GIB
            for stage, key in ((0, "ddp"), (1, "zero1"), (2, "zero2"), (3, "zero3"))}


def _check_03_1(a: dict) -> str | None:
    want = zero_gib(13e9, 8)
    _keys(a, want)
    in_gb = {k: v * GIB / 1e9 for k, v in want.items()}
    if all(_close(a[k], in_gb[k], 0.01) for k in want):
        return "those are GB (10^9 bytes): give GiB (2^30 bytes)"
    if _close(a["zero1"], want["ddp"], 0.01):
        return "'zero1' is the unsharded total: ZeRO-1 splits the 12 bytes of optimizer state over the 8 GPUs"
    hint = _first_wrong(a, want)
    if hint:
        return f"{hint}: bytes a parameter are 2 (weights) + 2 (gradients) + 12 (Adam); which does each stage shard?"
    return None


def _check_03_2(a: dict) -> str | None:
    _keys(a, ("static", "activations", "activations_checkpointing"))
    c = _embedded_config()
    shape = dict(batch=8, seq=512, hidden=c.hidden_size, layers=c.num_hidden_layers, heads=c.num_attention_heads,
                 vocab=c.vocab_size, intermediate=c.intermediate_size)
    want = {"static": 16 * _embedded_params() / GIB,
            "activations": memory.activation_bytes(**shape) / GIB,
            "activations_checkpointing": memory.activation_bytes(**shape, gradient_checkpointing=True) / GIB}
    if _close(a["static"], 16 * _embedded_params() / 1e9, 0.01):
        return "'static' is in GB: give GiB (2^30 bytes)"
    hint = _first_wrong(a, want)
    if hint:
        return (f"{hint}: read the model's sizes from model.config and use memory.estimate / "
                "memory.activation_bytes (fp32, batch 8 x 512 tokens)")
    return None


def _check_03_3(a: dict) -> str | None:
    _keys(a, ("before", "mask_on", "mask_off"))
    values = [a[k] for k in ("before", "mask_on", "mask_off")]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
        return "give three positive, finite mean losses per prompt token"
    if a["mask_off"] >= a["mask_on"]:
        return ("with the mask off the model trains on the prompt tokens too, so their loss should fall further: "
                "did both runs start from the original weights, and did you score only the prompt tokens?")
    if a["mask_off"] >= a["before"]:
        return "the mask-off run should lower the prompt-token loss below the original model's: train a little longer"
    return None


# ---- lab 04 --------------------------------------------------------------------------------------------------------

PREDICTION = "Tom buys two tickets for the concert."
REFERENCE = "Tom is buying a ticket for a concert with Mary."


def _check_04_1(a: dict) -> str | None:
    _keys(a, ("precision", "recall", "f1"))
    s = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True).score(REFERENCE, PREDICTION)["rouge1"]
    f1 = metrics.per_example([PREDICTION], [REFERENCE])["rouge1"][0]
    if not (_close(a["precision"], s.precision, 1e-3) and _close(a["recall"], s.recall, 1e-3)):
        return ("precision = shared words / words in the prediction, recall = shared words / words in the reference; "
                "words are lower-cased, punctuation dropped and stemmed ('buys' and 'buying' are both 'buy')")
    if not _close(a["f1"], f1, 1e-3):
        return "f1 is the harmonic mean of precision and recall: 2PR / (P + R)"
    return None


def _check_04_2(a: dict) -> str | None:
    _keys(a, ("mean", "low", "high"))
    scores = _human_rouge1()
    low, high = metrics.bootstrap(scores)
    if not _close(a["mean"], float(np.mean(scores)), 1e-4):
        return ("'mean' is off: predictions are each test row's references[1], references its references[0], "
                "over the whole test split")
    if not a["low"] <= a["mean"] <= a["high"] or not _close(a["high"] - a["low"], high - low, 0.3):
        return "the interval is off: metrics.rouge(...)['rouge1'] gives 'low' and 'high' (a 95% bootstrap interval)"
    return None


def _check_04_3(a: dict) -> str | None:
    scores = _human_rouge1()
    if len(a) < 2 or not all(isinstance(n, int) and 2 <= n <= len(scores) for n in a):
        raise Malformed(f"give widths for at least two sizes n (integers from 2 to {len(scores)})")
    _keys(a, list(a))
    for n, width in a.items():
        low, high = metrics.bootstrap(scores[:n])
        if not _close(width, high - low, 0.15):
            return f"the width for n = {n} is off: high - low of metrics.bootstrap(scores[:{n}])"
    sizes = sorted(a)
    if any(a[m] <= a[n] for m, n in zip(sizes, sizes[1:])):
        return "more dialogues should give a narrower interval: check which width belongs to which n"
    return None


# ---- lab 05 --------------------------------------------------------------------------------------------------------

def _check_05_1(a: dict) -> str | None:
    _keys(a, ("chat", "plain"), numbers=False)
    _keys(a, ("lost", "gained"))
    chat, plain = list(a["chat"]), list(a["plain"])
    if len(chat) < 8 or len(chat) != len(plain) or not all(isinstance(x, bool) for x in chat + plain):
        return "'chat' and 'plain' are equally long lists of True/False (ProbeResult.correct), 8 probes at least"
    if a["lost"] != sum(c and not p for c, p in zip(chat, plain)):
        return "'lost' counts the probes right with the chat template and wrong without it"
    if a["gained"] != sum(p and not c for c, p in zip(chat, plain)):
        return "'gained' counts the probes wrong with the chat template and right without it"
    return None


def mcnemar_p(lost: int, gained: int) -> float:
    """Exact two-sided McNemar p-value for these discordant counts (``metrics.mcnemar`` on pairs built from them)."""
    if lost + gained == 0:  # no discordant pair: nothing speaks against "no difference"
        return 1.0
    return metrics.mcnemar([True] * lost + [False] * gained, [False] * lost + [True] * gained)["p"]


def _check_05_2(a: dict) -> str | None:
    _keys(a, ("lost", "gained", "p"))
    if not all(isinstance(a[k], int) and a[k] >= 0 for k in ("lost", "gained")):
        return "'lost' and 'gained' are counts (integers >= 0)"
    want = mcnemar_p(a["lost"], a["gained"])
    if _close(a["p"], want / 2, 1e-6) and want < 1:
        return "that is one tail: the test is two-sided, so double it (at most 1)"
    if not _close(a["p"], want, 1e-6):
        return ("p = 2 x P(X <= min(lost, gained)) for X ~ Binomial(lost + gained, 1/2), at most 1; "
                "math.comb counts the ways")
    return None


HEDGE_PROBE = "arith-001"


def _check_05_3(a: str) -> str | None:
    probe = next(p for p in data.load_probes() if p["id"] == HEDGE_PROBE)
    words = probes.normalize(a).split()
    if not any(ans in words for ans in probes.normalize(" ".join(probe["answers"])).split()):
        return "the draft rule must pass it: the reply needs an accepted answer as a whole word on its first line"
    if probes.judge(a, probe):
        return "probes.judge accepts that reply: make it hedge (name a second number, or 'or' beside the answer)"
    return None


# ---- lab 06 --------------------------------------------------------------------------------------------------------

def lora_params(r: int, targets: tuple[str, ...]) -> int:
    """r x (in + out) for every targeted projection of every layer of the embedded model (Llama names)."""
    c = _embedded_config()
    head = c.hidden_size // c.num_attention_heads
    shapes = {"q_proj": (c.hidden_size, c.num_attention_heads * head),
              "k_proj": (c.hidden_size, c.num_key_value_heads * head),
              "v_proj": (c.hidden_size, c.num_key_value_heads * head),
              "o_proj": (c.num_attention_heads * head, c.hidden_size),
              "gate_proj": (c.hidden_size, c.intermediate_size), "up_proj": (c.hidden_size, c.intermediate_size),
              "down_proj": (c.intermediate_size, c.hidden_size)}
    return c.num_hidden_layers * sum(r * sum(shapes[t]) for t in targets)


def _check_06_1(a: dict) -> str | None:
    _keys(a, ("qv", "mlp"))
    want = {"qv": lora_params(8, ("q_proj", "v_proj")), "mlp": lora_params(8, ("gate_proj", "up_proj", "down_proj"))}
    if a["qv"] == want["mlp"] and a["mlp"] == want["qv"]:
        return "the two counts are swapped"
    hint = _first_wrong(a, want, rel=0)
    if hint:
        return f"{hint}: count with lora.count(model)['trainable'] after lora.inject on a fresh model, rank 8"
    return None


def _check_06_2(a: dict) -> str | None:
    _keys(a, (1, 4, 16))
    for r in (1, 4, 16):
        if a[r] != lora_params(r, ("q_proj", "v_proj")):
            return f"the count at r = {r} is off: each adapted layer adds r x (in_features + out_features)"
    return None


def _check_06_3(a: dict) -> str | None:
    _keys(a, ("adapter_effect", "merge_error"))
    if not a["adapter_effect"] > 1e-3:
        return ("the adapter does not change the logits: B starts at zero, so give lora_B random values "
                "(e.g. torch.nn.init.normal_(layer.lora_B, std=0.02)) before comparing")
    if not 0 <= a["merge_error"] < 1e-3:
        return "merged and unmerged logits should agree to float32 rounding: compare the same input after lora.merge"
    return None


# ---- the registry --------------------------------------------------------------------------------------------------

def _ex(id_: str, title: str, task: str, expects: str, types, checker) -> Exercise:
    return Exercise(id_, title, task.strip(), expects, types if isinstance(types, tuple) else (types,), checker)


_LIST = (list, tuple)
EXERCISES: dict[str, Exercise] = {e.id: e for e in [
    _ex("00.1", "Count the parameters", """
Load the embedded model (`models.load("pocket")`) and count its parameters with `models.n_params`. SmolLM2 ties its
input embedding to its output layer, so that matrix is counted once; count it alone too
(`model.get_input_embeddings().weight`). What share of the model is the embedding?
""", '{"total": int, "embedding": int}', dict, _check_00_1),
    _ex("00.2", "The precision policy here", """
`device.precision()` picks the compute precision for this machine. Ask it for a decoder-only model (`kind="causal"`)
and for an encoder-decoder (`kind="seq2seq"`). Do they differ here? On which hardware would they?
""", '{"causal": "fp32" | "bf16" | "fp16", "seq2seq": ...}', dict, _check_00_2),
    _ex("00.3", "Evaluation sizes of the presets", """
For every preset in `config.PRESETS`, how many test dialogues do the ROUGE labs score (`eval_examples`)?
Which presets can carry a conclusion about a difference of a few ROUGE points?
""", "{preset name: eval_examples} for every preset", dict, _check_00_3),
    _ex("00.4", "What the model reads", """
Wrap the first test dialogue's summary prompt in the chat template (`prompts.chat(tokenizer,
prompts.summary_prompt(dialogue))`) and count its tokens with `prompts.count_tokens`. How many tokens does the
chat template add to the plain prompt?
""", '{"chat": int, "added": int}', dict, _check_00_4),
    _ex("01.1", "Tokens per shot", """
With `train = data.load_dialogsum("pocket", "train")`, take `shots = prompts.draw_shots(train, 1, 3, seed=0)[0]` and
the first test dialogue. Count the tokens of its chat-format k-shot prompt (`prompts.icl_prompt(tokenizer,
shots[:k], row, "chat")`) for k = 0, 1, 2, 3. How many tokens does one shot cost on average?
""", "a list of 4 token counts (k = 0, 1, 2, 3)", _LIST, _check_01_1),
    _ex("01.2", "Another template", """
Build the same 2-shot prompt (the 2 first of 01.1's shots, the first test dialogue, chat format) with every template
in `prompts.SUMMARY_TEMPLATES` (`template=`). Which template gives the shortest prompt, and how many tokens is it?
""", '{"template": index, "tokens": int}', dict, _check_01_2),
    _ex("01.3", "How many shots fit", """
Draw 48 candidate shots of at most 180 tokens each (`prompts.draw_shots(train, 1, 48, seed=0, max_tokens=180,
tokenizer=tokenizer)[0]`). For the first test dialogue in the chat format, how many of them fit a 512-token window
(FLAN-T5's input) and the model's own 8192 tokens, leaving 64 tokens for the answer (`prompts.max_shots`)?
""", "{512: k, 8192: k}", dict, _check_01_3),
    _ex("01.4", "Zero- against one-shot with another template", """
Rerun the sweep of section 4 for k = 0 and 1 on the lab's first test dialogues, with a summary template other than
template 0. Score each k's predictions with `metrics.rouge`. Does one shot still help with this wording?
""", '{"template": index, "predictions": {0: [str], 1: [str]}, "rouge1": {0: float, 1: float}}', dict,
        _check_01_4),
    _ex("02.1", "The loss mask off", """
Tokenize the first train row: `tokenizing.build(tokenizer, prompts.chat(tokenizer, prompts.summary_prompt(
row["dialogue"])), row["summary"], "causal", 1024, 256)`. How many positions count in the loss? Turn the mask off
(labels = input_ids): how many now? What would training then spend its effort on?
""", '{"masked": int, "unmasked": int}', dict, _check_02_1),
    _ex("02.2", "A template of your own", """
Write a new summarization template with a `{dialogue}` field, and make the prompt-completion pair of the first
train row with it (`prompts.render`; the completion is the row's summary). Why does FLAN train on many such wordings?
""", '{"prompt": str, "completion": str}', dict, _check_02_2),
    _ex("02.3", "Padding and the batch size", """
Tokenize the first 64 train rows with nothing cut (`tokenizing.summary_dataset(tokenizer, "causal", rows, 1024,
128)`) and compute the share of tokens dynamic padding saves against fixed padding (`tokenizing.padding_cost(
tokenizing.row_lengths(ds, "causal"), batch_size)["saved"]`) at batch sizes 4 and 16. Why does it shrink as
batches grow?
""", "{4: share, 16: share}", dict, _check_02_3),
    _ex("03.1", "ZeRO for a 13B model", """
Mixed-precision Adam keeps 2 + 2 + 12 bytes a parameter (weights, gradients, optimizer states with the fp32 master).
For a 13B-parameter model on 8 GPUs, how many GiB does each GPU hold under DDP, ZeRO-1, ZeRO-2 and ZeRO-3
(before activations)? Which stages fit an 80 GB GPU?
""", '{"ddp": GiB, "zero1": GiB, "zero2": GiB, "zero3": GiB}', dict, _check_03_1),
    _ex("03.2", "The embedded model's memory budget", """
For full fine-tuning of the embedded model in fp32: the static memory (`memory.estimate(n).static`) and the
activations of a batch of 8 x 512 tokens, with and without gradient checkpointing (`memory.activation_bytes` with
the sizes in `model.config`), all in GiB. Which part grows with the batch?
""", '{"static": GiB, "activations": GiB, "activations_checkpointing": GiB}', dict, _check_03_2),
    _ex("03.3", "Train with the loss mask off", """
Train the original model twice on the same rows and steps: labels as built (mask on), then labels = input_ids
(mask off). Measure the mean loss on the *prompt* tokens of some validation rows for the original model and each
trained one (`train.evaluate_loss` on rows whose labels keep only the prompt positions). What did mask-off learn?
""", '{"before": float, "mask_on": float, "mask_off": float}', dict, _check_03_3),
    _ex("04.1", "ROUGE-1 by hand", f"""
Prediction: *{PREDICTION}* Reference: *{REFERENCE}*
Compute ROUGE-1 precision, recall and F1 on paper (lower-case, drop punctuation, stem: *buys* and *buying* are
both *buy*), then compare F1 with `metrics.per_example([prediction], [reference])["rouge1"]`.
""", '{"precision": float, "recall": float, "f1": float}', dict, _check_04_1),
    _ex("04.2", "How high do humans score?", """
Every test dialogue has several human summaries. Score each row's `references[1]` (as the prediction) against its
`references[0]` over the whole test split with `metrics.rouge`. How does the models' ROUGE-1 compare with this?
""", '{"mean": float, "low": float, "high": float} (ROUGE-1)', dict, _check_04_2),
    _ex("04.3", "Interval width against n", """
Bootstrap the per-dialogue human ROUGE-1 scores of 04.2 (`metrics.bootstrap`) for the first n dialogues, for at
least two sizes n (say 25 and 100). How much narrower is the interval with 4x the dialogues? Compare with 1/sqrt(n).
""", "{n: width of the 95% interval}", dict, _check_04_3),
    _ex("05.1", "Probes with and without the chat template", """
Score the original model on the lab's probes twice: as it reads them in the lab (chat template,
`probes.evaluate`) and as plain text (`generate.batch` on the bare instructions, then `probes.score`).
Count the probes lost (right with chat, wrong plain) and gained.
""", '{"chat": [bool], "plain": [bool], "lost": int, "gained": int}', dict, _check_05_1),
    _ex("05.2", "McNemar's exact test by hand", """
Under "no difference", each probe that only one side gets right is a fair coin. For your lost and gained counts of
05.1, compute the two-sided p-value with `math.comb`, then compare with `metrics.mcnemar`. Is the difference
measurable at this size?
""", '{"lost": int, "gained": int, "p": float}', dict, _check_05_2),
    _ex("05.3", "A hedge the draft rule misses", f"""
Write a reply to probe `{HEDGE_PROBE}` ("What is 7 + 5?") that the lab's draft rule (an accepted answer as a whole
word) passes, but `probes.judge` rightly fails. What does the model gain from hedging under the draft rule?
""", "a reply (str)", str, _check_05_3),
    _ex("06.1", "LoRA on the MLP layers", """
Inject rank-8 LoRA (`lora.inject`) into a fresh copy of the embedded model twice: on `("q_proj", "v_proj")`, and on
the MLP's `("gate_proj", "up_proj", "down_proj")`. Count the trainable parameters of each (`lora.count`).
Why does the MLP take more?
""", '{"qv": int, "mlp": int}', dict, _check_06_1),
    _ex("06.2", "Trainable parameters against the rank", """
With `peft` (`LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"])` and `get_peft_model`),
count the trainable parameters for r = 1, 4 and 16, and check them against r x (in + out) per adapted layer.
""", "{1: int, 4: int, 16: int}", dict, _check_06_2),
    _ex("06.3", "Merging changes nothing", """
Wrap q/v of the embedded model with `lora.inject` (r = 4) and give `lora_B` random values (it starts at zero).
On one tokenized prompt, compare the logits: the largest change the adapter makes over the original model, and the
largest difference between the adapted model and the same model after `lora.merge`.
""", '{"adapter_effect": float, "merge_error": float}', dict, _check_06_3),
]}


def ids(lab: str | None = None) -> list[str]:
    """Exercise ids, all or one lab's ("03")."""
    return [i for i in EXERCISES if lab is None or i.split(".")[0] == lab]


def get(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise ValueError(f"unknown exercise {exercise_id!r}; exercises: {', '.join(EXERCISES)}")
    return EXERCISES[exercise_id]


def _verdict(ex: Exercise, answer) -> str | None:
    """None when the answer passes, else what to print."""
    if answer is None:
        return f"no answer yet: give {ex.expects}"
    if isinstance(answer, bool) or not isinstance(answer, ex.types):
        return f"expected {ex.expects}, got {type(answer).__name__}"
    try:
        return ex.checker(answer)
    except Malformed as e:
        return f"{e} (expected {ex.expects})"


def check(exercise_id: str, answer) -> bool:
    """Print PASS or a hint for ``answer`` to the exercise, and return whether it passed."""
    ex = get(exercise_id)
    hint = _verdict(ex, answer)
    print(f"{ex.id} {ex.title}: " + ("PASS" if hint is None else f"not yet. Hint: {hint}"))
    return hint is None


def starter(exercise_id: str) -> str:
    """The code cell that goes under an exercise: an empty answer and the check."""
    ex = get(exercise_id)
    return f"answer = None  # {ex.expects}\npassed = exercises.check({ex.id!r}, answer)"


def markdown(lab: str) -> str:
    """The lab's exercises as one markdown text ("03"), or one exercise's ("03.1"): the labs' cells come from it."""
    if "." in lab:
        ex = get(lab)
        return f"**Exercise {ex.id} · {ex.title}**\n{ex.task}\n\nAnswer: {ex.expects}"
    chosen = ids(lab)
    if not chosen:
        labs = sorted({i.split(".")[0] for i in EXERCISES})
        raise ValueError(f"no exercises for lab {lab!r}; labs with exercises: {', '.join(labs)}")
    parts = [f"## Exercises\nChange something, run it, look. `exercises.check(id, answer)` answers PASS or a hint; "
             f"worked solutions are in `solutions/{lab}_*.py`."]
    for i in chosen:
        parts.append(markdown(i))
    return "\n\n".join(parts)
