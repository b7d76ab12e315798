#!/bin/sh
# Installs the Debian 12 packages PatchDesk needs: Python's venv and the libraries Qt loads
# (X11/xcb, EGL/GL, fonts, D-Bus). With --test, also what the test suite needs: a virtual
# X server, poppler's pdftoppm for PDF checks, and the network-namespace lab's tools
# (tests/lab/apt-packages.txt). Run as root or as a user who may sudo.
set -eu

APP_PACKAGES="python3 python3-venv python3-pip ca-certificates
libegl1 libgl1 libopengl0 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-sync1
libxkbcommon0 libxkbcommon-x11-0 libgssapi-krb5-2 fonts-dejavu-core"

# libpython3.11: PyInstaller bundles the interpreter's shared library (tests build the bundle)
# fonts-droid-fallback: a CJK font reports fall back to (tests read Chinese back from a PDF)
TEST_PACKAGES="xvfb xauth poppler-utils iproute2 util-linux procps binutils libpython3.11
fonts-droid-fallback"

here=$(cd "$(dirname "$0")/.." && pwd)
packages="$APP_PACKAGES"
if [ "${1:-}" = "--test" ]; then
    packages="$packages $TEST_PACKAGES"
    if [ -f "$here/tests/lab/apt-packages.txt" ]; then
        packages="$packages $(grep -v '^[[:space:]]*#' "$here/tests/lab/apt-packages.txt" | tr '\n' ' ')"
    fi
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "debian-deps.sh: run this as root, or install sudo" >&2
    exit 1
fi

# Skip apt entirely when everything is already installed (fast reruns, offline laptops).
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "debian-deps.sh: installing:$missing" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
