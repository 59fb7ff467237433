/**
 * A machine made of fixture data, for tests: files are a map from path to content, programs are a
 * map from absolute path to what they print. Anything not in the maps does not exist.
 *
 *   const machine = fakeMachine({
 *     files: { '/proc/filesystems': 'nodev\toverlay\n' },
 *     programs: { '/usr/sbin/iptables': { stdout: 'iptables v1.8.9 (nf_tables)\n' } },
 *   });
 */
import type { MachineView, RunResult } from './machine.js';

export interface FakeProgram {
  /** What the program prints, or a function of its arguments. */
  stdout?: string | ((args: string[]) => string);
  stderr?: string;
  exitCode?: number;
  /** The program file's bytes, for checks that read the binary itself (the ELF check). */
  bytes?: Uint8Array;
}

export interface FakeMachineSpec {
  euid?: number | null;
  node?: string;
  kernel?: string;
  /** $PATH directories. Default: a Debian root PATH. */
  path?: string[];
  /** Readable files: text, or raw bytes. */
  files?: Record<string, string | Uint8Array>;
  /** Directories that exist even with nothing in `files` below them. */
  dirs?: string[];
  /** Executable programs by absolute path. */
  programs?: Record<string, FakeProgram>;
  /** `stat -f -c %T` answers, by path. */
  fsTypes?: Record<string, string>;
}

const DEBIAN_ROOT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function fakeMachine(spec: FakeMachineSpec = {}): MachineView {
  const files = new Map<string, string | Uint8Array>(Object.entries(spec.files ?? {}));
  const programs = new Map<string, FakeProgram>(Object.entries(spec.programs ?? {}));
  const allPaths = [...files.keys(), ...programs.keys(), ...(spec.dirs ?? [])];

  const isDir = (path: string): boolean => {
    const prefix = path.endsWith('/') ? path : `${path}/`;
    return (spec.dirs ?? []).includes(path) || allPaths.some((p) => p.startsWith(prefix));
  };

  return {
    euid: () => (spec.euid === undefined ? 0 : spec.euid),
    nodeVersion: () => spec.node ?? '20.19.0',
    kernelRelease: () => spec.kernel ?? '6.1.0-18-amd64',
    pathDirs: () => spec.path ?? DEBIAN_ROOT_PATH,

    async readText(path) {
      const content = files.get(path);
      if (content === undefined) return null;
      return typeof content === 'string' ? content : new TextDecoder().decode(content);
    },

    async readBytes(path, length) {
      const content = files.get(path) ?? programs.get(path)?.bytes;
      if (content === undefined) return null;
      const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
      return bytes.subarray(0, length);
    },

    exists: async (path) => files.has(path) || programs.has(path) || isDir(path),
    isExecutable: async (path) => programs.has(path),

    async listDir(path) {
      if (!isDir(path)) return null;
      const prefix = path.endsWith('/') ? path : `${path}/`;
      const names = new Set<string>();
      for (const p of allPaths) {
        if (p.startsWith(prefix)) {
          const name = p.slice(prefix.length).split('/')[0];
          if (name) names.add(name);
        }
      }
      return [...names].sort();
    },

    fsType: async (path) => spec.fsTypes?.[path] ?? null,

    async run(file, args): Promise<RunResult> {
      const program = programs.get(file);
      if (!program) return { found: false, exitCode: null, stdout: '', stderr: '' };
      const stdout = typeof program.stdout === 'function' ? program.stdout(args) : (program.stdout ?? '');
      return { found: true, exitCode: program.exitCode ?? 0, stdout, stderr: program.stderr ?? '' };
    },
  };
}
