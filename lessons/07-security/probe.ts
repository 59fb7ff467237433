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
 *
 * The clock is judged by the capability bit (CAP_SYS_TIME) and the filter's rules only: setting it,
 * even to "now", steps the host's clock.
 */
import type { Container } from '../../src/container/runtime.js';
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
}

/** Those fields as a config.json fragment: what `docker run` would write for them. */
export function configFragment(fields: SecurityFields): Pick<OciConfig, 'process' | 'linux'> {
  const caps = fields.capabilities;
  return {
    process: {
      args: ['sh'],
      cwd: '/',
      ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps } } : {}),
      ...(fields.noNewPrivileges ? { noNewPrivileges: true } : {}),
    },
    linux: {
      namespaces: [{ type: 'mount' }],
      ...(fields.maskedPaths ? { maskedPaths: fields.maskedPaths } : {}),
      ...(fields.readonlyPaths ? { readonlyPaths: fields.readonlyPaths } : {}),
      ...(fields.seccomp ? { seccomp: fields.seccomp } : {}),
    },
  };
}

/** The steps lesson 07's feature plans for these fields, in runc's order: what init runs after the root file system. */
export function securitySteps(fields: SecurityFields): StepCall[] {
  const config = { ociVersion: '1.0.2', root: { path: '/' }, ...configFragment(fields) } as OciConfig;
  const context = { id: 'lesson-07', bundle: '', stateDir: '', runtimeDir: '', warn: () => {} };
  return securityFeature.plan?.(config, context, securityFeature.step) ?? [];
}

/** The container's command: the probe, its report on stdout ending with @@done, then it waits. */
export const PROBE_COMMAND = ['sh', '-c', [
  'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
  // Each attack in a subshell: a failed redirection would end a non-interactive sh.
  'hostname lab-renamed 2>/dev/null && echo "hostname: yes" || echo "hostname: no"',
  'mount -t tmpfs lab-probe /mnt 2>/dev/null && echo "mount: yes" || echo "mount: no"',
  '(: >> /proc/sys/kernel/core_pattern) 2>/dev/null && echo "core_pattern: yes" || echo "core_pattern: no"',
  'unshare -u true 2>/dev/null && echo "unshare: yes" || echo "unshare: no"',
  'echo "timer_list: $(cat /proc/timer_list 2>/dev/null | wc -c)"',
  'echo @@done',
  'exec sleep infinity',
].join('; ')];

/** What the probe reported: "CapEff" → "00000000a80425fb", "mount" → "no" ... Waits for it (at most 30 s). */
export async function readProbe(container: Container): Promise<Record<string, string>> {
  let output = '';
  container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  for (let waited = 0; !output.includes('@@done') && waited < 30_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!output.includes('@@done')) throw new Error(`the container's probe did not finish; it printed: ${output.trim() || '(nothing)'}`);
  return Object.fromEntries(output.split('@@done')[0]!.trim().split('\n').map((line) => line.split(/:\s*/, 2) as [string, string]));
}
