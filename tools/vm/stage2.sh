#!/.lxcfs-vm/busybox sh
# Stage 2 of the throwaway VM: PID 1 on the overlay of the host's root (host files read-only,
# writes to tmpfs).
#
# Rules: build the pure cgroup-v2 machine every test inside assumes (cgroup2 alone at
# /sys/fs/cgroup, every controller enabled for the root's children, PSI on), run the one command
# the runner chose as root, and hand back its exit code through the writable results share:
# the code there is the only verdict the runner trusts (a missing file means the VM failed).
# Runs under the busybox the initramfs copied in, so it does not depend on the host's shell.

bb=/.lxcfs-vm/busybox
job=/.lxcfs-vm

power_off() {
    $bb sync
    echo o > /proc/sysrq-trigger
    $bb sleep 5
    $bb poweroff -f
}

fail() {
    echo "LXCFS-VM-INIT-FAILED: $*"
    power_off
}

$bb mount -t proc proc /proc || fail "mount /proc"
$bb mount -t sysfs sysfs /sys || fail "mount /sys"
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts || fail "mount /dev/pts"
$bb mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "mount /dev/shm"
. $job/environment.sh
# A fresh /tmp, unless the checkout itself lives there (CI may clone anywhere).
case "$LXCFS_VM_WORKDIR" in
    /tmp | /tmp/*) ;;
    *) $bb mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "mount /tmp" ;;
esac
$bb mount -t tmpfs -o mode=0755 tmpfs /run || fail "mount /run"
$bb mkdir -p /run/lock /var/lib/lxcfs
# nsdelegate as systemd mounts it: a cgroup namespace is a delegation boundary.
$bb mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
echo "+cpu +cpuset +memory +io +pids" > /sys/fs/cgroup/cgroup.subtree_control \
    || fail "enable the cgroup-v2 controllers"
$bb mkdir -p $job/results
$bb mount -t 9p -o trans=virtio,version=9p2000.L,cache=none results $job/results \
    || fail "mount the results share"
# Swap on the second disk, so memory.swap.max has something to limit (host SwapTotal > 0).
/sbin/mkswap -q "$LXCFS_VM_SWAP" > /dev/null && /sbin/swapon "$LXCFS_VM_SWAP" \
    || fail "swap on $LXCFS_VM_SWAP"
$bb hostname lxcfs-v2-vm
$bb ip link set lo up 2>/dev/null

cd "$LXCFS_VM_WORKDIR" || fail "cd $LXCFS_VM_WORKDIR"
echo "LXCFS-VM-READY uptime=$($bb cut -d' ' -f1 /proc/uptime)s"
/usr/bin/timeout --kill-after=10 "$LXCFS_VM_COMMAND_TIMEOUT" /bin/bash $job/command.sh < /dev/null
code=$?
echo "$code" > $job/results/exit-code
echo "LXCFS-VM-DONE exit=$code uptime=$($bb cut -d' ' -f1 /proc/uptime)s"
$bb umount $job/results
power_off
