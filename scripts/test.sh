#!/usr/bin/env bash
# The project's test command (README, .ci/run): lint, format, types, then every test.
#
#   bash scripts/test.sh [pytest arguments]
#
# Runs in .venv (made by scripts/setup.sh, run first if missing). As root on a machine with
# v1 cgroups, /dev/fuse and lxcfs the system and differential tests run too; elsewhere they
# skip and say why. Exits non-zero if any step fails, and also when pytest collects nothing
# (exit 5): a test run that ran no test is a broken run, not a green one.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
    bash scripts/setup.sh || exit 1
fi
PY=.venv/bin/python
# The tests run the console scripts (lxcfs-render, lxcfs-fuse) from the venv.
export PATH="$PWD/.venv/bin:$PATH"

failed=()
step() {
    local name=$1
    shift
    echo "== $name: $*"
    if ! "$@"; then
        failed+=("$name")
    fi
}

step ruff "$PY" -m ruff check .
step format "$PY" -m ruff format --check .
step mypy "$PY" -m mypy --strict lxcfs_model lxcfs_fuse lxcfs_cli

echo "== pytest"
# Hard cap (12 min) so CI, with its apt and pip steps, stays within 15 minutes even if a
# system test hangs.
timeout --signal=INT --kill-after=30 "${LXCFS_PY_TEST_TIMEOUT:-720}" "$PY" -m pytest -q -rs "$@"
status=$?
case $status in
    0) ;;
    5) echo "test.sh: pytest collected no tests" >&2; failed+=(pytest) ;;
    124) echo "test.sh: pytest exceeded ${LXCFS_PY_TEST_TIMEOUT:-720} s" >&2; failed+=(pytest) ;;
    *) failed+=(pytest) ;;
esac

if ((${#failed[@]})); then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all passed"
