#!/bin/sh
# Install lxcfs-py's host integration: the systemd unit, the LXC hooks and their
# common.conf.d include, the remount helper and the deploy docs. See docs/deploy.md.
#
#   deploy/install.sh [--destdir DIR] [--prefix DIR] [--mountpoint DIR]
#                     [--lxcfs-fuse PATH] [--lxc-confdir DIR]
#
# The package itself comes first (`pip install .` or a wheel): this script finds the
# installed lxcfs-fuse and writes its absolute path into the unit, because systemd does not
# search PATH and a pyenv/virtualenv shim would not work under it. Nothing is started:
# the script prints the systemctl commands to run. --destdir stages everything under DIR
# (packaging, tests) instead of /.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
DESTDIR=""
PREFIX=/usr/local
MOUNTPOINT=/var/lib/lxcfs
LXCFS_FUSE=""
LXC_CONFDIR=/usr/share/lxc/config/common.conf.d

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --destdir) DESTDIR=${2:?}; shift 2 ;;
        --prefix) PREFIX=${2:?}; shift 2 ;;
        --mountpoint) MOUNTPOINT=${2:?}; shift 2 ;;
        --lxcfs-fuse) LXCFS_FUSE=${2:?}; shift 2 ;;
        --lxc-confdir) LXC_CONFDIR=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

for path in "$PREFIX" "$MOUNTPOINT" "$LXC_CONFDIR"; do
    case "$path" in
        /*) ;;
        *) die "paths must be absolute: $path" ;;
    esac
    case "$path" in
        *'|'*|*' '*) die "paths with '|' or spaces are not supported: $path" ;;
    esac
done
MOUNTPOINT=${MOUNTPOINT%/}

if [ -z "$LXCFS_FUSE" ]; then
    # The scripts directory of the interpreter that has lxcfs_fuse installed: the real
    # file, not a shell shim.
    LXCFS_FUSE=$(python3 -c 'import lxcfs_fuse, sysconfig; print(sysconfig.get_path("scripts"))' \
        2>/dev/null)/lxcfs-fuse || true
fi
[ -x "$LXCFS_FUSE" ] || die "lxcfs-fuse not found (pip install lxcfs-py first, or pass --lxcfs-fuse PATH)"

SHARE="$PREFIX/share/lxcfs-py"
install -d "$DESTDIR/etc/systemd/system" "$DESTDIR$SHARE" "$DESTDIR$LXC_CONFDIR" \
    "$DESTDIR$PREFIX/sbin" "$DESTDIR$PREFIX/share/doc/lxcfs-py"

sed -e "s|/usr/local/bin/lxcfs-fuse|$LXCFS_FUSE|" \
    -e "s|/var/lib/lxcfs|$MOUNTPOINT|g" \
    -e "s|/usr/local/share/doc/lxcfs-py|$PREFIX/share/doc/lxcfs-py|" \
    "$HERE/systemd/lxcfs-py.service" > "$DESTDIR/etc/systemd/system/lxcfs-py.service"
chmod 0644 "$DESTDIR/etc/systemd/system/lxcfs-py.service"

install -m 0755 "$HERE/lxc/lxc.mount.hook" "$HERE/lxc/lxc.reboot.hook" "$DESTDIR$SHARE/"
sed -e "s|/usr/local/share/lxcfs-py|$SHARE|g" -e "s|--mountpoint=/var/lib/lxcfs|--mountpoint=$MOUNTPOINT|" \
    "$HERE/lxc/00-lxcfs-py.conf" > "$DESTDIR$LXC_CONFDIR/00-lxcfs-py.conf"
chmod 0644 "$DESTDIR$LXC_CONFDIR/00-lxcfs-py.conf"

install -m 0755 "$HERE/lxcfs-remount" "$DESTDIR$PREFIX/sbin/lxcfs-remount"
for doc in deploy.md troubleshooting.md non-goals.md; do
    if [ -f "$REPO/docs/$doc" ]; then
        install -m 0644 "$REPO/docs/$doc" "$DESTDIR$PREFIX/share/doc/lxcfs-py/"
    fi
done

echo "installed: /etc/systemd/system/lxcfs-py.service (ExecStart=$LXCFS_FUSE -f $MOUNTPOINT)"
echo "installed: $SHARE/lxc.mount.hook, $SHARE/lxc.reboot.hook, $LXC_CONFDIR/00-lxcfs-py.conf"
echo "installed: $PREFIX/sbin/lxcfs-remount"
if [ -e "$DESTDIR$LXC_CONFDIR/00-lxcfs.conf" ]; then
    echo "note: $LXC_CONFDIR/00-lxcfs.conf (Debian's lxcfs) is also present; remove one of the two"
fi
echo "next: systemctl daemon-reload && systemctl enable --now lxcfs-py.service"
