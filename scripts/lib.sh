# Shared by scripts/setup, scripts/tchdist and scripts/test: where the venv lives and which
# libtorch the build uses. Sourced, not run.
TCHDIST_TORCH_VERSION=2.13.0
TCHDIST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TCHDIST_VENV=${TCHDIST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tchdist/torch-$TCHDIST_TORCH_VERSION}
TCHDIST_PYTHON=$TCHDIST_VENV/bin/python

log() { printf '%s\n' "$*" >&2; }

# The venv's torch directory (libtorch root: lib/ and include/).
venv_torch_dir() {
  "$TCHDIST_PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))'
}

# Exports LIBTORCH for torch-sys: the user's own LIBTORCH wins, else the venv's torch.
# torch-sys must not look for a system libtorch or ask Python, so LIBTORCH_USE_PYTORCH is unset.
export_libtorch() {
  unset LIBTORCH_USE_PYTORCH
  if [ -z "${LIBTORCH:-}" ]; then
    LIBTORCH=$(venv_torch_dir) || { log "error: cannot find torch in $TCHDIST_VENV; run scripts/setup"; return 1; }
  fi
  export LIBTORCH
  # The Python that parity tests and `tchdist check` run.
  export TCHDIST_PYTHON
}
