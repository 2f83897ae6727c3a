#!/bin/busybox sh
# /init of the throwaway VM's initramfs (busybox ash, PID 1).
#
# Rules: load only the modules the runner listed, in the order it listed them (dependencies first:
# there is no modprobe or depmod here); never write to the host: its root file system arrives
# read-only over virtio-9p and every change lands in a tmpfs overlay that dies with the VM.
# Anything that goes wrong stops the VM with a line starting "LXCFS-VM-INIT-FAILED" that the runner
# reports, instead of leaving a kernel panic to guess from.

/bin/busybox --install -s /bin
export PATH=/bin

fail() {
    echo "LXCFS-VM-INIT-FAILED: $*"
    sync
    echo o > /proc/sysrq-trigger
    sleep 5
    poweroff -f
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
echo 1 > /proc/sys/kernel/sysrq

for module in $(cat /lxcfs-vm/modules.order); do
    insmod "/lxcfs-vm/modules/$module" || fail "insmod $module"
done

mkdir -p /lower /rw /newroot
# cache=loose: the export is read-only for the VM's lifetime, so caching file data and metadata
# is safe and makes Python's thousands of imports over 9p fast enough under TCG.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower \
    || fail "mount the host root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
    || fail "mount the overlay root"

# The job (stage 2, its environment and the command) lives in the initramfs, which switch_root
# empties: copy it into the overlay, where stage 2 finds it.
mkdir -p /newroot/.lxcfs-vm || fail "mkdir /.lxcfs-vm in the overlay"
cp -a /lxcfs-vm/job/. /newroot/.lxcfs-vm/ || fail "copy the job into the overlay"
cp /bin/busybox /newroot/.lxcfs-vm/busybox || fail "copy busybox into the overlay"

umount /proc /sys
mount --move /dev /newroot/dev || fail "move /dev"
exec switch_root /newroot /.lxcfs-vm/stage2.sh
fail "switch_root"
