#!/usr/bin/env bash
# npm run setup: everything the lab needs on a fresh Debian 12 or Ubuntu 22.04/24.04 machine, then lesson 1.
#
#   1. the Debian/Ubuntu packages below, with apt-get (as root, or through sudo), unless all are there;
#   2. the npm packages (npm ci, as the user who runs this: node_modules stays theirs);
#   3. lesson 1, as root (scripts/as-root.sh): the terminal UI, or plain text in CI and without a terminal.
#
# Where it cannot install (no apt-get, not root and no sudo, no network) it says in one line what to
# install by hand, still installs the npm packages, and stops before the lesson.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

# The Debian/Ubuntu packages the lab uses, and why.
PACKAGES=(
    busybox-static  # the containers' image: one static program that is every command (lesson 03 on)
    tini            # --init: a real init as PID 1 that reaps zombies and forwards signals (lesson 02)
    iproute2        # ip: veth pairs, addresses, routes, network namespaces (lesson 06)
    iptables        # NAT and published ports (lesson 06)
    bridge-utils    # brctl: the bridge and the ports plugged into it (lesson 06)
    procps          # ps and sysctl (lessons 02 and 06)
    util-linux      # nsenter, setpriv, unshare, setsid, ipcs, mount (every lesson; the way into a user namespace, lesson 08)
    uidmap          # newuidmap, newgidmap: the ranges of /etc/subuid, for users without root (lesson 08)
    slirp4netns     # user-mode networking for rootless minidocker: its default network and -p without root (lesson 06)
    kmod            # modprobe: loads overlay and the network modules (lessons 05 and 06)
    libseccomp2     # compiles the seccomp profiles into BPF, as for runc and crun (lesson 07)
    docker-registry # a private registry the pull and push tests start for themselves
    skopeo          # copies images into and out of that registry in those tests
    podman          # a real engine: it drives the lab's OCI runtime (npm run oci) as it drives runc
    conmon          # podman's shim, the process that waits for each container; minidocker run -d's too
    runc            # the reference OCI runtime: npm run bench compares with it; podman's runtime where crun refuses (cgroup v1)
)

say() { printf 'setup: %s\n' "$*" >&2; }

missing_packages() {
    local package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' || echo "$package"
    done
}

# as_root COMMAND...: as is when root, through sudo otherwise; fails when neither is possible.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -- "$@"
    else return 127; fi
}

# ------------------------------------------------------------ 1. Debian/Ubuntu packages
packages_ok=1
by_hand() {   # REASON: the one line that says what to install by hand
    say "$1: install these packages by hand (Debian/Ubuntu names), then run \`npm run setup\` again: ${PACKAGES[*]}"
    packages_ok=0
}
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    by_hand "this is not a Debian/Ubuntu machine (no apt-get)"
else
    mapfile -t missing < <(missing_packages)
    if [ ${#missing[@]} -eq 0 ]; then
        say "the Debian/Ubuntu packages are installed already"
    elif [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
        by_hand "installing packages needs root, and there is no sudo"
    else
        say "installing ${missing[*]} (apt-get$([ "$(id -u)" = 0 ] || echo ' through sudo'))"
        if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
            # Debian's docker-registry package starts a registry on every interface, port 5000, at
            # once. The tests start their own; a server listening on the network nobody asked for is
            # not the lab's to leave behind.
            if [[ " ${missing[*]} " == *" docker-registry "* ]] && [ -d /run/systemd/system ]; then
                as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true
            fi
            # Debian's podman package enables its API socket and a daily auto-update timer; the lab
            # runs podman by hand only, so a podman it installed leaves no service behind either.
            if [[ " ${missing[*]} " == *" podman "* ]] && [ -d /run/systemd/system ]; then
                as_root systemctl disable --now podman.socket podman-auto-update.timer >/dev/null 2>&1 || true
            fi
        else
            by_hand "apt-get could not install them (see its message above)"
        fi
    fi
fi

# ------------------------------------------------------------ 2. npm packages
say "npm ci"
npm ci --no-audit --no-fund || { say "npm ci failed (see above); fix that and run \`npm run setup\` again"; exit 1; }

[ $packages_ok = 1 ] || exit 1

# ------------------------------------------------------------ 3. lesson 1
exec npm run lesson 1
