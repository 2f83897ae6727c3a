#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root):
#   1. set up (system packages, .venv, lxcfs-py installed editable);
#   2. make a small "container": a process in its own cgroups, 256 MiB of memory, CPU 0 only;
#   3. show what that container reads in /proc/meminfo, /proc/cpuinfo, online, swaps, uptime,
#      computed by lxcfs-render from its cgroups, next to what the host reads;
#   4. clean up (the process and the cgroups), on failure too.
#
#   bash scripts/demo.sh
#
# cgroup etiquette: on cgroup v1 the memory cgroup is made beneath the memory cgroup this
# script runs in, the others under each hierarchy's root, all named lxcfs_py_demo_<pid>. On a
# pure cgroup-v2 machine (Debian 12's default) one cgroup is made under the root instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "demo: run as root (it creates cgroups)" >&2
    exit 1
fi
bash scripts/setup.sh
RENDER=.venv/bin/lxcfs-render
NAME=lxcfs_py_demo_$$
LIMIT=$((256 * 1024 * 1024))
CG=/sys/fs/cgroup
directories=()
container_pid=

cleanup() {
    if [[ -n $container_pid ]]; then
        kill "$container_pid" 2>/dev/null || true
        wait "$container_pid" 2>/dev/null || true
    fi
    local i
    for ((i = ${#directories[@]} - 1; i >= 0; i--)); do
        rmdir "${directories[i]}" 2>/dev/null || true
    done
    # === FUSE: unmount lxcfs-fuse here (section below) ===
}
trap cleanup EXIT

make_dir() {
    mkdir "$1"
    directories+=("$1")
}

# The "container": a sleeping process. Its cgroups are what every file is computed from.
sleep 600 &
container_pid=$!

if [[ $(stat -fc %T "$CG") == cgroup2fs ]]; then
    layout="cgroup v2"
    make_dir "$CG/$NAME"
    echo "+memory +cpuset +cpu" >"$CG/cgroup.subtree_control" 2>/dev/null || true
    echo "$LIMIT" >"$CG/$NAME/memory.max"
    echo 0 >"$CG/$NAME/cpuset.cpus"
    echo "$container_pid" >"$CG/$NAME/cgroup.procs"
else
    layout="cgroup v1"
    own_memory=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
    own_memory=${own_memory%/}
    make_dir "$CG/memory$own_memory/$NAME"
    echo "$LIMIT" >"$CG/memory$own_memory/$NAME/memory.limit_in_bytes"
    echo "$container_pid" >"$CG/memory$own_memory/$NAME/cgroup.procs"
    make_dir "$CG/cpuset/$NAME"
    cat "$CG/cpuset/cpuset.mems" >"$CG/cpuset/$NAME/cpuset.mems"
    echo 0 >"$CG/cpuset/$NAME/cpuset.cpus"
    echo "$container_pid" >"$CG/cpuset/$NAME/cgroup.procs"
    for controller in cpu cpuacct; do
        if [[ -d $CG/$controller && ! -d $CG/$controller/$NAME ]]; then
            make_dir "$CG/$controller/$NAME"
            echo "$container_pid" >"$CG/$controller/$NAME/cgroup.procs"
        fi
    done
fi

show() {
    echo
    echo "\$ $*"
    "$@"
}

echo
echo "== A container (pid $container_pid) in $layout cgroups named $NAME:"
echo "   memory limit 256 MiB, cpuset 0. Its cgroups, as /proc/$container_pid/cgroup says:"
grep -E ':(memory|cpuset|cpu|cpuacct)?:' "/proc/$container_pid/cgroup" | sed 's/^/   /'

echo
echo "== What the host reads:"
show grep -E '^(MemTotal|MemFree|MemAvailable|SwapTotal):' /proc/meminfo
show grep -c '^processor' /proc/cpuinfo
show cat /sys/devices/system/cpu/online

echo
echo "== What the container reads, computed by lxcfs-render from its cgroups:"
show "$RENDER" meminfo --pid "$container_pid"
show "$RENDER" cpuinfo --pid "$container_pid"
show "$RENDER" online --pid "$container_pid"
show "$RENDER" swaps --pid "$container_pid"
show "$RENDER" uptime --pid "$container_pid"

echo
echo "== Where MemTotal and the CPU list come from (--explain, first lines):"
"$RENDER" meminfo --pid "$container_pid" --explain | head -12
"$RENDER" online --pid "$container_pid" --explain

# === FUSE: mount lxcfs-fuse and read through the mount (to be filled in by the FUSE
# === engineer): start `.venv/bin/lxcfs-fuse <mountpoint>`, have the container process read
# === <mountpoint>/proc/meminfo and cpuinfo, compare with the lxcfs-render output above,
# === unmount in cleanup().

echo
echo "demo: done; removing the container's process and cgroups"
