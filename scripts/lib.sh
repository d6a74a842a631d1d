# Shared by scripts/setup, scripts/tchdist and scripts/test: where the venv lives and which
# libtorch the build uses. Sourced, not run.
TCHDIST_TORCH_VERSION=2.13.0
# SciPy, in the same venv: the opt-in gemm sampler's tests compare against scipy.stats.
TCHDIST_SCIPY_VERSION=1.17.1
TCHDIST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '%s\n' "$*" >&2; }

# The venv: $TCHDIST_VENV, else under $XDG_CACHE_HOME (only when absolute, as the XDG spec
# says), else under $HOME/.cache. Empty when none of them is set: require_venv says so.
if [ -z "${TCHDIST_VENV:-}" ]; then
  case "${XDG_CACHE_HOME:-}" in
    /*) TCHDIST_VENV=$XDG_CACHE_HOME/tchdist/torch-$TCHDIST_TORCH_VERSION ;;
    *) TCHDIST_VENV=${HOME:+$HOME/.cache/tchdist/torch-$TCHDIST_TORCH_VERSION} ;;
  esac
fi
TCHDIST_PYTHON=${TCHDIST_VENV:+$TCHDIST_VENV/bin/python}
# The benchmark's JAX environment (scripts/setup-jax), beside the torch venv.
TCHDIST_JAX_VERSION=0.10.2
TCHDIST_JAX_VENV=${TCHDIST_JAX_VENV:-${TCHDIST_VENV:+$(dirname "$TCHDIST_VENV")/jax-$TCHDIST_JAX_VERSION}}
TCHDIST_JAX_PYTHON=${TCHDIST_JAX_VENV:+$TCHDIST_JAX_VENV/bin/python}

require_venv() {
  [ -n "$TCHDIST_VENV" ] && return 0
  log "error: HOME is not set: set HOME, XDG_CACHE_HOME or TCHDIST_VENV (or LIBTORCH)"
  return 1
}

# The venv's torch directory (libtorch root: lib/ and include/).
venv_torch_dir() {
  require_venv || return 1
  "$TCHDIST_PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))'
}

# Fails with one `error:` line unless $1 is a libtorch $TCHDIST_TORCH_VERSION: lib/libtorch.so
# and a version file (libtorch's build-version, or torch's version.py in a Python install).
check_libtorch() {
  local dir=$1 version=""
  if [ ! -f "$dir/lib/libtorch.so" ] && [ ! -f "$dir/lib/libtorch_cpu.so" ]; then
    log "error: LIBTORCH=$dir has no lib/libtorch.so (unset LIBTORCH to use the torch scripts/setup installs)"
    return 1
  fi
  if [ -f "$dir/build-version" ]; then
    version=$(head -n 1 "$dir/build-version")
  elif [ -f "$dir/version.py" ]; then
    version=$(sed -n "s/^__version__ = '\([^']*\)'.*/\1/p" "$dir/version.py")
  fi
  case $version in
    "$TCHDIST_TORCH_VERSION" | "$TCHDIST_TORCH_VERSION"+*) ;;
    *)
      log "error: LIBTORCH=$dir is libtorch ${version:-of unknown version}, not $TCHDIST_TORCH_VERSION (unset LIBTORCH to use the torch scripts/setup installs)"
      return 1
      ;;
  esac
}

# Exports LIBTORCH for torch-sys: the user's own LIBTORCH wins, else the venv's torch.
# torch-sys must not look for a system libtorch or ask Python, so LIBTORCH_USE_PYTORCH is unset.
export_libtorch() {
  unset LIBTORCH_USE_PYTORCH
  if [ -z "${LIBTORCH:-}" ]; then
    LIBTORCH=$(venv_torch_dir) || { log "error: cannot find torch in ${TCHDIST_VENV:-the venv}; run scripts/setup"; return 1; }
  fi
  check_libtorch "$LIBTORCH" || return 1
  export LIBTORCH
  # The Python that parity tests and `tchdist check` run.
  if [ -n "$TCHDIST_PYTHON" ]; then
    export TCHDIST_PYTHON
  fi
}
