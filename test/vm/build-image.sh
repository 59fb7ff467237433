#!/bin/bash
# test/vm/build-image.sh - build, once, the virtual machine that test/vm/run.sh boots.
#
# Why a VM at all: the lessons drive real kernel mechanisms (namespaces, cgroup v2, overlayfs,
# veth/bridges/iptables). A developer's laptop or a CI container may have cgroup v1 or a hybrid
# hierarchy, no systemd, another kernel. A freshly booted Debian 12 kernel with a pure cgroup v2
# tree is what students have, so that is what we test on.
#
# usage: bash test/vm/build-image.sh [--force]     (--force: redo every stage, debootstrap included)
# env:   LAB_VM_CACHE   where the image lives   (default /var/cache/mini-docker-lab-vm)
#        LAB_VM_MIRROR  Debian mirror           (default http://deb.debian.org/debian)
#
# Only Debian packages are fetched (apt-get, debootstrap); nothing else is downloaded.
# The result is cached in three stages, each with a stamp, so only what changed is redone:
#   1. kernel  apt-get download linux-image-6.1.*-amd64, unpacked with dpkg-deb  -> kernel/
#   2. rootfs  debootstrap --variant=minbase bookworm + the tools the lessons use -> rootfs-base/
#   3. image   rootfs + the host's node/npm + kernel modules + test/vm/guest/*   -> base.img,
#              vmlinux (or vmlinuz) and initrd.img
# A run never writes to base.img: run.sh gives every boot its own throw-away qcow2 overlay.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST=$HERE/guest
CACHE=${LAB_VM_CACHE:-/var/cache/mini-docker-lab-vm}
MIRROR=${LAB_VM_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
IMG_SIZE=6G   # sparse: ~0.6G is really used
# What the lessons need besides node, the same list `npm run doctor` asks students for: ps (procps),
# ipcmk/ipcs/unshare/nsenter (util-linux), a static tini (lesson 2) and busybox (the container
# image, and the initramfs here), ip, iptables, brctl (lesson 6), modprobe (kmod) for overlay, veth,
# bridge and nf_tables. systemd and friends are for --systemd boots.
PKGS="procps,util-linux,tini,busybox-static,iproute2,iptables,bridge-utils,kmod,iputils-ping"
PKGS+=",e2fsprogs,xz-utils,libstdc++6"
PKGS+=",systemd,systemd-sysv,udev,dbus"
PKGS+=",podman,conmon,crun,containernetworking-plugins"   # the final runtime's podman test (debootstrap does not pick a provider of podman's virtual container-network-stack)
PKGS+=",uidmap,slirp4netns,dbus-user-session"   # rootless minidocker: newuidmap, user-mode networking, a user session's bus (systemd-run --user)

log() { printf '[vm image %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, debootstrap and chroot need it): sudo bash $0"
mkdir -p "$CACHE"
[ "${1:-}" = "--force" ] && rm -f "$CACHE"/stamp.*

# ---------------------------------------------------------------- host tools
# A fresh Debian/Ubuntu machine lacks most of these; install them, refreshing the package lists
# at most once per build (a fresh container often has no lists at all).
APT_UPDATED=0
apt_get() {   # waits while another apt/dpkg holds the lock (unattended-upgrades on a fresh VM)
    local i
    for i in $(seq 1 60); do
        if DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$CACHE/apt.log" 2>&1; then return 0; fi
        grep -q 'Could not get lock\|Unable to acquire\|Unable to lock' "$CACHE/apt.log" ||
            { cat "$CACHE/apt.log" >&2; return 1; }
        log "apt is busy (lock held), retrying in 10s"; sleep 10
    done
    return 1
}
apt_update_once() {
    [ $APT_UPDATED = 1 ] && return 0
    log "apt-get update"
    apt_get update -q || die "apt-get update failed (see above)"
    APT_UPDATED=1
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)   # needs -d (populate from a directory)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
command -v flock >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
    apt_update_once
    log "installing host packages: ${need[*]}"
    apt_get install -y -q --no-install-recommends "${need[@]}" || die "installing ${need[*]} failed"
fi

# ---------------------------------------------------------------- up to date?
# Anything that ends up inside the image is part of its key: change a guest script, the package
# list or the host's node, and stage 3 is redone on the next run.
NODE_BIN=$(readlink -f "$(command -v node)" 2>/dev/null) || die "no node on this machine (the image gets a copy of the host's)"
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")") || die "no npm on this machine"
NODE_MODS=$(dirname "$NPM_DIR")   # /usr/lib/node_modules: npm and corepack
ROOTFS_KEY="suite=$SUITE pkgs=$PKGS mirror=$MIRROR"
GUEST_SUM=$(cat "$GUEST"/* "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
IMAGE_KEY="rootfs=[$ROOTFS_KEY] guest=$GUEST_SUM node=$(stat -c %s.%Y "$NODE_BIN") npm=$(stat -c %Y "$NPM_DIR/package.json")"

stamp_ok() { [ -f "$CACHE/stamp.$1" ] && [ "$(cat "$CACHE/stamp.$1")" = "$2" ]; }
if stamp_ok image "$IMAGE_KEY" && [ -f "$CACHE/base.img" ] && [ -f "$CACHE/initrd.img" ]; then
    [ -n "${LAB_VM_QUIET:-}" ] || log "image is up to date in $CACHE"
    exit 0
fi
T0=$(date +%s)

# ---------------------------------------------------------------- 1. kernel
# Debian's own 6.1 kernel, the one Debian 12 students boot; its config has cgroup v2, overlayfs,
# veth, bridge and nf_tables as modules, and virtio + 9p for the VM.
resolve_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(resolve_kernel)
[ -n "$KPKG" ] || { apt_update_once; KPKG=$(resolve_kernel); }
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 from the apt lists"
KVER=${KPKG#linux-image-}
if ! stamp_ok kernel "$KPKG" || [ ! -d "$CACHE/kernel/lib/modules/$KVER" ]; then
    log "fetching kernel package $KPKG"
    mkdir -p "$CACHE/debs"
    if ! ls "$CACHE/debs/${KPKG}_"*.deb >/dev/null 2>&1; then
        # stale lists name a version the archive no longer has: refresh once and retry
        (cd "$CACHE/debs" && apt-get download "$KPKG") >"$CACHE/apt.log" 2>&1 ||
            { apt_update_once; (cd "$CACHE/debs" && apt-get download "$KPKG") >"$CACHE/apt.log" 2>&1; } ||
            { cat "$CACHE/apt.log" >&2; die "apt-get download $KPKG failed"; }
    fi
    KDEB=$(ls "$CACHE/debs/${KPKG}_"*.deb | tail -1)
    rm -rf "$CACHE/kernel"; dpkg-deb -x "$KDEB" "$CACHE/kernel"
    echo "$KPKG" > "$CACHE/stamp.kernel"
fi

# ---------------------------------------------------------------- 2. rootfs (debootstrap)
BASE=$CACHE/rootfs-base
if ! stamp_ok rootfs "$ROOTFS_KEY" || [ ! -x "$BASE/bin/bash" ]; then
    rm -rf "$BASE"; mkdir -p "$CACHE/aptcache"
    log "debootstrap $SUITE (minbase) + $PKGS  (a few minutes; log: $CACHE/debootstrap.log)"
    debootstrap --variant=minbase --include="$PKGS" --cache-dir="$CACHE/aptcache" \
        "$SUITE" "$BASE" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    chroot "$BASE" apt-get clean
    rm -rf "$BASE"/usr/share/doc/* "$BASE"/usr/share/man/* "$BASE"/usr/share/info/* \
           "$BASE"/var/lib/apt/lists/* "$BASE"/var/cache/apt/*.bin "$BASE"/var/log/*.log
    echo "$ROOTFS_KEY" > "$CACHE/stamp.rootfs"
fi

# ---------------------------------------------------------------- 3. image
ROOT=$CACHE/rootfs.work
log "assembling the root filesystem"
rm -rf "$ROOT"; cp -a "$BASE" "$ROOT"

# Node.js: the VM has no registry, so it gets the host's own node and npm (a plain glibc build;
# bookworm's glibc and libstdc++ are enough). The checkout's node_modules come over the share.
install -m 0755 "$NODE_BIN" "$ROOT/usr/bin/node"
mkdir -p "$ROOT/usr/lib/node_modules"; cp -a "$NODE_MODS/." "$ROOT/usr/lib/node_modules/"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/bin/npx"
# npm must not look for a registry it cannot reach (update checks, npx fetching a missing bin)
mkdir -p "$ROOT/usr/etc"
printf 'offline=true\nupdate-notifier=false\nfund=false\naudit=false\n' > "$ROOT/usr/etc/npmrc"

# Kernel modules, minus hardware-only trees that a virtio VM never loads (keeps the image small).
mkdir -p "$ROOT/lib/modules"; cp -a "$CACHE/kernel/lib/modules/$KVER" "$ROOT/lib/modules/"
for d in sound drivers/gpu drivers/media drivers/infiniband drivers/net/wireless drivers/net/ethernet \
         drivers/staging drivers/usb drivers/scsi drivers/bluetooth drivers/iio drivers/hid drivers/isdn \
         drivers/mtd drivers/input drivers/net/can drivers/net/usb drivers/thunderbolt \
         net/bluetooth net/wireless net/mac80211; do
    rm -rf "$ROOT/lib/modules/$KVER/kernel/$d"
done
chroot "$ROOT" /sbin/depmod -a "$KVER"

echo lab-vm > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlab-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
: > "$ROOT/etc/resolv.conf"          # no network: nothing to resolve against
: > "$ROOT/etc/machine-id"           # systemd makes a transient one at each boot
# Under --systemd these become labctl.mount / project.mount; the minimal init mounts them itself.
cat > "$ROOT/etc/fstab" <<'FSTAB'
/dev/vda  /         ext4  rw,relatime  0 1
labctl    /labctl   9p    trans=virtio,version=9p2000.L,msize=512000,access=client,nofail  0 0
project   /project  9p    trans=virtio,version=9p2000.L,msize=512000,access=client,posixacl,cache=loose,nofail  0 0
FSTAB
mkdir -p "$ROOT/project" "$ROOT/labctl" "$ROOT/usr/local/lib/lab-vm"

install -m 0755 "$GUEST/init" "$ROOT/sbin/lab-vm-init"
install -m 0644 "$GUEST/session.sh" "$ROOT/usr/local/lib/lab-vm/session.sh"
install -m 0755 "$GUEST/run-service" "$ROOT/usr/local/sbin/lab-vm-run"
install -m 0644 "$GUEST/lab-vm-run.service" "$ROOT/etc/systemd/system/lab-vm-run.service"
ln -sf /etc/systemd/system/lab-vm-run.service "$ROOT/etc/systemd/system/multi-user.target.wants/lab-vm-run.service"
# systemd flavour: units that only cost boot time in a VM that lives for one command
for u in getty@tty1.service serial-getty@ttyS0.service serial-getty@ttyS1.service serial-getty@ttyS2.service \
         systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer getty.target; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
ln -sf /lib/systemd/system/multi-user.target "$ROOT/etc/systemd/system/default.target"

# ---- initramfs: static busybox + the few modules needed to reach /dev/vda (ext4) and the 9p shares.
# Debian's kernel has them as modules, and a busybox script is far quicker to boot than initramfs-tools.
log "building the initramfs"
IR=$CACHE/initramfs.work; rm -rf "$IR"
mkdir -p "$IR"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$ROOT/bin/busybox" "$IR/bin/busybox"
chroot "$ROOT" /sbin/modprobe -S "$KVER" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p \
    | awk '$1=="insmod"{print $2}' | awk '!seen[$0]++' > "$IR/modules.order"
while read -r m; do
    cp "$ROOT$m" "$IR/lib/modules/"; echo "/lib/modules/$(basename "$m")"
done < "$IR/modules.order" > "$IR/modules.list"
rm "$IR/modules.order"
install -m 0755 "$GUEST/initramfs-init" "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$CACHE/initrd.img.new"

log "creating the ext4 image ($IMG_SIZE, sparse)"
rm -f "$CACHE/base.img.new"
mkfs.ext4 -q -F -L lab-vm-root -d "$ROOT" "$CACHE/base.img.new" "$IMG_SIZE" >/dev/null
cp "$CACHE/kernel/boot/vmlinuz-$KVER" "$CACHE/vmlinuz.new"
# Also keep the uncompressed ELF vmlinux: QEMU boots it through its PVH entry point, which skips
# the xz decompression of the bzImage (about 4 s under software emulation).
rm -f "$CACHE/vmlinux"
off=$(set +o pipefail; LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$CACHE/vmlinuz.new" | head -1 | cut -d: -f1)
if [ -n "$off" ] && xz -dc --single-stream < <(tail -c +$((off + 1)) "$CACHE/vmlinuz.new") > "$CACHE/vmlinux.new" 2>/dev/null &&
   [ "$(head -c 4 "$CACHE/vmlinux.new" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
    mv "$CACHE/vmlinux.new" "$CACHE/vmlinux"
else
    log "could not extract vmlinux (the VM will boot the compressed bzImage)"; rm -f "$CACHE/vmlinux.new"
fi
mv "$CACHE/base.img.new" "$CACHE/base.img"
mv "$CACHE/vmlinuz.new" "$CACHE/vmlinuz"
mv "$CACHE/initrd.img.new" "$CACHE/initrd.img"
echo "$KVER" > "$CACHE/kernel-version"
rm -rf "$ROOT" "$IR"
echo "$IMAGE_KEY" > "$CACHE/stamp.image"
log "done in $(( $(date +%s) - T0 ))s: base.img uses $(du -sh "$CACHE/base.img" | cut -f1), kernel $KVER"
