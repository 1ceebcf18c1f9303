"""Repository hygiene: clean notebooks, the lab pattern, requirements in step, no secrets, safe loading, imports that
follow the data flow."""

import ast
import json
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "labs").glob("*.ipynb"))


def test_no_init_in_datasets_folder():
    assert not list((REPO / "datasets").rglob("__init__.py"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_follows_the_pattern(nb):
    book = json.loads(nb.read_text())
    cells = book["cells"]
    for c in cells:
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, f"{nb.name} has outputs: clear them"
    assert all(c.get("id") for c in cells), f"{nb.name}: every cell needs an id (nbformat 4.5)"
    assert "colab-badge" in "".join(cells[0]["source"]), "cell 1 needs the Colab badge"
    assert "install" in "".join(cells[1]["source"]).lower(), "cell 2 is the install cell"
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "preset" in "".join(params[0]["source"]), "one parameters cell holding the preset"
    heads = [i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Exercises")]
    assert len(heads) == 1, "the lab ends with one '## Exercises' section"
    before = [c for c in cells[:heads[0]] if c["cell_type"] == "code"]
    assert "".join(before[-1]["source"]).strip() == "figures.save()", \
        "the last cell before the exercises saves the lab's figures, in one short call"
    adds = [c for c in cells[:heads[0]] if "figures.add(" in "".join(c["source"])]
    assert any("record.Figures(" in "".join(c["source"]) for c in before[:4]) and adds, \
        "figures are gathered with record.Figures(...) near the top and figures.add(...) where each is measured"
    checks = [c for c in cells[heads[0]:] if c["cell_type"] == "code" and "exercises.check(" in "".join(c["source"])]
    assert 3 <= len(checks) <= 5, "3 to 5 exercises, each with a code cell that calls exercises.check"
    assert book["metadata"]["kernelspec"]["name"] == "python3"


SECRET = re.compile(r"(hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{30,})")
UNSAFE = [re.compile(p) for p in (r"trust_remote_code\s*=\s*True", r"\bpickle\.loads?\(", r"torch\.load\((?![^)]*weights_only\s*=\s*True)")]


def _sources():
    for path in list((REPO / "helpers").rglob("*.py")) + NOTEBOOKS + list((REPO / "bench").rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def test_no_tokens_or_secrets():
    for path, text in _sources():
        assert not SECRET.search(text), f"{path} seems to hold a token"


def test_no_remote_code_or_pickle_loads():
    for path, text in _sources():
        for pat in UNSAFE:
            assert not pat.search(text), f"{path}: {pat.pattern}"


# The data flow of DESIGN.md, upstream first: a module may import the ones before it, never one after it.
# (files.py, the atomic writer every step uses, imports no helpers module: it sits below all of them.)
FLOW = ["files", "config", ["models", "data"], "prompts", "tokenizing", "train", "generate", "metrics", "record"]


def _helpers_imports() -> dict[str, set[str]]:
    """For every helpers module, the helpers modules it imports (anywhere in the file)."""
    modules = {p.stem for p in (REPO / "helpers").glob("*.py")} - {"__init__"}
    graph = {}
    for name in modules:
        deps = set()
        for node in ast.walk(ast.parse((REPO / "helpers" / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "helpers":
                deps |= {node.module.split(".")[1]} if "." in node.module else {a.name for a in node.names}
        graph[name] = deps & modules
    return graph


def test_helpers_imports_follow_the_data_flow():
    graph = _helpers_imports()
    rank = {m: i for i, step in enumerate(FLOW) for m in ([step] if isinstance(step, str) else step)}
    backward = [f"{m} imports {d}" for m, deps in graph.items() if m in rank
                for d in deps if d in rank and rank[d] >= rank[m] and d != m]
    assert not backward, f"imports against the data flow {FLOW}: {backward}"
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as e:
        raise AssertionError(f"circular imports among helpers modules: {e.args[1]}") from None


def test_readme_repository_map_names_every_helpers_module():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Repository", 1)[1].split("```")[1]
    modules = sorted(p.stem for p in (REPO / "helpers").glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if not re.search(rf"\b{m}\b", block)]
    assert not missing, f"README's repository map does not name helpers module(s) {missing}: add them there"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_reads_every_parameter_with_its_help(nb):
    """papermill (``--help-notebook``, the runner's parameters) lists each ``name = value  # help`` line; a help text it
    cannot parse (an ``=`` in it, say) drops that parameter from the list."""
    import papermill

    cell = next(c for c in json.loads(nb.read_text())["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    names = [m.group(1) for m in re.finditer(r"^(\w+) = ", "".join(cell["source"]), re.M)]
    assert [p["name"] for p in papermill.inspect_notebook(str(nb)).values()] == names
