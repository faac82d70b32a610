#!/usr/bin/env bash
# spectrain launcher.
#   bash launch.sh train1 [--testing] [--description TEXT] [--validation-only [--job N]]
#   bash launch.sh test [pytest arguments]
#   bash launch.sh <any spectrain command>       (e.g. inspect raw --basedir DIR, jobs,
#                                                 augment train2356 --pretend 3)
#   bash launch.sh convert panns CKPT.pth OUT.keras --model Cnn14   (installs PyTorch on first use)
#   bash launch.sh export-model --job JOB --format litert --output DIR (installs LiteRT/ONNX)
# On first use it creates .venv and installs the project into it (pip install -e .[dev]).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}

stamp_of() { cat setup.cfg pyproject.toml | sha256sum | cut -c1-16; }
if [ ! -f "$VENV/.spectrain-installed" ] || [ "$(cat "$VENV/.spectrain-installed")" != "$(stamp_of)" ]; then
  echo "setting up $VENV (first use, or setup.cfg changed): this takes a few minutes" >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]" >&2
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
# The export runtimes (LiteRT, ONNX): for `test` and `export-model` only.
ensure_export() {
  local stamp="$VENV/.spectrain-export"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(stamp_of)" ]; then
    echo "installing the export runtimes: LiteRT, ONNX (first use)" >&2
    python -m pip install --quiet -e ".[dev,export]" >&2
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
    ensure_export
    exec python -m pytest "$@"
    ;;
  train*|*/train*)
    name=$1
    shift
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
    ensure_export
    exec spectrain "$@"
    ;;
  *)
    exec spectrain "$@"
    ;;
esac
