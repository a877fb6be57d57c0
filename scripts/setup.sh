#!/usr/bin/env bash
# Set up everything tinymodel needs on a fresh Debian/Ubuntu machine (idempotent, quick when done):
#   - Debian packages when missing: python3-venv, a C compiler, the Arm cross compiler and newlib,
#     and chromium (the test that renders the validation report in a headless browser);
#   - a virtual environment in .venv with tinymodel installed (editable) with the tf and test extras.
# Sourced by scripts/demo.sh and scripts/test.sh; can also be run on its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "tinymodel needs Python >= 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

packages=()
"$PY" -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
command -v cc >/dev/null || packages+=(gcc libc6-dev)
command -v make >/dev/null || packages+=(make)
command -v arm-none-eabi-gcc >/dev/null || packages+=(gcc-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/lib/libc.a ] || [ -e /usr/lib/arm-none-eabi/newlib/libc.a ] \
    || packages+=(libnewlib-arm-none-eabi)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "setup: installing Debian packages: ${packages[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.tinymodel-setup
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing tinymodel and its dependencies into .venv (first run takes a few minutes)" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[tf,test]"
    echo "$want" > "$stamp"
fi
