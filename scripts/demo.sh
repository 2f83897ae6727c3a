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
unshare_pid=
workdir=

cleanup() {
    # Only the processes this script started, by pid. The container's process is the init
    # of a pid namespace: it ignores SIGTERM from outside, so SIGKILL it; unshare then exits.
    if [[ -n $container_pid ]]; then kill -KILL "$container_pid" 2>/dev/null || true; fi
    if [[ -n $unshare_pid ]]; then wait "$unshare_pid" 2>/dev/null || true; fi
    if [[ -n $workdir ]]; then rm -rf "$workdir"; fi
    local i
    for ((i = ${#directories[@]} - 1; i >= 0; i--)); do
        # A killed task leaves its cgroup only once fully reaped: retry for a moment.
        for _ in $(seq 50); do
            rmdir "${directories[i]}" 2>/dev/null && break
            [[ -d ${directories[i]} ]] || break
            sleep 0.1
        done
        [[ -d ${directories[i]} ]] && echo "demo: could not remove ${directories[i]}" >&2
    done
    # === FUSE: stop lxcfs-fuse (SIGTERM unmounts it), then remove its mount point.
    if [[ -n ${fuse_pid:-} ]]; then
        kill -TERM "$fuse_pid" 2>/dev/null || true
        wait "$fuse_pid" 2>/dev/null || true
    fi
    if [[ -n ${fuse_dir:-} ]]; then
        if mountpoint -q "$fuse_dir/mnt"; then umount -l "$fuse_dir/mnt" || true; fi
        rm -rf "$fuse_dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that cleanup runs on Ctrl-C and kill too

make_dir() {
    mkdir "$1"
    directories+=("$1")
}

# The "container": a process that is the init (pid 1) of its own pid namespace, like a
# container's init. Once it is in its cgroups it allocates 48 MiB (charged to them) and sleeps.
workdir=$(mktemp -d /tmp/lxcfs_py_demo.XXXXXX)
unshare --pid --fork --mount-proc .venv/bin/python -c '
import os, sys, time
flag = sys.argv[1]
while not os.path.exists(flag + "/go"):
    time.sleep(0.05)
memory = b"x" * (48 << 20)
open(flag + "/ready", "w").close()
time.sleep(600)
' "$workdir" 2>/dev/null &  # (unshare complains when its child is SIGKILLed at the end)
unshare_pid=$!
for _ in $(seq 100); do
    container_pid=$(pgrep -P "$unshare_pid" || true)
    [[ -n $container_pid ]] && break
    sleep 0.05
done
[[ -n $container_pid ]] || { echo "demo: the container process did not start" >&2; exit 1; }

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

touch "$workdir/go"
for _ in $(seq 100); do
    [[ -e $workdir/ready ]] && break
    sleep 0.05
done

show() {
    echo
    echo "\$ $*"
    "$@"
}

echo
echo "== A container: pid $container_pid, the init of its own pid namespace, using 48 MiB;"
echo "   in $layout cgroups named $NAME: memory limit 256 MiB, cpuset 0."
echo "   Its cgroups, as /proc/$container_pid/cgroup says:"
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

# === FUSE: mount lxcfs-fuse and read through the mount. The daemon serves each reader
# === its own container's files, so a reader placed in the container's cgroups (exactly the
# === ones /proc/<pid>/cgroup names) reads the container's numbers. cleanup() unmounts.
fuse_dir=$(mktemp -d /tmp/lxcfs_py_demo_fuse.XXXXXX)
mkdir "$fuse_dir/mnt"
.venv/bin/lxcfs-fuse --enable-cfs -p "$fuse_dir/lxcfs.pid" "$fuse_dir/mnt" 2>"$fuse_dir/log" &
fuse_pid=$!
for _ in $(seq 100); do
    [[ -e $fuse_dir/mnt/proc/meminfo ]] && break
    sleep 0.1
done
[[ -e $fuse_dir/mnt/proc/meminfo ]] || { cat "$fuse_dir/log" >&2; echo "demo: lxcfs-fuse did not mount" >&2; exit 1; }
container_procs=()
while IFS=: read -r _ controllers path; do
    if [[ $layout == "cgroup v2" && -z $controllers ]]; then
        container_procs+=("$CG$path/cgroup.procs")
    elif [[ $layout == "cgroup v1" && ,$controllers, =~ ,(memory|cpuset|cpu|cpuacct), ]]; then
        container_procs+=("$CG/$controllers$path/cgroup.procs")
    fi
done <"/proc/$container_pid/cgroup"
in_container() {
    # A shell that joins the container's cgroups, then runs the command (and exits with it).
    sh -c 'for f; do [ "$f" = -- ] && break; echo $$ >"$f"; done
           while [ "$1" != -- ]; do shift; done; shift; exec "$@"' \
        sh "${container_procs[@]}" -- "$@"
}

echo
echo "== lxcfs-fuse mounted on $fuse_dir/mnt; read by a process in the container's cgroups:"
show in_container grep -E '^(MemTotal|MemFree|MemAvailable|SwapTotal):' "$fuse_dir/mnt/proc/meminfo"
show in_container grep -c '^processor' "$fuse_dir/mnt/proc/cpuinfo"
show in_container cat "$fuse_dir/mnt/sys/devices/system/cpu/online"
show in_container ls "$fuse_dir/mnt/sys/devices/system/cpu" -I '[a-bd-z]*' -I 'cpu[a-z]*'
echo
echo "== The same mount, read by the host: the host's own numbers:"
show grep -E '^MemTotal:' "$fuse_dir/mnt/proc/meminfo"
show cat "$fuse_dir/mnt/sys/devices/system/cpu/online"
kill -TERM "$fuse_pid" && wait "$fuse_pid" && fuse_pid=
echo
echo "== lxcfs-fuse stopped (SIGTERM): mount point unmounted: $(mountpoint -q "$fuse_dir/mnt" && echo no || echo yes)"

echo
echo "demo: done; removing the container's process and cgroups"
