#!/bin/bash
# test/vm/guest-suite.sh - the default suite of `npm run test:vm`, run INSIDE the VM from /project.
#
# 1. refuses to go on unless /sys/fs/cgroup really is cgroup v2 (a cgroup v1 or hybrid machine
#    would make every cgroup test meaningless, so say so loudly)
# 2. prints the facts a cgroup/mount bug report needs: kernel, controllers, propagation of /
# 3. runs the vitest files under test/ whose path mentions cgroup
# 4. runs every lesson that exists (lessons/NN-slug/lesson.ts) once in plain mode
# 5. runs the final runtime's end-to-end tests (test/final, but the registry's): minidocker's limits,
#    network and terminals on a pure cgroup v2 machine
# 6. prints one line per part and `N passed, N failed`; exits non-zero if anything failed
#
# Before all that, unless LAB_VM_HOST=plain, it makes the VM a hostile host (hostile_host below): what
# a machine that runs Docker, sits on the lab's subnets and survived a killed lab looks like. The
# course must pass there too; the tests that read host state then run once more (part 2b).
#
# A part that fails while the kernel logs an invalid-opcode trap (SIGILL) or a segfault, or whose Node
# itself dies of SIGILL or SIGSEGV (V8 re-raises a SIGSEGV, and the kernel logs nothing), runs once more: for a
# lesson the whole lesson, for vitest the files that did not finish. Under QEMU's software CPU that
# is the emulator's doing, never the course's (see "SIGILL" in test/vm/README.md); the summary
# line says so, with the kernel's line, and a second failure still fails the part.
#
# Lessons not written yet are reported as skipped, not failed, so the suite grows with the course.
# LESSON_TIMEOUT (seconds, default 600) bounds each lesson: under software emulation Node is slow.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

