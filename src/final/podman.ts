/**
 * What running podman beside minidocker needs on any machine, for the bench and for the test that has
 * podman drive the OCI runtime.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';

/**
 * `--ulimit` flags for what this machine allows. podman asks for 1048576 open files and processes by
 * default; where the hard limits are lower and root cannot raise them (root in a user namespace), that
 * is refused, as it would be with runc. And podman starts conmon, so the runtime, with at most 32768
 * processes.
 */
export function podmanUlimitFlags(): string[] {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string, most: number) => Math.min(most, Number(limits.match(new RegExp(`^${name}\\s+\\S+\\s+(\\d+)`, 'm'))?.[1] ?? most));
  const files = hard('Max open files', 1_048_576);
  const processes = hard('Max processes', 32_768);
  return ['--ulimit', `nofile=${files}:${files}`, '--ulimit', `nproc=${processes}:${processes}`];
}

/**
 * Removes a `--cgroup-parent` podman made (with cgroupfs) from every mounted hierarchy: the folders in it
 * first (conmon's cgroup), then the parent. Best effort: a folder still in use stays.
 */
export function removeCgroupParent(parent: string): void {
  const hierarchies = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((line) => line.split(' '))
    .filter(([, , type]) => type === 'cgroup' || type === 'cgroup2').map(([, target]) => target!);
  for (const hierarchy of hierarchies) {
    const dir = path.join(hierarchy, parent);
    if (!existsSync(dir)) continue;
    const children = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => path.join(dir, entry.name));
    for (const folder of [...children, dir]) {
      try {
        rmdirSync(folder);
      } catch {
        // still has processes: not ours to kill here
      }
    }
  }
}
