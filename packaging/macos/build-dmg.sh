#!/usr/bin/env bash
# Build Lectern.app and a .dmg on macOS (Apple Silicon: llama-cpp-python builds with Metal by default).
#   python -m PyInstaller --noconfirm packaging/lectern.spec   -> dist/Lectern.app
# then this script packs it with hdiutil. Sign and notarise with your Developer ID
# (codesign --deep --options runtime; xcrun notarytool submit) before distributing.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$(python -c 'import core; print(core.__version__)')
python -m PyInstaller --noconfirm --clean packaging/lectern.spec
STAGE=$(mktemp -d)
cp -R dist/Lectern.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname Lectern -srcfolder "$STAGE" -ov -format UDZO "dist/Lectern-${VERSION}.dmg"
rm -rf "$STAGE"
