/**
 * Running the final runtime's CLIs the way a user types them: a new process each time, with the
 * test's own LAB_STATE_DIR.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../src/container/bundle.js';

export const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');

export function cli(entry: string, stateDir: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(TSX, [path.join(REPO_ROOT, entry), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    ...options,
    env: { ...process.env, LAB_STATE_DIR: stateDir },
  });
  return { code: result.status, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/** Mount points of the host's namespace under `dir`: there must be none when a container is gone. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}

export function alive(pid: number): boolean {
  if (!pid || !existsSync(`/proc/${pid}/stat`)) return false;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}
