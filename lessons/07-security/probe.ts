/**
 * The lesson's container and what it finds out about itself: a lesson 03 container (busybox, its own
 * root, pivot_root) with lesson 07's steps for a few config.json fields, whose command looks at its own
 * powers and tries the attacks — each one harmless even when it works:
 *
 *   hostname      renames the container's OWN UTS namespace
 *   mount         a tmpfs in the container's OWN mount namespace (private: lesson 03 made it so)
 *   core_pattern  opened for appending, nothing written (`: >>`): the open is what the kernel refuses
 *   unshare       a new UTS namespace for `true`, gone when it ends
 *   timer_list    read, counted: every timer of every process on the host, unless masked
 *   disk          a node made with the numbers of a host disk, opened for READING and closed at once
 *   setuid        a user inside (nobody) runs a setuid-root copy of busybox: does it become root again?
 *   ptrace        root opens /proc/PID/mem of nobody's `sleep` for reading, reads nothing: the kernel's
 *                 ptrace check (PTRACE_MODE_ATTACH), as PTRACE_ATTACH would be judged
 *
 * The clock is judged by the capability bit (CAP_SYS_TIME) and the filter's rules only: setting it,
 * even to "now", steps the host's clock.
 */
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import type { Container } from '../../src/container/runtime.js';
import type { DeviceRule } from './devices.js';
import type { OciConfig, OciSeccomp } from '../../src/container/config.js';
import type { StepCall } from '../../src/container/plan.js';
import { securityFeature } from './feature.js';

/** The config.json fields a step of the lesson turns on. */
export interface SecurityFields {
  capabilities?: string[];
  noNewPrivileges?: boolean;
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** linux.resources.devices: the device cgroup's rules (written by the host, not by init: see lesson.ts). */
  devices?: DeviceRule[];
}

/** Those fields as the parts of config.json they fill: what `docker run` would write for them. */
export function securityConfig(fields: SecurityFields): { process: Partial<OciConfig['process']>; linux: NonNullable<OciConfig['linux']> } {
  const caps = fields.capabilities;
  return {
    process: {
      ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps } } : {}),
      ...(fields.noNewPrivileges ? { noNewPrivileges: true } : {}),
    },
    linux: {
      ...(fields.maskedPaths ? { maskedPaths: fields.maskedPaths } : {}),
      ...(fields.readonlyPaths ? { readonlyPaths: fields.readonlyPaths } : {}),
      ...(fields.seccomp ? { seccomp: fields.seccomp } : {}),
      ...(fields.devices ? { resources: { devices: fields.devices } } : {}),
    },
  };
}

/** The same as a whole config.json fragment, for the screen. */
export function configFragment(fields: SecurityFields): Pick<OciConfig, 'process' | 'linux'> {
  const { process, linux } = securityConfig(fields);
  return { process: { args: ['sh'], cwd: '/', ...process }, linux: { namespaces: [{ type: 'mount' }], ...linux } };
}

/** The steps lesson 07's feature plans for these fields, in runc's order: what init runs after the root file system. */
export function securitySteps(fields: SecurityFields): StepCall[] {
  const config = { ociVersion: '1.0.2', root: { path: '/' }, ...configFragment(fields) } as OciConfig;
  const context = { id: 'lesson-07', bundle: '', stateDir: '', runtimeDir: '', warn: () => {} };
  return securityFeature.plan?.(config, context, securityFeature.step) ?? [];
}

/**
 * A block device of the host that the host itself may open (opening reads nothing): its numbers are
 * what the probe's mknod uses. Null on a machine that lets even the host open none (some sandboxes).
 */
