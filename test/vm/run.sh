#!/bin/bash
# test/vm/run.sh - run the project's cgroup v2 suite (or any command) in a freshly booted VM.
#
# Students run the course on Ubuntu 22.04/24.04 or Debian 12: cgroup v2 only, systemd, shared mount
# propagation. Our own machines and CI may have none of that (a container with a cgroup v1 hybrid
# and no systemd), so the tests that touch cgroups run here instead: a Debian 12 kernel booted under
# QEMU, with this checkout shared read-write at /project. The image is built once and cached.
#
# usage: bash test/vm/run.sh [options] [-- COMMAND [ARGS...]]      (npm run test:vm -- [options] ...)
#   no COMMAND     run the default suite, test/vm/guest-suite.sh
#   -- CMD ARGS    run CMD with exactly these arguments, in /project, as root
#   -- 'SCRIPT'    a single argument is run as a bash script: -- 'npm run build && ls dist'
# options:
#   --shell        interactive root shell in the VM instead (the checkout is at /project)
#   --systemd      boot the full systemd (closer to a student's machine, slower); the command then
#                  runs as a service in /system.slice/lab-vm-run.service
#   --timeout SEC  power the VM off after SEC seconds, exit 124 (default 2400; 0 = none;
#                  --shell: none). The image build, if one is needed, is not counted.
#   --env K=V      export K=V for the command (repeatable); CI is passed on when set
#   --plain-host   the default suite without its hostile host (docker0, ip_forward=1, routes on the
#                  lab's subnets, a killed lab's leftovers: see guest-suite.sh); same as --env LAB_VM_HOST=plain
#   --mem SIZE     guest memory (default 2G)       --cpus N  virtual CPUs (default: host cores)
#   --timing       print where the time went        --console  print the guest's kernel console
#   --keep         keep the run directory (console log, disk overlay) for a post-mortem
# exit status: the command's own; 124 timed out; 125 the VM failed; 2 bad usage.
# env: LAB_VM_CACHE   image cache (default /var/cache/mini-docker-lab-vm)
#      LAB_VM_RUNDIR  per-run directories (default /tmp/mini-docker-lab-vm)
#      LAB_VM_MIRROR  Debian mirror for the image build
#
# Must run as root: it may install packages (qemu, debootstrap), and builds the image with chroot.
# Needs node_modules installed on the host (npm ci): the VM has no network and no registry.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd -P)
CACHE=${LAB_VM_CACHE:-/var/cache/mini-docker-lab-vm}
export LAB_VM_CACHE=$CACHE
RUNBASE=${LAB_VM_RUNDIR:-/tmp/mini-docker-lab-vm}

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
die() { echo "test/vm: $*" >&2; exit 125; }

[ "$(id -u)" = 0 ] || { echo "test/vm/run.sh must run as root (it installs qemu/debootstrap and builds a VM image): sudo npm run test:vm" >&2; exit 2; }

MODE=minimal SHELLMODE=0 TIMEOUT= MEM=2G CPUS=$(nproc) TIMING=0 SHOWCON=0 KEEP=0
ENVS=()
[ -n "${CI:-}" ] && ENVS+=("CI=$CI")
while [ $# -gt 0 ]; do
    case "$1" in
        --systemd) MODE=systemd ;;
        --shell) SHELLMODE=1 ;;
        --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
        --env) ENVS+=("${2:?--env needs K=V}"); shift ;;
        --plain-host) ENVS+=(LAB_VM_HOST=plain) ;;
        --mem) MEM=${2:?}; shift ;;
        --cpus) CPUS=${2:?}; shift ;;
        --timing) TIMING=1 ;;
        --console) SHOWCON=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        *) echo "test/vm: unknown option $1 (commands go after --)" >&2; usage ;;
    esac
    shift
