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

# The interpreter .venv is made from: Debian's own python3 where it is there. The daemon is
# CPU-bound Python, and the interpreter's build is worth a fifth of its CPU per read
# (docs/performance.md, ninth round): Debian's static, optimised binary against a
# pyenv build with a shared libpython that came first on PATH on our benchmark machine. On
# a fresh Debian 12 the two are the same python3. LXCFS_PY_PYTHON names another.
python=${LXCFS_PY_PYTHON:-}
if [[ -z $python ]]; then
    if [[ -x /usr/bin/python3 ]]; then python=/usr/bin/python3; else python=python3; fi
fi
made_from() {
    # The interpreter a venv runs, resolved (its bin/python3 links to it).
    readlink -f "$1/bin/python3" 2>/dev/null
}
wanted=$(readlink -f "$(command -v "$python")")
if [[ -x .venv/bin/python && $(made_from .venv) != "$wanted" ]]; then
    echo "setup: .venv runs $(made_from .venv), not $wanted: making it again"
    rm -rf .venv
fi
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $wanted"
    "$python" -m venv .venv
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
