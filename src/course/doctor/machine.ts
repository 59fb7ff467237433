/**
 * The doctor's only window onto the machine.
 *
 * Every check reads the machine through this small interface instead of calling `fs` or
 * `child_process` directly. The real view below reads /proc and /sys and runs programs; the tests
 * hand the same checks a fake view built from fixture text (see fake-machine.ts). That is why the
 * whole doctor can be tested without root, without cgroup v2 and without iptables installed.
 *
 * Rule for every method: a missing file, directory or program is an ordinary answer (null, false,
 * `found: false`), never an exception. The doctor runs on half-configured machines by design.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, open, readdir, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';

/** What running a program produced. */
export interface RunResult {
  /** false when the program does not exist (ENOENT): "not installed", not an error. */
  found: boolean;
  /** The exit status, or null when it was killed (e.g. by our timeout) or could not start. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface MachineView {
  /** Effective user id (0 = root), or null on a platform without one. */
  euid(): number | null;
  /** Version of the Node.js running us, without the "v": "20.19.0". */
  nodeVersion(): string;
  /** `uname -r`: "6.1.0-18-amd64". */
  kernelRelease(): string;
  /** The directories of $PATH, in order. */
  pathDirs(): string[];
  /** A whole text file, or null if it is missing or unreadable. */
  readText(path: string): Promise<string | null>;
  /** The first `length` bytes of a file (fewer if it is shorter), or null if unreadable. */
  readBytes(path: string, length: number): Promise<Uint8Array | null>;
  exists(path: string): Promise<boolean>;
  /** A regular file we may execute (access(2) with X_OK). */
  isExecutable(path: string): Promise<boolean>;
  /** Entry names of a directory, or null if it is missing. */
  listDir(path: string): Promise<string[] | null>;
  /** The file system type of the mount holding `path`, named like `stat -f -c %T` does: "cgroup2fs", "tmpfs". */
  fsType(path: string): Promise<string | null>;
  /** Runs a program (no shell) with a timeout. */
  run(file: string, args: string[]): Promise<RunResult>;
}

/** statfs(2) f_type magic numbers, from <linux/magic.h>. */
const FS_MAGIC: ReadonlyMap<number, string> = new Map([
  [0x63677270, 'cgroup2fs'], // CGROUP2_SUPER_MAGIC
  [0x0027e0eb, 'cgroupfs'], // CGROUP_SUPER_MAGIC (a v1 hierarchy)
  [0x01021994, 'tmpfs'], // TMPFS_MAGIC
  [0x62656572, 'sysfs'], // SYSFS_MAGIC
  [0x9fa0, 'proc'], // PROC_SUPER_MAGIC
  [0x794c7630, 'overlayfs'], // OVERLAYFS_SUPER_MAGIC
  [0xef53, 'ext2/ext3'], // EXT4_SUPER_MAGIC (same value for ext2/3/4; `stat -f` prints this)
]);

/** No program the doctor runs should take more than a moment; a hung one must not hang the doctor. */
const RUN_TIMEOUT_MS = 5_000;

export function realMachine(): MachineView {
  return {
    euid: () => (typeof process.geteuid === 'function' ? process.geteuid() : null),
    nodeVersion: () => process.versions.node,
    kernelRelease: () => os.release(),
    pathDirs: () => (process.env.PATH ?? '').split(':').filter((dir) => dir !== ''),

    async readText(path) {
      try {
        return await readFile(path, 'utf8');
      } catch {
        return null;
      }
    },

    async readBytes(path, length) {
      try {
        const file = await open(path, 'r');
        try {
          const buffer = new Uint8Array(length);
          const { bytesRead } = await file.read(buffer, 0, length, 0);
          return buffer.subarray(0, bytesRead);
        } finally {
          await file.close();
        }
      } catch {
        return null;
      }
    },

    async exists(path) {
      try {
        await access(path, fsConstants.F_OK);
        return true;
      } catch {
        return false;
      }
    },

    async isExecutable(path) {
      try {
        await access(path, fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    },

    async listDir(path) {
      try {
        return await readdir(path);
      } catch {
        return null;
      }
    },

    async fsType(path) {
      try {
        const { type } = await statfs(path);
        return FS_MAGIC.get(type) ?? `0x${type.toString(16)}`;
      } catch {
        return null;
      }
    },

    run(file, args) {
      return new Promise((resolve) => {
        execFile(
          file,
          args,
          // LC_ALL=C: we parse the output, so we want it in English whatever the student's locale.
          { timeout: RUN_TIMEOUT_MS, maxBuffer: 1024 * 1024, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
          (error, stdout, stderr) => {
            if (error === null) {
              resolve({ found: true, exitCode: 0, stdout, stderr });
              return;
            }
            // execFile's error.code is an errno string when the program could not start,
            // and the exit status (a number) when it ran and failed.
            const code = (error as NodeJS.ErrnoException & { code?: string | number }).code;
            if (code === 'ENOENT') {
              resolve({ found: false, exitCode: null, stdout: '', stderr: '' });
              return;
            }
            resolve({
              found: true,
              exitCode: typeof code === 'number' ? code : null,
              stdout,
              stderr: stderr || error.message,
            });
          },
        );
      });
    },
  };
}
