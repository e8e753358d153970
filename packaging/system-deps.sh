#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Lectern's Qt GUI and tests need, only when missing:
# Qt's libraries, Xvfb, and Tesseract (OCR of scanned PDFs, through PyMuPDF).
# Elsewhere (macOS, Windows, other distributions) it prints what to install and goes on.
set -euo pipefail
PACKAGES=(libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
          libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 xvfb xauth
          tesseract-ocr tesseract-ocr-eng)
# `system-deps.sh dist`: also what the bundle test needs to find and photograph the window.
[ "${1:-}" = "dist" ] && PACKAGES+=(x11-utils imagemagick)
command -v dpkg-query >/dev/null 2>&1 || {
  echo "system-deps: not a Debian system; skipping (install Tesseract for OCR: brew install tesseract)"
  exit 0
}
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
