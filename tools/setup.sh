#!/usr/bin/env bash
# Set-up on a fresh machine: system packages (when root with apt), npm dependencies, native addon.
#   bash tools/setup.sh          what training and the test suite need
#   bash tools/setup.sh --peers  also the benchmark peers (PyTorch, SciPy, scikit-learn from Debian)
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  g++ make python3 pkg-config
  libopenblas-dev          # BLAS for the native tfjs backend
  libdnnl-dev              # oneDNN: the native backend's bf16 matrix products (train.precision bf16)
  dataset-fashion-mnist    # real training data, /usr/share/datasets/fashion-mnist
  chromium                 # real browser for the tracker UI tests
  espeak-ng                # speech synthesis for the spoken-digits audio corpus
  fonts-dejavu-core        # the font the fitter's PNG plots are rendered with
)
if [[ "${1:-}" == "--peers" ]]; then
  apt_packages+=(python3-torch python3-scipy python3-sklearn python3-numpy python3-resampy)
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not root or no apt-get; skipping system packages (${apt_packages[*]}). Install them yourself for the native backend, the data and the browser tests."
fi

# better-sqlite3 compiles from source: its prebuilt-binary download is outside the npm registry.
npm_config_build_from_source=true npm ci --no-fund --no-audit --loglevel=error
npm run build-native -w @difflab/core-tensor --silent >/tmp/difflab-build-native.log 2>&1 || echo "setup: native backend not built ($(tail -n 1 /tmp/difflab-build-native.log)); core-tensor falls back to wasm. Full log: /tmp/difflab-build-native.log"