LESSON_TIMEOUT=${LESSON_TIMEOUT:-600}
SUMMARY=() PASSED=0 FAILED=0 SKIPPED=0
# each part's wall time goes into its summary line: under software emulation it adds up fast,
# and CI's time budget is what decides how much the suite may grow
T=$SECONDS
took() { echo "$(( SECONDS - T ))s"; }
pass() { SUMMARY+=("PASS  $* ($(took))"); PASSED=$((PASSED + 1)); }
fail() {
    SUMMARY+=("FAIL  $* ($(took))"); FAILED=$((FAILED + 1))
    local line
    while IFS= read -r line; do SUMMARY+=("      test: $line"); done < <(failed_tests)
    while IFS= read -r line; do SUMMARY+=("      kernel: $line"); done < <(klog_crashes)
}
# A test that reports a Node process it started as killed by SIGILL, SIGSEGV or SIGBUS: V8 handles
# SIGSEGV itself (WebAssembly's trap handler) and re-raises it, so the kernel logs no "segfault at" line.
signal_in_report() {
    [ -f "${VITEST_REPORT:-}" ] && grep -o -m 1 -E 'ended \((SIGILL|SIGSEGV|SIGBUS)\)[^"]{0,60}' "$VITEST_REPORT"
}
# The failed tests of the part's last vitest run and the first line of each one's error (at most 5),
# from its JSON report, which is then removed: CI shows only the end of the output.
failed_tests() {
    [ -f "${VITEST_REPORT:-}" ] || return 0
    node -e '
        const report = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const failed = report.testResults.flatMap((file) => file.assertionResults
            .filter((test) => test.status === "failed")
            .map((test) => `${test.fullName}: ${(test.failureMessages[0] ?? "").split("\n")[0].slice(0, 240)}`));
        for (const line of failed.slice(0, 5)) console.log(line);
    ' "$VITEST_REPORT" 2>/dev/null
    rm -f "$VITEST_REPORT"
}
skip() { SUMMARY+=("SKIP  $*"); SKIPPED=$((SKIPPED + 1)); }
section() { printf '\n=== %s\n' "$*"; }
# What the kernel logged about processes it killed (a SIGILL or SIGSEGV trap, the OOM killer) since
# the part began: CI shows only the end of the output, so a failed part carries these into the summary.
# The mark is the time stamp of the kernel's latest line, not a line count: once the log buffer is
# full, old lines drop out at the front and a count points at the wrong line.
KLOG_MARK=0
klog_mark() {
    KLOG_MARK=$(dmesg 2>/dev/null | tail -n 1 | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p')
    KLOG_MARK=${KLOG_MARK:-0}
}
klog_crashes() {
    dmesg 2>/dev/null |
        awk -v mark="$KLOG_MARK" 'match($0, /^\[ *[0-9]+\.[0-9]+\]/) { if (substr($0, 2, RLENGTH - 2) + 0 > mark + 0) print }' |
        grep -E 'traps:|segfault at|invalid opcode|general protection|Out of memory|oom-kill|Killed process' | tail -n 5
}
# the kernel's line about a process killed for an invalid opcode since the part began, if any
# (or a segfault: the same emulator fault, seen as SIGSEGV, has killed vitest itself). Any thread
# name: the kernel names the faulting thread ("V8 DefaultWorke[412]", not "node[344]"), and prints
# nothing at all once its rate limit is reached, so vitest's own death by signal counts too.
sigill_trap() { klog_crashes | grep -m 1 -E 'invalid opcode|segfault at'; }
# "exit 132" → "exit 132 (killed by SIGILL)": a shell reports death by signal N as 128+N
exit_reason() {
    local rc=$1
    if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then echo "exit $rc (killed by SIG$(kill -l $((rc - 128))))"
    else echo "exit $rc"; fi
}
# vitest_part LABEL FILE...: one vitest run of FILES, reported as one part. The JSON report says
# which files did not finish (a worker killed by SIGILL leaves its tests "pending"); after a SIGILL
# only those run again. A --reporter on the command line replaces vitest.config's reporters, so
# these repeat them (keep the two alike) and add json; the scorecard prints "N passed, N failed".
VITEST_REPORT=/tmp/guest-suite-vitest.json
vitest_run() {
    # not npx: in the VM npx walks all of node_modules over 9p to find the bin (~8 s)
    node_modules/.bin/vitest run --reporter=default --reporter=./src/course/scorecard-reporter.ts \
        --reporter=json --outputFile.json="$VITEST_REPORT" "$@"
}
unfinished_files() {    # FILE... → those not passed in $VITEST_REPORT; all of them if it is unreadable
    node -e '
        const [report, ...files] = process.argv.slice(1);
        let results;
        try { results = JSON.parse(require("fs").readFileSync(report, "utf8")).testResults; }
        catch { results = null; }
        const done = (r) => r.status === "passed" &&
            r.assertionResults.every((a) => a.status !== "pending" && a.status !== "failed");
        const ok = new Set((results ?? []).filter(done).map((r) => require("path").relative(process.cwd(), r.name)));
        for (const f of files) if (!ok.has(f)) console.log(f);
    ' "$VITEST_REPORT" "$@"
}
vitest_part() {
    local label=$1; shift
    local crash again
    printf 'running: %s\n' "$@"
    T=$SECONDS; klog_mark; rm -f "$VITEST_REPORT"
    local rc=0
    vitest_run "$@" || rc=$?
    if [ "$rc" = 0 ]; then pass "$label: $# file(s)"; return; fi
    crash=$(sigill_trap)
    if [ -z "$crash" ] && { [ "$rc" = 132 ] || [ "$rc" = 139 ]; }; then
        crash="vitest itself: $(exit_reason "$rc")"
    fi
    if [ -z "$crash" ]; then fail "$label: vitest failed ($# file(s))"; return; fi
    mapfile -t again < <(unfinished_files "$@")
    [ ${#again[@]} -gt 0 ] || again=("$@")
    echo "--- a process was killed by SIGILL ($crash); once more: ${again[*]}"
    if vitest_run "${again[@]}"; then
        pass "$label: $# file(s) (${#again[@]} passed on a second run; the first was killed by SIGILL: $crash)"
    else
        fail "$label: vitest failed ($# file(s)), also on a second run after a SIGILL"
    fi
}
summary() {
    section "summary"
    printf '%s\n' "${SUMMARY[@]}"
    echo "($SKIPPED skipped, ${SECONDS}s in all)"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

# ---------------------------------------------------------------- 0. a hostile host
# What the lab meets on real machines, all at once:
#   - Docker: ip_forward=1, a docker0 bridge, its iptables chains (DOCKER, DOCKER-USER,
#     DOCKER-ISOLATION-STAGE-1/2), FORWARD policy DROP, MASQUERADE for 172.17.0.0/16;
#   - strict reverse-path filtering and route_localnet=1 on every interface (sysctls a new network
#     namespace copies from the machine);
#   - a LAN on 192.0.2.0/24 (the lab's "outside" subnet; this is the CI machine's own) with the default
#     route, and a VPN-like route into 172.29.0.0/24 (the lab's bridge subnet);
#   - a lab killed with kill -9: a minidocker container with a published port whose runtime and
#     processes died, leaving its state folder, lease, bridge and iptables rules behind.
# The VM has no network card (-nic none): these are stand-ins (a dummy eth0), and nothing leaves the VM.
hostile_host() {
    set -e
    sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1 \
        net.ipv4.conf.all.route_localnet=1
    ip link add eth0 type dummy
    ip addr add 192.0.2.2/24 dev eth0
    ip link set eth0 up
    ip route add default via 192.0.2.1
    # metric 50: a route the kernel adds for a bridge's own address (metric 0) may sit beside it
    ip route add 172.29.0.0/24 via 192.0.2.254 metric 50
    ip link add docker0 type bridge
    ip addr add 172.17.0.1/16 dev docker0
    ip link set docker0 up
    iptables -t nat -N DOCKER
    iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
    iptables -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
    iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
    iptables -t nat -A DOCKER -i docker0 -j RETURN
    iptables -N DOCKER; iptables -N DOCKER-USER
    iptables -N DOCKER-ISOLATION-STAGE-1; iptables -N DOCKER-ISOLATION-STAGE-2
    iptables -P FORWARD DROP
    iptables -A FORWARD -j DOCKER-USER
    iptables -A FORWARD -j DOCKER-ISOLATION-STAGE-1
    iptables -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    iptables -A FORWARD -o docker0 -j DOCKER
    iptables -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
    iptables -A FORWARD -i docker0 -o docker0 -j ACCEPT
    iptables -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
    iptables -A DOCKER-ISOLATION-STAGE-1 -j RETURN
    iptables -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
    iptables -A DOCKER-ISOLATION-STAGE-2 -j RETURN
    iptables -A DOCKER-USER -j RETURN
    # The killed lab, in the default state folder the lessons use: start a container, then kill -9
    # its monitor (the runtime's part that outlives `run -d`) and the container's init, by PID.
    local id pid monitor
    id=$(node bin/minidocker.js run -d -p 8080:80 busybox httpd -f -p 80)
    pid=$(node bin/minidocker.js inspect "$id" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].State.Pid)')
    monitor=$(ps -o ppid= -p "$pid" | tr -d ' ')
    kill -KILL "$monitor" "$pid"
    set +e
}
if [ "${LAB_VM_HOST:-hostile}" != plain ]; then
    section "a hostile host"
    T=$SECONDS
    if ( hostile_host ); then
        ip -4 route
        ls /var/lib/mini-docker-lab
        pass "hostile host: ip_forward=1, rp_filter=1, route_localnet=1, docker0 + Docker's chains, routes on 192.0.2.0/24 and 172.29.0.0/24, a kill -9'd container"
    else
        fail "hostile host: could not prepare it (see above)"
    fi
fi

# ---------------------------------------------------------------- 1. cgroup v2, for real
section "cgroup v2"
fstype=$(stat -fc %T /sys/fs/cgroup 2>&1)
echo "stat -fc %T /sys/fs/cgroup: $fstype"
if [ "$fstype" != cgroup2fs ]; then
    echo "FATAL: /sys/fs/cgroup is '$fstype', not cgroup2fs. This suite only means something on a pure" >&2
    echo "FATAL: cgroup v2 machine (what students have); run it through test/vm/run.sh." >&2
    fail "cgroup v2: /sys/fs/cgroup is $fstype, not cgroup2fs"
    summary; exit 1
fi
# a hybrid system has cgroup2 somewhere *and* v1 hierarchies: that is not what students have
v1=$(awk '$3 == "cgroup" {print $2}' /proc/mounts | tr '\n' ' ')
if [ -n "$v1" ]; then
    echo "FATAL: cgroup v1 hierarchies are mounted as well: $v1" >&2
    fail "cgroup v2: v1 hierarchies mounted too ($v1)"
    summary; exit 1
fi
pass "cgroup v2: /sys/fs/cgroup is cgroup2fs, no v1 hierarchies"

# ---------------------------------------------------------------- 2. the machine
section "machine"
echo "kernel:                  $(uname -r)"
echo "init (PID 1):            $(cat /proc/1/comm)"
echo "cgroup.controllers:      $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "root subtree_control:    $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "this process's cgroup:   $(cut -d: -f3 /proc/self/cgroup)"
# field 7 onwards of mountinfo, up to the '-', holds the propagation tags: shared:N, master:N ...
prop=$(awk '$5 == "/" { tags = ""; for (i = 7; $i != "-"; i++) tags = tags " " $i; print (tags == "" ? "private" : substr(tags, 2)); exit }' /proc/self/mountinfo)
case "$prop" in *shared:*) prop="shared ($prop)" ;; esac
echo "propagation of /:        $prop"
echo "node:                    $(node --version)"
# A student's machine has udev, whose default rules make /dev/net/tun usable by every user (crw-rw-rw-):
# rootless minidocker's slirp4netns needs that. The minimal boot has no udev; devtmpfs makes it 0600.
if [ ! -d /run/udev ] && [ -c /dev/net/tun ]; then chmod 0666 /dev/net/tun; fi
echo "/dev/net/tun:            $(stat -c %A /dev/net/tun 2>&1)"

# ---------------------------------------------------------------- 3. cgroup tests (vitest)
section "cgroup tests"
T=$SECONDS; klog_mark
mapfile -t files < <(find test -path test/vm -prune -o -type f \( -name '*.test.ts' -o -name '*.test.tsx' \) -path '*cgroup*' -print | sort)
if [ ${#files[@]} -eq 0 ]; then
    echo "no cgroup test files yet (test/**/*cgroup*.test.ts): nothing to run"
    skip "cgroup tests: none written yet"
else
    vitest_part "cgroup tests" "${files[@]}"
fi

# ---------------------------------------------------------------- 3b. tests that read host state
# On the hostile host only: the lesson 06 checks that a machine's own settings could sway (a sandbox
# copies its IPv4 sysctls; its routes decide the lab's subnets). The whole file takes long under emulation,
# and so does each of these: a test that needs 3 s on hardware needs a minute or more on QEMU's software
# CPU, past vitest.config's 60 s, so the part gives each 5 minutes.
if [ "${LAB_VM_HOST:-hostile}" != plain ]; then
    section "host-state tests"
    T=$SECONDS; klog_mark
    host_state_tests() {
        rm -f "$VITEST_REPORT"
        vitest_run --testTimeout=300000 --hookTimeout=300000 test/lessons/06-network.test.ts \
            -t 'outbound NAT|nothing of the lab remains|forwarded already|next free subnets|killed with SIGKILL'
    }
    # Its tests start Node processes of their own (a runtime to kill -9): QEMU's SIGILL can hit one of
    # those, and then a test fails rather than a worker dying. Same rule as above: once more, all of it.
    rc=0
    host_state_tests || rc=$?
    # The fault's line: the kernel's, a test's report of a killed process, or vitest's own death by signal.
    # (Not `crash=$(…) && …`: the status of an assignment is its last command's, here a grep that found nothing.)
    crash=
    if [ $rc != 0 ]; then
        crash=$( { sigill_trap; signal_in_report; } | head -n 1 )
        if [ -z "$crash" ] && { [ $rc = 132 ] || [ $rc = 139 ]; }; then crash="vitest itself: $(exit_reason $rc)"; fi
    fi
    if [ $rc = 0 ]; then
        pass "host-state tests: lesson 06's on the hostile host"
    elif [ -n "$crash" ]; then
        echo "--- a process was killed by SIGILL or SIGSEGV ($crash); once more"
        klog_mark
        if host_state_tests; then pass "host-state tests: lesson 06's on the hostile host (passed on a second run; the first was killed by an emulator fault: $crash)"
        else fail "host-state tests: lesson 06's on the hostile host, also on a second run after an emulator fault"; fi
    else
        fail "host-state tests: lesson 06's on the hostile host"
    fi
fi

# ---------------------------------------------------------------- 4. lessons, plain mode
section "lessons (plain mode)"
shopt -s nullglob
dirs=(lessons/[0-9][0-9]-*/)
[ ${#dirs[@]} -gt 0 ] || { echo "no lessons/NN-*/ folders"; skip "lessons: no lesson folders"; }
for dir in "${dirs[@]}"; do
    dir=${dir%/}; slug=${dir#lessons/}; n=$((10#${slug:0:2}))
    if [ ! -f "$dir/lesson.ts" ]; then
        echo "lesson $slug: no $dir/lesson.ts yet, skipped"
        skip "lesson $slug: not built yet"
        continue
    fi
    echo "--- npm run lesson $n -- --plain"
    T=$SECONDS; klog_mark
    timeout -k 10 "$LESSON_TIMEOUT" npm run lesson "$n" -- --plain </dev/null
    rc=$?
    retried=
    # SIGILL: an instruction the (emulated) CPU refused. No JavaScript can cause that, only Node's
    # own machine code or V8's JIT under QEMU's TCG; a lesson bug cannot. The lesson's own Node (132)
    # or one it started (its monitor, its init: any exit code) may be the one killed.
    crash=$(sigill_trap)
    if [ $rc != 0 ] && { [ $rc = 132 ] || [ $rc = 139 ] || [ -n "$crash" ]; }; then
        echo "--- $(exit_reason $rc); a process was killed by SIGILL (${crash:-the kernel logged nothing}); once more:"
        timeout -k 10 "$LESSON_TIMEOUT" npm run lesson "$n" -- --plain </dev/null
        rc=$?
        retried=" (passed on a second run; the first was killed by SIGILL${crash:+: $crash})"
    fi
    if [ $rc = 0 ]; then pass "lesson $slug$retried"
    elif [ $rc = 124 ]; then fail "lesson $slug: timed out after ${LESSON_TIMEOUT}s"
    else fail "lesson $slug: $(exit_reason $rc)"; fi
done

# ---------------------------------------------------------------- 5. the final runtime (vitest)
section "final runtime tests"
T=$SECONDS; klog_mark
# Not registry.test.ts: pulling and pushing images does not depend on the cgroup version, the VM image
# has no docker-registry or skopeo (the VM has no network to install them), and under the emulated CPU
# its slowest case outlasts vitest's patience. The main suite runs it on the host.
# Nor api.test.ts: the Engine API service drives the same minidocker functions these files test here, its
# docker-CLI and pull cases need tools the VM image does not have, and the main suite runs it on the host.
mapfile -t files < <(find test/final -type f -name '*.test.ts' ! -name 'registry.test.ts' ! -name 'api.test.ts' | sort)
if [ ${#files[@]} -eq 0 ]; then
    skip "final runtime tests: none written yet"
else
    vitest_part "final runtime tests" "${files[@]}"
fi

summary
