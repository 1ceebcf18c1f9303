"""Lab 01's exercises, solved: what shots cost in tokens, how many fit, and one shot with another template."""

from __future__ import annotations

from helpers import config, data, generate, metrics, models, prompts


def _setup(k: int, max_tokens: int | None = None):
    tokenizer = models.embedded_tokenizer()
    train = data.load_dialogsum("pocket", "train")
    row = data.load_dialogsum("pocket", "test", limit=1)[0]
    shots = prompts.draw_shots(train, 1, k, seed=0, max_tokens=max_tokens, tokenizer=tokenizer)[0]
    return tokenizer, row, shots


def solve_01_1(preset: str = "smoke") -> list[int]:
    """Tokens of the chat-format k-shot prompt for k = 0..3."""
    tokenizer, row, shots = _setup(3)
    counts = prompts.count_tokens(tokenizer, [prompts.icl_prompt(tokenizer, shots[:k], row, "chat") for k in range(4)])
    print(f"tokens for k = 0..3: {counts}; {(counts[-1] - counts[0]) / 3:.0f} a shot on average")
    return counts


def solve_01_2(preset: str = "smoke") -> dict:
    """The summary template with the shortest 2-shot prompt."""
    tokenizer, row, shots = _setup(2)
    texts = [prompts.icl_prompt(tokenizer, shots, row, "chat", template=t) for t in prompts.SUMMARY_TEMPLATES]
    counts = prompts.count_tokens(tokenizer, texts)
    best = min(range(len(counts)), key=counts.__getitem__)
    return {"template": best, "tokens": counts[best]}


def solve_01_3(preset: str = "smoke") -> dict:
    """Shots that fit a 512- and an 8192-token window, 64 tokens left for the answer."""
    tokenizer, row, shots = _setup(48, max_tokens=180)
    return {limit: prompts.max_shots(tokenizer, shots, row, limit, max_new_tokens=64, fmt="chat")
            for limit in (512, 8192)}


def solve_01_4(preset: str = "smoke", template: int = 3) -> dict:
    """ROUGE-1 at k = 0 and k = 1 on the lab's first test dialogues, with another summary template."""
    cfg = config.get(preset)
    knobs = config.knobs("01", cfg)
    model, tokenizer = models.load(cfg)
    kind = models.kind_of(model)
    test = data.load(cfg, "test", limit=knobs["n_eval"])
    shots = prompts.draw_shots(data.load(cfg, "train"), len(test), 1, seed=0, max_tokens=knobs["shot_max_tokens"],
                               tokenizer=tokenizer)
    text = prompts.SUMMARY_TEMPLATES[template]
    predictions, rouge1 = {}, {}
    for k in (0, 1):
        texts = [prompts.icl_prompt(tokenizer, s[:k], row, "chat", kind, text) for s, row in zip(shots, test)]
        predictions[k] = generate.batch(model, tokenizer, texts, max_new_tokens=knobs["max_new_tokens"],
                                        batch_size=knobs["batch_size"], progress=False)
        rouge1[k] = metrics.rouge(predictions[k], test["references"])["rouge1"]["mean"]
    print(f"template {template}: ROUGE-1 k=0 {rouge1[0]:.3f}, k=1 {rouge1[1]:.3f}")
    return {"template": template, "predictions": predictions, "rouge1": rouge1}
