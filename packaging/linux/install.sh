#!/usr/bin/env bash
# Install an unpacked Lectern bundle for the current user: ~/.local/opt/lectern, a `lectern`
# command in ~/.local/bin, and a menu entry. Run from the unpacked lectern/ folder.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="${HOME}/.local/opt/lectern"
mkdir -p "${HOME}/.local/opt" "${HOME}/.local/bin" "${HOME}/.local/share/applications" \
         "${HOME}/.local/share/icons/hicolor/512x512/apps"
rm -rf "$DEST" && cp -a "$HERE" "$DEST"
ln -sf "$DEST/lectern" "${HOME}/.local/bin/lectern"
sed "s|^Exec=lectern|Exec=${DEST}/lectern|" "$HERE/lectern.desktop" \
  > "${HOME}/.local/share/applications/lectern.desktop"
cp "$HERE/lectern.png" "${HOME}/.local/share/icons/hicolor/512x512/apps/lectern.png"
echo "Lectern installed in $DEST; start it from your applications menu or with 'lectern'."
