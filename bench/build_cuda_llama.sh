#!/usr/bin/env bash
# Build llama-cpp-python with CUDA on a machine without a GPU, for bench/gpu_device.sh.
#
# Usage, from the repository root: bash bench/build_cuda_llama.sh
# Writes .whl/llama-cuda.tar.xz (the llama_cpp package, ~27 MB), which gpu_device.sh
# unpacks instead of building there: a lent GPU machine's minutes go to measuring.
# CUDA's compiler, runtime, cuBLAS and CCCL come from PyPI (CUDA 13.0, the version of the
# H100/H200 machines' driver); the driver library itself is only linked against, through
# a stub made here from cuda.h, and is the real one on the GPU machine. The CPU part is
# built for AVX2 (it must run on another processor); the CUDA part for GPU_ARCH (90:
# H100, H200), without the flash-attention kernels, as gpu_device.sh builds it. About 30
# minutes on 2 cores. Needs .whl/llama-src.tar.xz (see gpu_device.sh).
# CUDA_FA=on builds the flash-attention kernels too, as llama.cpp's own CUDA builds have
# them (about 40 minutes, 40 MB), OUT_TAR=PATH writes the package elsewhere.
set -euo pipefail
PY="${PY:-.venv/bin/python}"
work="${WORK:-/tmp/lectern-cuda-build}"
mkdir -p "$work/wheels" "$work/root" "$work/src" "$work/out"
"$PY" -m pip download -q --no-deps -d "$work/wheels" nvidia-cuda-nvcc==13.0.88 \
  nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96 \
  nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.0.2.14
for w in "$work"/wheels/*.whl; do unzip -q -o "$w" -d "$work/root"; done
cuda="$work/root/nvidia/cu13"
# the layout nvcc and CMake expect of a toolkit
mkdir -p "$cuda/targets" "$cuda/lib/stubs"
ln -sfn .. "$cuda/targets/x86_64-linux"
ln -sfn lib "$cuda/lib64"
for lib in cudart cublas cublasLt; do ln -sf "lib$lib.so.13" "$cuda/lib/lib$lib.so"; done
# libcuda.so.1 stub: every driver function cuda.h declares or maps a name to
"$PY" - "$cuda/include/cuda.h" "$work/cudastub.c" <<'EOF'
import re, sys
h = open(sys.argv[1]).read()
names = set(re.findall(r"CUresult\s+CUDAAPI\s+(cu\w+)\s*\(", h))
names |= {b for _, b in re.findall(r"#define\s+(cu\w+)\s+(cu\w+)", h)}
names |= {n + suffix for n in list(names) for suffix in ("_ptds", "_ptsz")}
with open(sys.argv[2], "w") as out:
    out.writelines(f"int {n}(void) {{ return 0; }}\n" for n in sorted(names))
EOF
cc -shared -fPIC -o "$cuda/lib/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$work/cudastub.c"
[ "${SETUP_ONLY:-0}" = 1 ] && { "$cuda/bin/nvcc" --version | tail -n 1; exit 0; }

tar xJf .whl/llama-src.tar.xz -C "$work/src"
PATH="$cuda/bin:$PATH" CUDA_HOME="$cuda" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${GPU_ARCH:-90} -DLLAVA_BUILD=off \
-DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off -DLLAMA_BUILD_TOOLS=off \
-DLLAMA_BUILD_SERVER=off -DGGML_CUDA_NCCL=off -DGGML_CUDA_FA=${CUDA_FA:-off} -DGGML_NATIVE=off \
-DGGML_AVX2=on -DGGML_FMA=on -DGGML_F16C=on -DCMAKE_CUDA_COMPILER=$cuda/bin/nvcc \
-DCUDAToolkit_ROOT=$cuda" \
  "$PY" -m pip wheel -q --no-deps -w "$work/out" "$work"/src/llama_cpp_python-*
# the package alone, each shared library once, under the names the others load it by
rm -rf "$work/pkg" && mkdir -p "$work/pkg"
unzip -q "$work"/out/llama_cpp_python-*.whl -d "$work/pkg"
(
  cd "$work/pkg/llama_cpp/lib"
  for f in *.so.*.*; do [ -e "$f" ] && rm -f "$f"; done
  for f in libggml*.so; do rm -f "$f"; done
  rm -f libllama.so.0
)
# the llama_cpp package only (the wheel also carries the libraries again under lib/)
tar cJf "${OUT_TAR:-.whl/llama-cuda.tar.xz}" -C "$work/pkg" llama_cpp
ls -la "${OUT_TAR:-.whl/llama-cuda.tar.xz}"