export function hostDisk(): { path: string; major: number; minor: number } | null {
  let entries: string[];
  try {
    entries = readdirSync('/sys/dev/block');
  } catch {
    return null;
  }
  for (const entry of entries) {
    try {
      const name = /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${entry}/uevent`, 'utf8'))?.[1];
      closeSync(openSync(`/dev/${name}`, 'r'));
      const [major, minor] = entry.split(':').map(Number) as [number, number];
      return { path: `/dev/${name}`, major, minor };
    } catch {
      // no node, or not even the host may open it
    }
  }
  return null;
}

/** The container's command for a host disk (or none): the probe, its report on stdout ending with @@done, then it waits. */
export function probeCommand(disk: { major: number; minor: number } | null): string[] {
  return ['sh', '-c', PROBE_SCRIPT, 'probe', String(disk?.major ?? ''), String(disk?.minor ?? '')];
}

/**
 * A user climbs back to root: nobody runs a setuid-root copy of busybox as `crontab`, an applet busybox
 * refuses to run ("must be suid to work properly") unless the setuid bit made it root. Reading
 * `crontab -l` then fails on a missing folder, which says it got past that check. Prints "setuid: yes|no".
 */
export const SETUID_ATTACK =
  'mkdir -p /tmp/lab-suid && cp /bin/busybox /tmp/lab-suid/busybox && chmod 4755 /tmp/lab-suid/busybox && ln -sf busybox /tmp/lab-suid/crontab' +
  ' && m=$(su -s /bin/sh nobody -c "/tmp/lab-suid/crontab -l" </dev/null 2>&1); rm -rf /tmp/lab-suid;' +
  ' case "$m" in *"must be suid"*) echo "setuid: no";; crontab:*) echo "setuid: yes";; *) echo "setuid: ? ($m)";; esac';

/**
 * Root may trace another user's process only with CAP_SYS_PTRACE (ptrace(2), "Ptrace access mode
 * checking"). Opening /proc/PID/mem asks the same question as PTRACE_ATTACH and changes nothing.
 * The open waits until the `sleep` really runs as nobody: before su switched, it is still root's; if it
 * never does (su refused), nothing was tried. Prints "ptrace: yes|no|n/a".
 */
export const PTRACE_ATTACK =
  'su -s /bin/sh nobody -c "exec sleep 1000" 2>/dev/null & p=$!; i=0; asNobody() { grep -q "^Uid:[[:space:]]*65534" /proc/$p/status 2>/dev/null; };' +
  ' until asNobody || [ $i -ge 200 ]; do usleep 10000; i=$((i+1)); done;' +
  ' if asNobody; then (: < /proc/$p/mem) 2>/dev/null && echo "ptrace: yes" || echo "ptrace: no"; else echo "ptrace: n/a"; fi; kill $p 2>/dev/null';

const PROBE_SCRIPT = [
  'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
  // Each attack in a subshell: a failed redirection would end a non-interactive sh.
  'hostname lab-renamed 2>/dev/null && echo "hostname: yes" || echo "hostname: no"',
  'mount -t tmpfs lab-probe /mnt 2>/dev/null && echo "mount: yes" || echo "mount: no"',
  '(: >> /proc/sys/kernel/core_pattern) 2>/dev/null && echo "core_pattern: yes" || echo "core_pattern: no"',
  'unshare -u true 2>/dev/null && echo "unshare: yes" || echo "unshare: no"',
  'echo "timer_list: $(cat /proc/timer_list 2>/dev/null | wc -c)"',
  // mknod is allowed (CAP_MKNOD, and the device cgroup's "b *:* m"); the open is what it judges.
  'if [ -n "$1" ]; then mknod /tmp/lab-disk b "$1" "$2" && (: < /tmp/lab-disk) 2>/dev/null && echo "disk: yes" || echo "disk: no"; rm -f /tmp/lab-disk; else echo "disk: n/a"; fi',
  SETUID_ATTACK,
  PTRACE_ATTACK,
  'echo @@done',
  'exec sleep infinity',
].join('; ');

/** The probe without the disk attack. */
export const PROBE_COMMAND = probeCommand(null);

/** What the probe reported: "CapEff" → "00000000a80425fb", "mount" → "no" ... Waits for it (at most 30 s). */
export async function readProbe(container: Container): Promise<Record<string, string>> {
  let output = '';
  container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  for (let waited = 0; !output.includes('@@done') && waited < 30_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!output.includes('@@done')) throw new Error(`the container's probe did not finish; it printed: ${output.trim() || '(nothing)'}`);
  return Object.fromEntries(output.split('@@done')[0]!.trim().split('\n').map((line) => line.split(/:\s*/, 2) as [string, string]));
}
