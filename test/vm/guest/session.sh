# Sourced by /sbin/lab-vm-init (minimal path) and lab-vm-run (systemd path): run the command from
# /labctl/cmd with its output on the serial lines the host reads, and report its exit status.
#   ttyS0  kernel console (host: a log file)   ttyS1  stdout (or the tty with --shell)   ttyS2  stderr
B=/bin/busybox
lab_vm_run_command() {
    local rc out=/dev/ttyS1 err=/dev/ttyS2 up
    # Like a student's login shell, the command does not sit in the root cgroup (systemd already
    # put the service in its own cgroup).
    if [ -z "${INVOCATION_ID:-}" ]; then
        echo $$ > /sys/fs/cgroup/lab-vm.scope/cgroup.procs
    fi
    read -r up _ < /proc/uptime; echo "$up" > /labctl/t_cmd_start
    cd /project 2>/dev/null || cd /
    if [ "${LAB_VM_SHELL:-0}" = 1 ]; then
        $B stty -F $out sane
        # the window size lives only while the tty is open, so set it from inside the session
        $B setsid -c /bin/bash -c '[ -n "${LAB_VM_ROWS:-}" ] && stty rows "$LAB_VM_ROWS" cols "$LAB_VM_COLS"
            exec /bin/bash -l' <$out >$out 2>&1; rc=$?
    else
        # stdout and stderr are pipes, as in CI, relayed to ttyS1/ttyS2 and so to the host's
        # stdout/stderr (a tty here would change how vitest and npm print)
        $B mkfifo /run/lab-vm-out /run/lab-vm-err
        $B cat /run/lab-vm-out >$out & local p1=$!
        $B cat /run/lab-vm-err >$err & local p2=$!
        /bin/bash /labctl/cmd </dev/null >/run/lab-vm-out 2>/run/lab-vm-err; rc=$?
        # a daemon the command left behind may hold the pipes open: give the relays 2 s
        ( $B sleep 2; kill -9 $p1 $p2 ) 2>/dev/null & local pk=$!
        wait $p1 $p2 2>/dev/null; kill $pk 2>/dev/null
    fi
    read -r up _ < /proc/uptime; echo "$up" > /labctl/t_cmd_end
    # written then renamed: the host must never read a half-written status
    echo "$rc" > /labctl/status.tmp && $B mv /labctl/status.tmp /labctl/status
}
lab_vm_poweroff() {
    cd /
    $B sync
    $B umount /project 2>/dev/null; $B umount /labctl 2>/dev/null
    $B poweroff -f
    echo o > /proc/sysrq-trigger
}
