#!/bin/bash
# test/fresh/run.sh - the README's two commands, typed by a newcomer on a fresh Debian 12 machine.
#
# Builds (once, cached) a Debian 12 root file system with debootstrap that has only git and this
# machine's Node (copied in), clones this checkout's HEAD into it, and runs the two commands of the
# README's "Start" section, taken from the README itself, as root under CI=true — the newcomer's path,
# which .ci/run walks too — with the fresh system as the root of a mount namespace of its own (see
# run_fresh: a plain chroot is not safe for this suite). /proc, /sys, /dev and /run are mounted for
# the run and go with it, also when it fails; the copy is deleted unless --keep.
#
# usage: sudo bash test/fresh/run.sh [--keep]
# It runs the whole test suite, on this machine's kernel and network stack (as `npm test` as root does).
# It is not a booted machine: services that packages install are not started (policy-rc.d).
# env: LAB_FRESH_CACHE   the cached root file system (default /var/cache/mini-docker-lab-fresh)
#      LAB_VM_MIRROR     Debian mirror (default http://deb.debian.org/debian)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd -P)
CACHE=${LAB_FRESH_CACHE:-/var/cache/mini-docker-lab-fresh}
MIRROR=${LAB_VM_MIRROR:-http://deb.debian.org/debian}
KEEP=0
[ "${1:-}" = --keep ] && KEEP=1

die() { echo "test/fresh: $*" >&2; exit 125; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mount): sudo bash $0"
command -v debootstrap >/dev/null || die "needs debootstrap: apt-get install debootstrap"
NODE=$(command -v node) || die "needs node on this machine (it is copied into the chroot)"
NPM_DIR=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd) || die "needs npm on this machine"

# ------------------------------------------------------------ the base: Debian 12 + git (cached)
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9
if [ ! -f "$CACHE/base.done" ]; then
    echo "test/fresh: debootstrap bookworm (minbase) + git (log: $CACHE/debootstrap.log)" >&2
    rm -rf "$CACHE/base"
    debootstrap --variant=minbase --include=git,ca-certificates bookworm "$CACHE/base" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    touch "$CACHE/base.done"
fi

# ------------------------------------------------------------ this run's copy
ROOT=$(mktemp -d /tmp/mini-docker-lab-fresh.XXXXXX)
cleanup() {
    # The run's processes and mounts lived in its own namespaces and ended with them. Delete the copy
    # only when nothing is mounted inside it any more: rm must never reach into a mounted file system.
    if findmnt -rn -o TARGET | grep -qE "^$ROOT(/|$)"; then
        echo "test/fresh: something is still mounted under $ROOT; left it there" >&2
    elif [ $KEEP = 1 ]; then echo "test/fresh: kept $ROOT" >&2
    else rm -rf --one-file-system "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -a "$CACHE/base/." "$ROOT/"

# Node, as a user installs it: the binary and npm under /usr/local.
install -m 755 "$NODE" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules"
cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
# This machine's way onto the network: its resolver, and its trust store (a network behind a TLS proxy
# needs the proxy's CA, which a fresh machine there is given too).
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# (As a local CA, so that apt's ca-certificates trigger, which rebuilds the bundle, keeps it; Node
# reads only its own CAs unless NODE_EXTRA_CA_CERTS names more, so it does when it does here.)
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/this-machine.crt"
chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the chroot"
EXTRA_CA=(); [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && EXTRA_CA=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"; chmod 755 "$ROOT/usr/sbin/policy-rc.d"

# A clone of this checkout's HEAD (commit first: uncommitted changes are not in it).
git clone -q --no-local "$PROJECT" "$ROOT/root/mini-docker-lab" || die "git clone failed"
git -C "$ROOT/root/mini-docker-lab" -c advice.detachedHead=false checkout -q "$(git -C "$PROJECT" rev-parse HEAD)" || die "checkout failed"

# The README's two commands: the first two code blocks of its "## Start" section.
mapfile -t COMMANDS < <(awk '/^## /{start = ($0 == "## Start")} start && /^```/{inblock = !inblock; next} start && inblock' "$PROJECT/README.md" | head -n 2)
[ ${#COMMANDS[@]} = 2 ] || die "could not find two commands in the README's Start section"

# Each command runs in a mount and PID namespace of its own whose ROOT MOUNT is the fresh file system
# (pivot_root), not in a plain chroot. A chroot leaves the machine's / as the mount namespace's root,
# and entering a container's mount namespace (setns, as `exec` does) lands there: a test's
# `rm -r /usr/sbin` inside a container would then remove the machine's. Here the namespace's root is
# the fresh system, the machine's old root is detached, /proc shows only the run's own processes, and
# everything mounted for the run (/proc, /sys, /dev, /run) goes with the namespace when the run ends.
# Only the network stack is the machine's (apt and npm need it; the tests build their own namespaces).
run_fresh() {   # COMMAND: runs it as root in the fresh system, from the clone
    unshare --mount --propagation private --pid --fork -- /bin/bash -c '
        set -e
        root=$1; shift
        mount --bind "$root" "$root"
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs -o mode=755 tmpfs "$root/run"
        cd "$root"; mkdir -p .old-root
        pivot_root . .old-root
        umount -l /.old-root; rmdir /.old-root
        # bash stays PID 1 (no exec): it reaps the orphans a PID namespace hands to its init
        /usr/bin/env -i "$@"; exit $?
    ' fresh-root "$ROOT" HOME=/root TERM=dumb CI=true "${EXTRA_CA[@]}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "cd /root/mini-docker-lab && $1" </dev/null
}

status=0
for command in "${COMMANDS[@]}"; do
    echo "test/fresh: # $command" >&2
    run_fresh "$command"
    status=$?
    echo "test/fresh: exit status $status" >&2
    [ $status = 0 ] || break
done
exit $status
