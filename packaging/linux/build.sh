#!/usr/bin/env bash
# Build the Linux one-folder bundle and a tarball: dist/lectern/ and dist/lectern-VERSION-linux-ARCH.tar.gz.
# The tarball unpacks to lectern/ with the binary, the .desktop entry, the icon and install.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
VERSION=$($PY -c 'import core; print(core.__version__)')
ARCH=$(uname -m)
$PY -m PyInstaller --noconfirm --clean --log-level WARN packaging/lectern.spec
cp packaging/linux/lectern.desktop resources/icons/lectern.png dist/lectern/
cp packaging/linux/install.sh dist/lectern/
tar -C dist -czf "dist/lectern-${VERSION}-linux-${ARCH}.tar.gz" lectern
du -sh dist/lectern "dist/lectern-${VERSION}-linux-${ARCH}.tar.gz"
