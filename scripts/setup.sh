#!/usr/bin/env bash
# Prepare a Debian 12 machine for lxcfs-py: system packages (as root), then .venv with the
# project installed editable plus its test tools. Safe to run again; it skips what is done.
#
#   bash scripts/setup.sh
#
# Rules: never touches anything outside this checkout except the apt packages listed here;
# packages are only installed when missing, so a prepared machine needs no network for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# fuse3: fusermount3 and /dev/fuse handling; libfuse2: the library fusepy loads;
# lxcfs: Debian's 5.0.3, the reference the differential tests compare against;
# python3-venv: for .venv; procps: ps/pgrep used by the demo and system tests.
# Another engineer adds the VM packages (qemu-system-x86 ...) here.
PACKAGES=(fuse3 libfuse2 lxcfs python3-venv procps)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing packages ${missing[*]}; run as root to install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install (entry points, deps).
stamp=.venv/.lxcfs-py-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    echo "setup: pip install -e '.[test]' into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch "$stamp"
fi
echo "setup: ready (.venv/bin/lxcfs-render, .venv/bin/pytest)"
