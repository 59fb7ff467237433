/**
 * scripts/as-root.sh, what `npm run lesson` and `npm test` go through: as is for root, through
 * sudo for everyone else, with the caller's PATH and the lab's variables handed over (sudo drops them).
 *
 * No real sudo is asked for anything: a stand-in `sudo` on PATH prints what it was given. As root the
 * script runs as `nobody` (spawn's uid), so both sides are tested wherever the suite runs.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/course/paths.js';
import { isRoot } from '../helpers/root.js';

const script = path.join(repoRoot, 'scripts', 'as-root.sh');
const NOBODY = 65534;
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/**
 * A folder for PATH with `id`, `env` and `printenv`, and, if asked, a `sudo` that prints its arguments,
 * one a line; it also holds a copy of the script (a clone in root's home is out of nobody's reach).
 */
function binFolder(withSudo: boolean): string {
  const folder = mkdtempSync(path.join(tmpdir(), 'lab-as-root-'));
  folders.push(folder);
  chmodSync(folder, 0o755); // nobody must get in
  copyFileSync(script, path.join(folder, 'as-root.sh'));
  for (const tool of ['id', 'env', 'printenv']) symlinkSync(`/usr/bin/${tool}`, path.join(folder, tool));
  if (withSudo) {
    writeFileSync(path.join(folder, 'sudo'), '#!/bin/bash\nprintf "%s\\n" sudo "$@"\n');
    chmodSync(path.join(folder, 'sudo'), 0o755);
  }
  return folder;
}

function asRoot(args: string[], env: Record<string, string>, options: { asUser: boolean }) {
  return spawnSync('/bin/bash', [path.join(env.PATH!, 'as-root.sh'), ...args], {
    encoding: 'utf8',
    env,
    cwd: '/',
    ...(options.asUser && isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
}

describe('scripts/as-root.sh', () => {
  const labEnv = { LAB_STATE_DIR: '/tmp/lab state', MINIDOCKER_NETNS: 'lab-test-1', NO_COLOR: '1', DEBUG: 'lab:*', npm_lifecycle_event: 'lesson' };

  it.skipIf(!isRoot)('as root it runs the command as it is, in the same environment', () => {
    const result = asRoot(['printenv', 'LAB_STATE_DIR', 'OTHER'], { PATH: binFolder(false), ...labEnv, OTHER: 'kept' }, { asUser: false });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('/tmp/lab state\nkept\n');
    expect(result.status).toBe(0);
  });

  it('as anyone else it goes through sudo, handing over PATH and the lab’s variables, nothing else', () => {
    const bin = binFolder(true);
    const result = asRoot(['npx', 'vitest', 'run', 'a b'], { PATH: bin, ...labEnv, CI: 'true', HOME: '/nonexistent', SECRET_TOKEN: 'x' }, { asUser: true });
    expect(result.stderr).toBe('');
    const [sudo, separator, env, ...rest] = result.stdout.trimEnd().split('\n');
    expect([sudo, separator, env]).toEqual(['sudo', '--', 'env']);
    const assignments = rest.slice(0, -4).sort();
    expect(assignments).toEqual(
      [`PATH=${bin}`, 'LAB_STATE_DIR=/tmp/lab state', 'MINIDOCKER_NETNS=lab-test-1', 'NO_COLOR=1', 'DEBUG=lab:*', 'CI=true', 'npm_lifecycle_event=lesson'].sort(),
    );
    expect(rest.slice(-4)).toEqual(['npx', 'vitest', 'run', 'a b']);
  });

  it('as anyone else on a machine without sudo it says so in one line and fails', () => {
    const result = asRoot(['npx', 'vitest', 'run'], { PATH: binFolder(false), ...labEnv }, { asUser: true });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('`npm run lesson` needs root (namespaces, mounts, cgroups) and there is no sudo here: run it again as root\n');
  });
});