done
[ -n "$TIMEOUT" ] || { if [ $SHELLMODE = 1 ]; then TIMEOUT=0; else TIMEOUT=2400; fi; }
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || { echo "test/vm: --timeout wants whole seconds, got '$TIMEOUT'" >&2; exit 2; }
[ -d "$PROJECT/node_modules" ] ||
    echo "test/vm: warning: $PROJECT/node_modules is missing; run 'npm ci' on the host first (the VM cannot install packages)" >&2

T_START=$(date +%s.%N)
# ------------------------------------------------------------ image (built once, cached)
mkdir -p "$CACHE" "$RUNBASE"
(
    flock 9    # two runs at once must not both build
    LAB_VM_QUIET=1 bash "$HERE/build-image.sh" >&2
) 9>"$CACHE/.lock" || die "image build failed"
T_IMG=$(date +%s.%N)

# ------------------------------------------------------------ accelerator
# Hardware KVM when the host really has it (a developer's laptop); otherwise TCG, QEMU's software
# CPU. Some nested hosts expose /dev/kvm through another hypervisor (kvm_pvm) that boots stock
# kernels far slower than TCG, or not at all, so only kvm_intel/kvm_amd count.
if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
    ACCEL=kvm ACCEL_ARGS=(-accel kvm -cpu host)
else
    ACCEL=tcg ACCEL_ARGS=(-accel tcg,thread=multi,tb-size=512 -cpu max)
fi

# ------------------------------------------------------------ run directory
RUN=$(mktemp -d "$RUNBASE/run.XXXXXX") || die "mktemp in $RUNBASE failed"
QPID=; RELAYS=()
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
    for p in "${RELAYS[@]+"${RELAYS[@]}"}"; do kill "$p" 2>/dev/null; done
    if [ $KEEP = 1 ]; then echo "test/vm: kept $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$RUN/ctl"
# every run writes to its own overlay: base.img stays pristine, each boot starts from the same state
qemu-img create -q -f qcow2 -F raw -b "$CACHE/base.img" "$RUN/root.qcow2" || die "qemu-img failed"

if [ $SHELLMODE = 1 ]; then
    echo 'exec bash -l' > "$RUN/ctl/cmd"
