#!/usr/bin/env bash
# spectrain launcher.
#   bash launch.sh train1 [--testing] [--description TEXT] [--validation-only [--job N]]
#   bash launch.sh test [pytest arguments]
#   bash launch.sh <any spectrain command>       (e.g. inspect raw --basedir DIR, jobs,
#                                                 augment train2356 --pretend 3)
#   bash launch.sh convert panns CKPT.pth OUT.keras --model Cnn14   (installs PyTorch on first use)
#   bash launch.sh export-model --job JOB --format litert --output DIR (installs LiteRT/ONNX)
#   bash launch.sh train2 --parallel 4                     (installs Ray on first use)
# On first use it creates .venv and installs the project into it (pip install -e .[dev]).
#   SPECTRAIN_GPU=1 bash launch.sh ...   installs TensorFlow with CUDA in place of
#                                        tensorflow-cpu (once; SPECTRAIN_GPU=0 goes back)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}

# Which TensorFlow the venv holds: "cpu" (tensorflow-cpu, the default) or "gpu"; the venv
# remembers it, so SPECTRAIN_GPU is needed only to change it.
INSTALLED_TF=$(cat "$VENV/.spectrain-tensorflow" 2>/dev/null || echo cpu)
TF_ROUTE=$INSTALLED_TF
case "${SPECTRAIN_GPU:-}" in 1) TF_ROUTE=gpu ;; 0) TF_ROUTE=cpu ;; esac

stamp_of() {
  { cat setup.cfg pyproject.toml; if [ "$TF_ROUTE" = gpu ]; then echo gpu; fi; } |
    sha256sum | cut -c1-16
}
# setup.cfg requires tensorflow-cpu, and tensorflow[and-cuda] beside it would be a second
# distribution of the same tensorflow/ folder. The gpu route first installs a stand-in
# tensorflow-cpu (no files, the version the gpu extra pins) that requires tensorflow[and-cuda]:
# the venv gets exactly one TensorFlow, and later installs of the project (test, export) keep it.
install_tensorflow() {
  # The routes' distributions both own tensorflow/: a venv that changes route loses one first.
  if [ -f "$VENV/.spectrain-installed" ] && [ "$INSTALLED_TF" != "$TF_ROUTE" ]; then
    "$VENV/bin/python" -m pip uninstall --quiet -y tensorflow tensorflow-cpu >&2
  fi
  if [ "$TF_ROUTE" = gpu ]; then
    local version stand_in="$VENV/tensorflow-cpu-gpu-stand-in"
    version=$(sed -n 's/^ *tensorflow-cpu==\(.*+gpu\) *$/\1/p' setup.cfg)
    [ -n "$version" ] || { echo "setup.cfg: gpu extra: no tensorflow-cpu==X+gpu" >&2; exit 1; }
    mkdir -p "$stand_in"
    cat > "$stand_in/pyproject.toml" <<EOF
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "tensorflow-cpu"
version = "$version"
description = "spectrain's GPU stand-in for tensorflow-cpu: it installs tensorflow[and-cuda]"
dependencies = ["tensorflow[and-cuda]==${version%.*}.*"]

[tool.setuptools]
py-modules = []
EOF
    "$VENV/bin/python" -m pip install --quiet "$stand_in" >&2
  fi
  echo "$TF_ROUTE" > "$VENV/.spectrain-tensorflow"
}
if [ ! -f "$VENV/.spectrain-installed" ] || [ "$(cat "$VENV/.spectrain-installed")" != "$(stamp_of)" ]; then
  echo "setting up $VENV (first use, or setup.cfg changed): this takes a few minutes" >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  install_tensorflow
  extras=dev
  if [ "$TF_ROUTE" = gpu ]; then extras=dev,gpu; fi
  "$VENV/bin/python" -m pip install --quiet -e ".[$extras]" >&2
  stamp_of > "$VENV/.spectrain-installed"
fi
export PATH="$VENV/bin:$PATH"

# PyTorch and the reference model code: for `test` (parity tests) and `convert` only, so a
# training install stays free of torch. The model packages go in with --no-deps (see setup.cfg).
REFERENCE_PACKAGES="panns-inference==0.1.1 torchlibrosa==0.1.0 laion-clap==1.1.7"
ensure_reference() {
  local stamp="$VENV/.spectrain-reference"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$REFERENCE_PACKAGES" ]; then
    echo "installing the PyTorch reference implementations (first use)" >&2
    python -m pip install --quiet -e ".[dev,reference]" >&2
    python -m pip install --quiet --no-deps $REFERENCE_PACKAGES >&2
    echo "$REFERENCE_PACKAGES" > "$stamp"
  fi
}
# An extra of setup.cfg installed on first use: `export` (LiteRT, ONNX: for `test` and
# `export-model`), `parallel` (Ray: for `test` and launches with --parallel / --ray-address).
ensure_extra() {
  local stamp="$VENV/.spectrain-$1"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(stamp_of)" ]; then
    echo "installing $2 (first use)" >&2
    python -m pip install --quiet -e ".[dev,$1]" >&2
    stamp_of > "$stamp"
  fi
}
export PYTHONUNBUFFERED=1
[ -t 1 ] && export SPECTRAIN_INTERACTIVE=1

if [ $# -eq 0 ]; then
  spectrain --help
  exit 0
fi

case "$1" in
  test)
    shift
    ensure_reference
    ensure_extra export "the export runtimes: LiteRT, ONNX"
    ensure_extra parallel "Ray, for jobs in parallel"
    exec python -m pytest "$@"
    ;;
  train*|*/train*)
    name=$1
    shift
    case " $* " in
      *" --parallel"*|*" --ray-address"*) ensure_extra parallel "Ray, for jobs in parallel" ;;
    esac
    logs=${SPECTRAIN_LOG_DIR:-jobs}
    mkdir -p "$logs"
    log="$logs/$(basename "$name" .py)-$(date +%Y%m%d-%H%M%S).log"
    echo "console log: $log"
    # The log keeps everything the console shows; the exit status is spectrain's, not tee's.
    spectrain train "$name" "$@" 2>&1 | tee "$log"
    exit "${PIPESTATUS[0]}"
    ;;
  convert)
    ensure_reference
    exec spectrain "$@"
    ;;
  export-model)
    ensure_extra export "the export runtimes: LiteRT, ONNX"
    exec spectrain "$@"
    ;;
  *)
    exec spectrain "$@"
    ;;
esac
