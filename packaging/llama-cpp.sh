#!/usr/bin/env bash
# Install llama-cpp-python into the virtual environment, built for this CPU.
#
# Usage: llama-cpp.sh VENV_PYTHON VERSION
#        llama-cpp.sh --probe        prints the build this machine gets: native or no-amx
#        llama-cpp.sh --cflags       prints the compiler flags of that build (none: native)
#
# pip builds llama-cpp-python from source with -march=native. Some virtual machines
# (Firecracker among them) report AMX in cpuid but trap its instructions: a native build
# then dies with "illegal instruction" on its first matrix product, and every answer
# fails. So where the CPU says it has AMX, a small program runs AMX instructions first;
# if that traps, llama.cpp is built without AMX, into a wheel cache of its own (pip's
# cache keys builds by version only, and would hand back the native build).
# Where the probe cannot run (no compiler, not Linux), the native build is kept.
# A CMAKE_ARGS set by the user (a CUDA or Metal build, for example) is passed through.
set -euo pipefail

amx_traps() {
  grep -qw amx_tile /proc/cpuinfo 2>/dev/null || return 1
  command -v cc >/dev/null 2>&1 || return 1
  local dir rc=0
  dir="$(mktemp -d)"
  cat >"$dir/probe.c" <<'EOF'
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <immintrin.h>
/* what ggml does before its AMX kernels: ask Linux for the tile state, load a
   tile configuration, clear a tile */
typedef struct { uint8_t palette_id, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } cfg_t;
int main(void) {
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) return 3;
    cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1; cfg.rows[0] = 16; cfg.colsb[0] = 64;
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_release();
    return 0;
}
EOF
  if cc -O1 -mamx-tile -o "$dir/probe" "$dir/probe.c" 2>/dev/null; then
    # the subshell waits for the probe, so its "Illegal instruction" notice goes nowhere
    rc="$( ("$dir/probe"; echo $?) 2>/dev/null)"
  fi
  rm -rf "$dir"
  # a signal (illegal instruction: 132) or a refused tile state (3) means no AMX
  [ "$rc" -ne 0 ]
}

NO_AMX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
build="native"
flags=""
amx_traps && build="no-amx" && flags="$NO_AMX_FLAGS"
case "${1:-}" in
  --probe) echo "$build"; exit 0 ;;
  --cflags) echo "$flags"; exit 0 ;;
esac
PY="$1"
VERSION="$2"
VENV="$(cd "$(dirname "$PY")/.." && pwd)"
MARKER="$VENV/.llama-cpp-build"
installed="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)"
if [ "$installed" = "$VERSION" ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$build" ]; then
  exit 0
fi

# replacing the other build (or another version) in place: its dependencies are there
replace=""
[ -n "$installed" ] && replace="--force-reinstall --no-deps"
if [ "$build" = "native" ]; then
  # shellcheck disable=SC2086
  "$PY" -m pip install --quiet $replace "llama-cpp-python==$VERSION"
else
  key="$(printf '%s' "${CMAKE_ARGS:-}" | cksum | cut -d' ' -f1)"
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/lectern/wheels/llama-cpp-python-$VERSION-no-amx-$key"
  if ! ls "$wheels"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
    echo "llama-cpp: this CPU reports AMX but traps its instructions; building llama.cpp without AMX (about 4 minutes)"
    mkdir -p "$wheels"
    CFLAGS="${CFLAGS:-} $flags" CXXFLAGS="${CXXFLAGS:-} $flags" \
      "$PY" -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
      -w "$wheels" "llama-cpp-python==$VERSION"
  fi
  wheel="$(ls "$wheels"/llama_cpp_python-"$VERSION"-*.whl | head -n 1)"
  # shellcheck disable=SC2086
  "$PY" -m pip install --quiet $replace "$wheel"
fi
echo "$build" >"$MARKER"