elif [ $# -eq 0 ]; then
    echo 'exec bash test/vm/guest-suite.sh' > "$RUN/ctl/cmd"
elif [ $# -eq 1 ]; then
    printf '%s\n' "$1" > "$RUN/ctl/cmd"
else
    { printf 'exec'; printf ' %q' "$@"; echo; } > "$RUN/ctl/cmd"
fi
{
    printf 'export LAB_VM_SHELL=%q\n' "$SHELLMODE"
    if [ $SHELLMODE = 1 ] && [ -t 0 ]; then
        read -r rows cols < <(stty size 2>/dev/null) && printf 'export LAB_VM_ROWS=%q LAB_VM_COLS=%q\n' "$rows" "$cols"
        printf 'export TERM=%q\n' "${TERM:-vt100}"
    fi
    for kv in "${ENVS[@]+"${ENVS[@]}"}"; do
        [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants K=V, got '$kv'"
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
} > "$RUN/ctl/env"

# Two 9p shares: labctl (command in, status out) and the checkout. passthrough keeps the real
# owners and modes, so files the tests create look the same on the host.
SHARES=(
  -fsdev "local,id=labctl,path=$RUN/ctl,security_model=none" -device virtio-9p-pci,fsdev=labctl,mount_tag=labctl
  -fsdev "local,id=project,path=${PROJECT//,/,,},security_model=passthrough" -device virtio-9p-pci,fsdev=project,mount_tag=project
)
if [ $MODE = systemd ]; then
    INITARG="labvm.init=/lib/systemd/systemd systemd.show_status=false systemd.log_level=warning systemd.log_target=console"
else
    INITARG="labvm.init=/sbin/lab-vm-init"
fi
# Serial lines: ttyS0 = kernel console -> console.log, ttyS1 = stdout (or the shell's tty), ttyS2 = stderr.
if [ $SHELLMODE = 1 ]; then
    OUTDEV=(-chardev stdio,id=out,signal=off -serial chardev:out)
else
    # through fifos so the output lands on *our* stdout/stderr as it comes (streamed, never reopened)
    mkfifo "$RUN/out.fifo"; cat "$RUN/out.fifo" & RELAYS+=($!)
    OUTDEV=(-chardev "file,id=out,path=$RUN/out.fifo" -serial chardev:out)
fi
mkfifo "$RUN/err.fifo"; cat "$RUN/err.fifo" >&2 & RELAYS+=($!)
SERIALS=(
  -chardev "file,id=con,path=$RUN/console.log" -serial chardev:con
  "${OUTDEV[@]}"
  -chardev "file,id=err,path=$RUN/err.fifo" -serial chardev:err
)
KERNEL=$CACHE/vmlinux; [ -f "$KERNEL" ] || KERNEL=$CACHE/vmlinuz   # vmlinux: PVH boot, no decompression
BIOS=(); [ -f /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)   # boots faster than SeaBIOS
# -nic none: the guest has loopback only and can reach nothing outside itself.
QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -M pc "${BIOS[@]}"
      "${ACCEL_ARGS[@]}" -smp "$CPUS" -m "$MEM" -display none -no-reboot
      -kernel "$KERNEL" -initrd "$CACHE/initrd.img"
      -append "console=ttyS0 quiet loglevel=3 panic=-1 8250.nr_uarts=4 random.trust_cpu=on acpi=noirq mitigations=off $INITARG"
      -drive "file=$RUN/root.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap"
      "${SHARES[@]}" -nic none "${SERIALS[@]}")

TO=(); [ "$TIMEOUT" != 0 ] && TO=(timeout -k 5 "$TIMEOUT")
if [ $SHELLMODE = 1 ]; then
    [ "$TIMEOUT" != 0 ] && TO=(timeout --foreground -k 5 "$TIMEOUT")   # keep the terminal's process group
    exec 3<&0    # a background job gets /dev/null as stdin unless handed one explicitly
    "${TO[@]}" "${QEMU[@]}" <&3 3<&- &
    QPID=$!
else
    "${TO[@]}" "${QEMU[@]}" </dev/null &
    QPID=$!
fi
wait $QPID; QRC=$?; QPID=
for f in "$RUN"/*.fifo; do [ -p "$f" ] && : <>"$f"; done   # unblock the relays if qemu never opened a fifo
wait "${RELAYS[@]+"${RELAYS[@]}"}" 2>/dev/null; RELAYS=()
T_END=$(date +%s.%N)

if [ -s "$RUN/ctl/status" ]; then
    RC=$(cat "$RUN/ctl/status")
elif [ "$TIMEOUT" != 0 ] && { [ $QRC = 124 ] || [ $QRC = 137 ]; }; then
    echo "test/vm: timed out after ${TIMEOUT}s (--timeout)" >&2; RC=124
else
    echo "test/vm: the VM stopped (qemu exit $QRC) without reporting a status; guest console:" >&2
    tail -n 30 "$RUN/console.log" >&2; RC=125
fi
[ $SHOWCON = 1 ] && { echo "----- guest console -----" >&2; cat "$RUN/console.log" >&2; }
if [ $TIMING = 1 ]; then
    CS=$(cat "$RUN/ctl/t_cmd_start" 2>/dev/null || echo '?'); CE=$(cat "$RUN/ctl/t_cmd_end" 2>/dev/null || echo '?')
    awk -v a="$T_START" -v b="$T_IMG" -v e="$T_END" -v cs="$CS" -v ce="$CE" -v acc="$ACCEL" -v m="$MODE" 'BEGIN{
        printf "test/vm timing [%s, %s boot]: image check %.2fs, VM %.2fs (guest uptime at command start %ss, command %.2fs), total %.2fs\n",
            acc, m, b-a, e-b, cs, (cs!="?"&&ce!="?")?ce-cs:-1, e-a }' >&2
fi
exit "$RC"
