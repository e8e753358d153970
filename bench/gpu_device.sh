#!/usr/bin/env bash
# Build llama-cpp-python with CUDA on a GPU machine and run `python -m bench gpu_offload`.
#
# For a borrowed GPU machine that can reach no package registry (it must have CUDA's
# compiler, CMake, ninja, scikit-build-core, numpy and jinja2). Run from the repository
# root: bash bench/gpu_device.sh OUTDIR. It needs, in .whl/ (ignored by git; WHL=DIR for
# another folder, e.g. one that holds a build with the flash-attention kernels):
#   * the wheels of Lectern's light dependencies for that machine's Python
#     (pydantic, pydantic-core, pydantic-settings, annotated-types, typing-inspection,
#     typing-extensions, platformdirs, python-dotenv, gguf, diskcache);
#   * llama-src.tar.xz: the sdist of the pinned llama-cpp-python, without what the build
#     does not use (the vendored models, docs, web UI and .git): 5 MB instead of 76;
#   * or, to save the build, llama-cuda.tar.xz: the llama_cpp package of such a build made
#     on a machine without a GPU by bench/build_cuda_llama.sh (27 MB).
# The CPU part is built with the flags of packaging/llama-cpp.sh (no AMX where the CPU
# traps it, as Firecracker machines do), the CUDA part for GPU_ARCH (default 90: H100, H200)
# without the flash-attention kernels (half the compile time; the f16 KV caches measured
# here do not use them).
set -euo pipefail
whl="${WHL:-.whl}"
out="${1:-/tmp/lectern-gpu}"
mkdir -p "$out"
site=/tmp/lectern-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$site" "$whl"/*.whl
export PYTHONPATH="$site:$PWD"
nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version,compute_cap \
  --format=csv | tee "$out/nvidia-smi.txt"

if [ -f "$whl/llama-cuda.tar.xz" ]; then
  # llama-cpp-python built with CUDA elsewhere: no build here
  tar xJf "$whl/llama-cuda.tar.xz" -C "$site"
  echo "llama-cpp-python: prebuilt with CUDA ($whl/llama-cuda.tar.xz)"
else
  src=/tmp/lectern-llama-src
  rm -rf "$src" && mkdir -p "$src"
  tar xJf "$whl/llama-src.tar.xz" -C "$src"
  flags="$(bash packaging/llama-cpp.sh --cflags)"
  echo "CPU flags: ${flags:-native}"
  start=$(date +%s)
  CFLAGS="$flags" CXXFLAGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${GPU_ARCH:-90} -DLLAVA_BUILD=off \
  -DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off -DLLAMA_BUILD_TOOLS=off \
  -DLLAMA_BUILD_SERVER=off -DGGML_CUDA_NCCL=off -DGGML_CUDA_FA=off" \
    python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target "$site" \
    "$src"/llama_cpp_python-* >"$out/build.log" 2>&1 || { tail -n 60 "$out/build.log"; exit 1; }
  echo "llama-cpp-python with CUDA built in $(($(date +%s) - start)) s"
  gzip -9 "$out/build.log"
fi
# the CUDA runtime and cuBLAS of this machine (a wheel built elsewhere has no path to them)
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

PYTHONUNBUFFERED=1 python3 -m bench gpu_offload >"$out/gpu_offload.json"
cat "$out/gpu_offload.json"
