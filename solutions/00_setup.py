"""Lab 00's exercises, solved: the embedded model's size, the precision policy, the presets, the chat template."""

from __future__ import annotations

from helpers import config, data, device, models, prompts


def solve_00_1(preset: str = "smoke") -> dict:
    """Parameters of the embedded model, and its (tied) embedding matrix alone."""
    model, _ = models.load("pocket")  # the exercise is about the embedded model, whatever the preset
    total, embedding = models.n_params(model), model.get_input_embeddings().weight.numel()
    print(f"{total:,} parameters; the embedding holds {embedding:,} ({embedding / total:.0%})")
    return {"total": total, "embedding": embedding}


def solve_00_2(preset: str = "smoke") -> dict:
    """What the precision policy picks on this machine for each model kind."""
    return {kind: device.precision(kind=kind) for kind in ("causal", "seq2seq")}


def solve_00_3(preset: str = "smoke") -> dict:
    """Test dialogues scored per preset."""
    return {name: p.eval_examples for name, p in config.PRESETS.items()}


def solve_00_4(preset: str = "smoke") -> dict:
    """Tokens of the first test dialogue's summary prompt in the chat template, and how many the template adds."""
    tokenizer = models.embedded_tokenizer()
    plain = prompts.summary_prompt(data.load_dialogsum("pocket", "test", limit=1)[0]["dialogue"])
    chat, bare = prompts.count_tokens(tokenizer, [prompts.chat(tokenizer, plain), plain])
    return {"chat": chat, "added": chat - bare}
