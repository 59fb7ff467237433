/**
 * Shared, read-once facts for one doctor run. Four checks look at the cgroup layout; it is read once.
 */
import { CGROUP_ROOT, detectCgroupLayout, parseControllerList, parseProcCgroups, type CgroupFacts } from '../../sys/cgroupfs.js';
import { parseMountinfo } from '../../sys/mountinfo.js';
import type { MachineView } from './machine.js';

export interface Located {
  path: string;
  /** false when we found it only in an sbin directory missing from $PATH (Debian's user PATH has no /usr/sbin). */
  onPath: boolean;
}

/**
 * Where admin tools live on Debian/Ubuntu. `sudo env "PATH=$PATH"` hands root the *user's* PATH,
 * which on Debian lacks the sbin directories, so we look there too instead of reporting "not installed".
 */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export class Probe {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(readonly machine: MachineView) {}

  private once<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let value = this.cache.get(key) as Promise<T> | undefined;
    if (!value) {
      value = compute();
      this.cache.set(key, value);
    }
    return value;
  }

  /** Every executable called `program`, $PATH first, then the usual system directories. */
  locateAll(program: string): Promise<Located[]> {
    return this.once(`locate:${program}`, async () => {
      const pathDirs = this.machine.pathDirs();
      const dirs = [...new Set([...pathDirs, ...SYSTEM_DIRS])];
      const found: Located[] = [];
      for (const dir of dirs) {
        const path = `${dir.replace(/\/$/, '')}/${program}`;
        if (await this.machine.isExecutable(path)) found.push({ path, onPath: pathDirs.includes(dir) });
      }
      return found;
    });
  }

  async locate(program: string): Promise<Located | null> {
    return (await this.locateAll(program))[0] ?? null;
  }

  cmdline(): Promise<string> {
    return this.once('cmdline', async () => (await this.machine.readText('/proc/cmdline')) ?? '');
  }

  cgroupFacts(): Promise<CgroupFacts> {
    return this.once('cgroup', async () => {
      const machine = this.machine;
      const layout = detectCgroupLayout(
        parseMountinfo((await machine.readText('/proc/self/mountinfo')) ?? ''),
        await machine.fsType(CGROUP_ROOT),
      );
      const procCgroups = await machine.readText('/proc/cgroups');
      const v2 = layout.v2Mount;
      return {
        layout,
        v2Controllers: v2 ? parseControllerList(await machine.readText(`${v2}/cgroup.controllers`)) : null,
        v2SubtreeControl: v2 ? parseControllerList(await machine.readText(`${v2}/cgroup.subtree_control`)) : null,
        kernel: procCgroups === null ? null : parseProcCgroups(procCgroups),
        cmdline: await this.cmdline(),
      };
    });
  }
}
