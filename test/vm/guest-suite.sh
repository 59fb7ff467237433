#!/bin/bash
# test/vm/guest-suite.sh - the default suite of `npm run test:vm`, run INSIDE the VM from /project.
#
# 1. refuses to go on unless /sys/fs/cgroup really is cgroup v2 (a cgroup v1 or hybrid machine
#    would make every cgroup test meaningless, so say so loudly)
# 2. prints the facts a cgroup/mount bug report needs: kernel, controllers, propagation of /
# 3. runs the vitest files under test/ whose path mentions cgroup
# 4. runs every lesson that exists (lessons/NN-slug/lesson.ts) once in plain mode (twice if the
#    first run dies of SIGILL, which under emulation is the emulator's doing, never the lesson's)
# 5. runs the final runtime's end-to-end tests (test/final): minidocker's limits, network and
#    terminals on a pure cgroup v2 machine
# 6. prints one line per part and `N passed, N failed`; exits non-zero if anything failed
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
    while IFS= read -r line; do SUMMARY+=("      kernel: $line"); done < <(klog_crashes)
}
skip() { SUMMARY+=("SKIP  $*"); SKIPPED=$((SKIPPED + 1)); }
section() { printf '\n=== %s\n' "$*"; }
# What the kernel logged about processes it killed (a SIGILL or SIGSEGV trap, the OOM killer) since
# the part began: CI shows only the end of the output, so a failed part carries these into the summary.
KLOG_MARK=0
klog_mark() { KLOG_MARK=$(dmesg 2>/dev/null | wc -l); }
klog_crashes() {
    dmesg 2>/dev/null | tail -n +$((KLOG_MARK + 1)) |
        grep -E 'traps:|segfault at|invalid opcode|general protection|Out of memory|oom-kill|Killed process' | tail -n 5
}
# "exit 132" → "exit 132 (killed by SIGILL)": a shell reports death by signal N as 128+N
exit_reason() {
    local rc=$1
    if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then echo "exit $rc (killed by SIG$(kill -l $((rc - 128))))"
    else echo "exit $rc"; fi
}
summary() {
    section "summary"
    printf '%s\n' "${SUMMARY[@]}"
    echo "($SKIPPED skipped, ${SECONDS}s in all)"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

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

# ---------------------------------------------------------------- 3. cgroup tests (vitest)
section "cgroup tests"
T=$SECONDS; klog_mark
mapfile -t files < <(find test -path test/vm -prune -o -type f \( -name '*.test.ts' -o -name '*.test.tsx' \) -path '*cgroup*' -print | sort)
if [ ${#files[@]} -eq 0 ]; then
    echo "no cgroup test files yet (test/**/*cgroup*.test.ts): nothing to run"
    skip "cgroup tests: none written yet"
else
    printf 'running: %s\n' "${files[@]}"
    # = npx vitest run FILES, minus ~8 s: in the VM npx walks all of node_modules over 9p to find the bin
    if node_modules/.bin/vitest run "${files[@]}"; then
        pass "cgroup tests: ${#files[@]} file(s)"
    else
        fail "cgroup tests: vitest failed (${#files[@]} file(s))"
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
    if [ $rc = 132 ]; then
        # SIGILL: an instruction the (emulated) CPU refused. No JavaScript can cause that, only Node's
        # own machine code or V8's JIT under QEMU's TCG; a lesson bug cannot. So run it once more, and
        # keep what the kernel said in the summary, where CI shows it.
        crash=$(klog_crashes | head -n 1)
        echo "--- the lesson was killed by SIGILL (${crash:-the kernel logged nothing}); once more:"
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
mapfile -t files < <(find test/final -type f -name '*.test.ts' | sort)
if [ ${#files[@]} -eq 0 ]; then
    skip "final runtime tests: none written yet"
else
    printf 'running: %s\n' "${files[@]}"
    if node_modules/.bin/vitest run "${files[@]}"; then
        pass "final runtime tests: ${#files[@]} file(s)"
    else
        fail "final runtime tests: vitest failed (${#files[@]} file(s))"
    fi
fi

summary
